#include "agent/actions/authorized_keys.h"

#include <algorithm>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "agent/actions/ssh_key_blob.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"

namespace warden {
namespace {

constexpr std::string_view kFingerprintPrefix = "SHA256:";
// sshd's SERVCONF_MAX_DEPTH: the main file is depth 0, a file it includes depth 1, ...
constexpr int kMaxIncludeDepth = 16;
// Include can make one sshd_config read the same text many times; bound the whole walk.
constexpr std::size_t kMaxConfigBytesTotal = 16 * kMaxKeyFileBytes;
constexpr int kMaxIncludedFiles = 1024;
constexpr std::size_t kMaxPathBytes = 4096;  // PATH_MAX

bool isBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view trimLeading(std::string_view s, std::string_view chars) {
  while (!s.empty() && chars.find(s.front()) != std::string_view::npos) s.remove_prefix(1);
  return s;
}

// misc.c skip_space(): spaces and tabs only.
std::string_view skipBlanks(std::string_view s) { return trimLeading(s, " \t"); }

std::string_view trimTrailing(std::string_view s, std::string_view chars) {
  while (!s.empty() && chars.find(s.back()) != std::string_view::npos) s.remove_suffix(1);
  return s;
}

// The text up to the first space or tab, and what follows it.
std::pair<std::string_view, std::string_view> firstWord(std::string_view s) {
  const std::size_t end = std::min(s.find_first_of(" \t"), s.size());
  return {s.substr(0, end), s.substr(end)};
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

// Attacker-written text in a message: C-escaped and cut short, so no control byte or long
// payload reaches a log.
std::string excerpt(std::string_view s) {
  constexpr std::size_t kMax = 32;
  std::string out = "'" + absl::CHexEscape(std::string(s.substr(0, kMax))) + "'";
  if (s.size() > kMax) out += "...";
  return out;
}

// "WHERE line N: what"; `where` is already printable.
std::string lineMessage(std::string_view where, std::size_t line, std::string_view what) {
  return absl::StrFormat("%s line %d: %s", where, line, what);
}

absl::Status lineError(std::string_view where, std::size_t line, std::string_view what) {
  return absl::InvalidArgumentError(lineMessage(where, line, what));
}

std::string printablePath(std::string_view path) { return absl::CHexEscape(std::string(path)); }

// ---- authorized_keys lines ----------------------------------------------------------------

// Where the options end: sshkey_advance_past_options() in OpenSSH's authfile.c — the first
// space or tab outside double quotes, where \" is an escaped quote. npos: a quote is left open.
std::size_t optionsEnd(std::string_view s) {
  bool quoted = false;
  std::size_t i = 0;
  for (; i < s.size() && (quoted || !isBlank(s[i])); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '"') {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    }
  }
  return quoted ? std::string_view::npos : i;
}

// sshkey_read(): "TYPE BASE64[ comment]" — a known type name, spaces or tabs, base64 up to the
// next space or tab, and a blob sshkey_from_blob() takes of the type the line names.
absl::Status readKey(std::string_view s, AuthorizedKey& key) {
  const auto [type, after_type] = firstWord(s);
  if (!knownKeyType(type)) return absl::InvalidArgumentError("unknown key type " + excerpt(type));
  const auto [encoded, after_key] = firstWord(skipBlanks(after_type));
  if (encoded.empty()) return absl::InvalidArgumentError("no key data after the key type");
  // b64_pton() skips whitespace anywhere: of isspace()'s characters only "\n\v\f\r" can be
  // inside the word (the line's own '\n' is already gone). Otherwise strict, as there: padding
  // where the length needs it, zero trailing bits.
  std::string compact;
  compact.reserve(encoded.size());
  for (char c : encoded) {
    if (c != '\n' && c != '\v' && c != '\f' && c != '\r') compact += c;
  }
  auto blob = crypto::unbase64(compact);
  if (!blob.ok() || blob->empty()) {
    return absl::InvalidArgumentError("key data is not valid base64");
  }
  auto parsed = parseSshKeyBlob(type, *blob);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrFormat("not a valid %s key: %s", std::string(type),
                                                      std::string(parsed.status().message())));
  }
  key.type = std::string(type);
  key.blob = std::move(*blob);
  key.comment = std::string(trimTrailing(skipBlanks(after_key), " \t"));
  // The fingerprint of the plain key as sshd re-serialises it (sshkey_fingerprint_raw()).
  key.fingerprint = sha256Fingerprint(parsed->plain_blob);
  return absl::OkStatus();
}

// One non-blank, non-comment line, as auth_check_authkey_line() reads it: a key at the start
// of the line, or else the first word is options and a key follows them.
absl::StatusOr<AuthorizedKey> parseKeyLine(std::string_view text) {
  AuthorizedKey key;
  auto plain = readKey(text, key);
  if (plain.ok()) return key;
  // A line starting with a key type whose key sshd does not take is not one with options
  // either: sshd would then read the type name as an option, which sshauthopt_parse() refuses.
  if (knownKeyType(firstWord(text).first)) return plain;
  const std::size_t end = optionsEnd(text);
  if (end == std::string_view::npos) {
    return absl::InvalidArgumentError("unterminated quote in the options");
  }
  const std::string_view rest = skipBlanks(text.substr(end));
  if (rest.empty()) return absl::InvalidArgumentError("no key type after the options");
  if (auto status = readKey(rest, key); !status.ok()) return status;
  key.options = std::string(text.substr(0, end));
  return key;
}

}  // namespace

std::string AuthorizedKey::publicKey() const { return type + " " + crypto::base64(blob); }

bool knownKeyType(std::string_view type) { return knownSshKeyType(type); }

std::string sha256Fingerprint(std::string_view blob) {
  std::string encoded = crypto::base64(crypto::sha256(blob));
  return std::string(kFingerprintPrefix) + std::string(trimTrailing(encoded, "="));
}

// ---- authorized_keys ----------------------------------------------------------------------

absl::StatusOr<AuthorizedKeysFile> AuthorizedKeysFile::parse(std::string_view content,
                                                             std::string_view path) {
  const std::string where = printablePath(path);
  if (content.size() > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is larger than %d bytes", where, kMaxKeyFileBytes));
  }
  if (const std::size_t nul = content.find('\0'); nul != std::string_view::npos) {
    const auto line = std::count(content.begin(), content.begin() + nul, '\n') + 1;
    return lineError(where, line, "NUL byte");
  }
  AuthorizedKeysFile file;
  file.content_ = std::string(content);
  std::size_t begin = 0;
  for (int number = 1; begin < content.size(); ++number) {
    const std::size_t end = std::min(content.find('\n', begin), content.size() - 1) + 1;
    std::string_view text = content.substr(begin, end - begin);
    if (text.back() == '\n') text.remove_suffix(1);
    file.lines_.emplace_back(begin, end);
    begin = end;
    // sshd reads CRLF files: a CR ending the line is whitespace to it.
    const std::string_view start = skipBlanks(trimTrailing(text, "\r"));
    if (start.empty() || start.front() == '#') continue;
    auto bad = [&](std::string_view why) {
      file.bad_lines_.push_back({number, lineMessage(where, number, why)});
    };
    if (text.size() > kMaxKeyLineBytes) {
      bad(absl::StrFormat("longer than %d bytes", kMaxKeyLineBytes));
      continue;
    }
    auto key = parseKeyLine(start);
    if (!key.ok()) {
      bad(std::string(key.status().message()));
      continue;
    }
    key->line = number;
    file.keys_.push_back(std::move(*key));
  }
  return file;
}

std::string AuthorizedKeysFile::lineText(int line) const {
  if (line < 1 || static_cast<std::size_t>(line) > lines_.size()) return "";
  const auto [begin, end] = lines_[static_cast<std::size_t>(line) - 1];
  std::string text = content_.substr(begin, end - begin);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string AuthorizedKeysFile::without(const std::set<int>& lines) const {
  std::string out;
  out.reserve(content_.size());
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    if (lines.count(static_cast<int>(i + 1)) != 0) continue;
    out.append(content_, lines_[i].first, lines_[i].second - lines_[i].first);
  }
  return out;
}

// ---- KRL ----------------------------------------------------------------------------------

std::string encodeKrl(const std::vector<std::string>& fingerprints, std::uint64_t krl_version,
                      std::uint64_t generated_unix_seconds, std::string_view comment) {
  // krl.c keeps hashes in a tree ordered by memcmp() and writes them in that order, once each
  // (PROTOCOL.krl: "in numeric order, treating each hash as a big-endian integer");
  // std::string compares its chars as unsigned char, as memcmp() does.
  std::set<std::string> hashes;
  for (const std::string& fingerprint : fingerprints) {
    if (!validSshFingerprint(fingerprint)) continue;
    // 43 characters of unpadded base64: 32 bytes once the '=' is back.
    auto hash = crypto::unbase64(fingerprint.substr(kFingerprintPrefix.size()) + "=");
    if (hash.ok() && hash->size() == 32) hashes.insert(std::move(*hash));
  }
  constexpr std::string_view kMagic("SSHKRL\n\0", 8);  // KRL_MAGIC
  constexpr std::uint32_t kFormatVersion = 1;          // KRL_FORMAT_VERSION
  constexpr char kSectionSha256 = 5;                   // KRL_SECTION_FINGERPRINT_SHA256
  std::string out(kMagic);
  appendSshUint(out, kFormatVersion, 4);
  appendSshUint(out, krl_version, 8);
  appendSshUint(out, generated_unix_seconds, 8);
  appendSshUint(out, 0, 8);  // flags: none defined
  appendSshString(out, "");  // reserved
  // ssh_krl_from_blob() reads the comment with sshbuf_get_cstring(): a NUL inside would make
  // the whole KRL unreadable (and sshd then refuses every key).
  std::string text(comment);
  std::replace(text.begin(), text.end(), '\0', ' ');
  appendSshString(out, text);
  // "This section must contain at least one public_key_hash": none, no section.
  if (!hashes.empty()) {
    std::string section;
    for (const std::string& hash : hashes) appendSshString(section, hash);
    out += kSectionSha256;
    appendSshString(out, section);
  }
  return out;
}

// ---- sshd_config --------------------------------------------------------------------------

namespace {

constexpr std::string_view kWhitespace = " \t\r\n";  // misc.h WHITESPACE

// misc.c strdelim(): takes the first word off `s`. It ends at whitespace or '=' (then the
// whitespace after it, and one '=' with whitespace around it, go too); a '"' is removed and
// the word then runs to the next '"'. nullopt for an unterminated quote. `s` becomes nullopt
// when nothing delimits the word (the C code's NULL).
std::optional<std::string> strdelim(std::optional<std::string_view>& s) {
  if (!s) return std::nullopt;
  const std::string_view in = *s;
  const std::size_t pos = in.find_first_of(" \t\r\n\"=");
  if (pos == std::string_view::npos) {
    s.reset();
    return std::string(in);
  }
  auto skipWhitespace = [&](std::size_t i) {
    return std::min(in.find_first_not_of(kWhitespace, i), in.size());
  };
  if (in[pos] == '"') {
    const std::size_t close = in.find('"', pos + 1);
    if (close == std::string_view::npos) {
      s.reset();
      return std::nullopt;
    }
    std::string word(in.substr(0, pos));
    word += in.substr(pos + 1, close - pos - 1);
    s = in.substr(skipWhitespace(close + 1));
    return word;
  }
  std::size_t next = skipWhitespace(pos + 1);
  if (in[pos] != '=' && next < in.size() && in[next] == '=') next = skipWhitespace(next + 1);
  s = in.substr(next);
  return std::string(in.substr(0, pos));
}

// misc.c argv_split(): words separated by spaces or tabs; '...' and "..." quote; a backslash
// escapes a quote, a backslash or (outside quotes) a space; a word starting with '#' ends the
// line. nullopt: a quote is left open.
std::optional<std::vector<std::string>> splitArguments(std::string_view s) {
  std::vector<std::string> words;
  for (s = skipBlanks(s); !s.empty() && s.front() != '#'; s = skipBlanks(s)) {
    std::string word;
    char quote = 0;
    std::size_t i = 0;
    for (; i < s.size() && (quote || !isBlank(s[i])); ++i) {
      const char next = i + 1 < s.size() ? s[i + 1] : '\0';
      if (s[i] == '\\' &&
          (next == '\'' || next == '"' || next == '\\' || (!quote && next == ' '))) {
        word += s[++i];
      } else if (!quote && (s[i] == '"' || s[i] == '\'')) {
        quote = s[i];
      } else if (quote && s[i] == quote) {
        quote = 0;
      } else {
        word += s[i];
      }
    }
    if (quote) return std::nullopt;
    words.push_back(std::move(word));
    s.remove_prefix(i);
  }
  return words;
}

// The %-tokens sshd expands in AuthorizedKeysFile (auth.c expand_authorized_keys()).
bool knownTokens(std::string_view pattern) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (++i == pattern.size()) return false;
    if (std::string_view("%hUu").find(pattern[i]) == std::string_view::npos) return false;
  }
  return true;
}

bool isNone(std::string_view v) { return equalsIgnoreCase(v, "none"); }

// Reads sshd_config and what it includes, in order. `in_match` is sshd's "activep" turned
// around: whether the line is inside a Match block. An included file starts with its
// includer's state and a Match in it ends with it (servconf.c restores activep after each
// included file).
struct SshdConfigReader {
  explicit SshdConfigReader(const SshdIncludeReader& reader) : include_reader(reader) {}
  absl::Status read(std::string_view text, const std::string& name, int depth, bool in_match);
  absl::Status keyword(std::string_view keyword, std::string_view args, const std::string& name,
                       std::size_t number, int depth, bool& in_match);
  absl::Status include(const std::vector<std::string>& patterns, const std::string& name,
                       std::size_t number, int depth, bool in_match);

  const SshdIncludeReader& include_reader;
  SshdKeySettings settings;
  bool keys_files_set = false;
  bool revoked_keys_set = false;
  bool command_set = false;
  std::size_t bytes_read = 0;
  int files_read = 0;
};

absl::Status SshdConfigReader::read(std::string_view text, const std::string& name, int depth,
                                    bool in_match) {
  if (text.size() > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is larger than %d bytes", name, kMaxKeyFileBytes));
  }
  if (text.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrFormat("%s contains a NUL byte", name));
  }
  bytes_read += text.size();
  if (bytes_read > kMaxConfigBytesTotal || ++files_read > kMaxIncludedFiles) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: Include reads more than %d files or %d bytes", name, kMaxIncludedFiles,
                        kMaxConfigBytesTotal));
  }
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    // load_server_config() drops leading " \t\r"; process_server_config_line_depth() drops
    // trailing whitespace and '\f' (but never the line's first byte).
    line = trimLeading(line, " \t\r");
    while (line.size() > 1 && std::string_view(" \t\r\n\f").find(line.back()) != line.npos) {
      line.remove_suffix(1);
    }
    std::optional<std::string_view> rest = line;
    std::optional<std::string> word = strdelim(rest);
    if (word && word->empty()) word = strdelim(rest);  // the line began with a delimiter
    if (!word || word->empty() || word->front() == '#') continue;
    const std::string_view args = rest.value_or("");
    if (auto status = keyword(*word, args, name, number, depth, in_match); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status SshdConfigReader::keyword(std::string_view word, std::string_view args,
                                       const std::string& name, std::size_t number, int depth,
                                       bool& in_match) {
  if (equalsIgnoreCase(word, "Match")) {
    // A Match block's settings hold for the connections it matches, until the next Match or
    // the end of the file it began in.
    settings.match_blocks = true;
    in_match = true;
    return absl::OkStatus();
  }
  const bool is_include = equalsIgnoreCase(word, "Include");
  const bool keys_files = equalsIgnoreCase(word, "AuthorizedKeysFile");
  const bool revoked = equalsIgnoreCase(word, "RevokedKeys");
  const bool command = equalsIgnoreCase(word, "AuthorizedKeysCommand");
  if (!is_include && !keys_files && !revoked && !command) return absl::OkStatus();
  const std::string keyword_name(word);
  auto values = splitArguments(args);
  if (!values) return lineError(name, number, keyword_name + ": unterminated quote");
  if (values->empty()) return lineError(name, number, keyword_name + ": no argument");
  for (const std::string& v : *values) {
    if (v.empty()) return lineError(name, number, keyword_name + ": empty argument");
  }
  if ((keys_files || revoked) && values->size() > 1 &&
      std::any_of(values->begin(), values->end(), isNone)) {
    return lineError(name, number, keyword_name + ": \"none\" must appear alone");
  }
  if (command) {
    // The whole rest of the line is the command (servconf.c parse_command).
    const bool set = !isNone(args);
    if (in_match) {
      settings.match_authorized_keys_command |= set;
    } else if (!command_set) {
      settings.authorized_keys_command = set;
      command_set = true;
    }
  } else if (revoked) {
    // OpenSSH 10.3 and later take several files (before, one); the first is the one reported.
    if (in_match) {
      settings.match_revoked_keys.push_back(isNone(values->front()) ? "" : values->front());
    } else if (!revoked_keys_set) {
      settings.revoked_keys = isNone(values->front()) ? "" : values->front();
      revoked_keys_set = true;
    }
  } else if (keys_files) {
    for (const std::string& v : *values) {
      if (!knownTokens(v)) {
        return lineError(name, number, "AuthorizedKeysFile: unknown %-token in " + excerpt(v));
      }
    }
    const bool none = isNone(values->front());
    if (in_match) {
      auto& patterns = settings.match_authorized_keys_files;
      for (const std::string& v : *values) {
        if (!none && std::find(patterns.begin(), patterns.end(), v) == patterns.end()) {
          patterns.push_back(v);
        }
      }
    } else if (!keys_files_set) {
      settings.authorized_keys_files = none ? std::vector<std::string>{} : *values;
      keys_files_set = true;
    }
  } else {
    return include(*values, name, number, depth, in_match);
  }
  return absl::OkStatus();
}

absl::Status SshdConfigReader::include(const std::vector<std::string>& patterns,
                                       const std::string& name, std::size_t number, int depth,
                                       bool in_match) {
  for (const std::string& pattern : patterns) {
    auto texts = include_reader(pattern);
    if (!texts.ok()) {
      return absl::Status(texts.status().code(),
                          absl::StrFormat("%s line %d: Include %s: %s", name, number,
                                          excerpt(pattern), texts.status().message()));
    }
    for (std::size_t i = 0; i < texts->size(); ++i) {
      if (depth + 1 > kMaxIncludeDepth) {
        return lineError(name, number, "Include nested too deeply");
      }
      std::string included = "Include " + excerpt(pattern);
      if (texts->size() > 1) included += absl::StrFormat(" file %d", i + 1);
      // By value: whatever Match the included file holds ends with it.
      if (auto status = read((*texts)[i], included, depth + 1, in_match); !status.ok()) {
        return status;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SshdKeySettings> parseSshdConfig(std::string_view content,
                                                const SshdIncludeReader& include) {
  SshdConfigReader reader(include);
  if (auto status = reader.read(content, "sshd_config", 0, false); !status.ok()) return status;
  return reader.settings;
}

// ---- AuthorizedKeysFile expansion ---------------------------------------------------------

absl::StatusOr<std::string> expandKeysPath(std::string_view pattern, std::string_view user,
                                           std::string_view home, std::uint32_t uid) {
  // sshd expands a leading '~' when it reads its configuration, for its own user (root), not
  // for the user logging in; refused rather than guessed.
  if (pattern.empty()) return absl::InvalidArgumentError("AuthorizedKeysFile: empty pattern");
  if (pattern.front() == '~') {
    return absl::InvalidArgumentError("AuthorizedKeysFile " + excerpt(pattern) +
                                      ": '~' is not supported");
  }
  if (!knownTokens(pattern)) {
    return absl::InvalidArgumentError("AuthorizedKeysFile " + excerpt(pattern) +
                                      ": unknown %-token");
  }
  auto refuse = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("AuthorizedKeysFile %s for %s: %s", excerpt(pattern), excerpt(user), why));
  };
  // auth.c expand_authorized_keys(): the tokens, then "HOME/" in front of a relative result.
  // The bound is on this string, the one sshd hands to open(2) (PATH_MAX).
  const std::string uid_text = std::to_string(uid);
  std::string path;
  for (std::size_t i = 0; i < pattern.size() && path.size() <= kMaxPathBytes; ++i) {
    const char c = pattern[i] == '%' ? pattern[++i] : '\0';
    path += c == 'h' ? home : c == 'u' ? user : c == 'U' ? uid_text : pattern.substr(i, 1);
  }
  if (path.empty() || path.front() != '/') path = std::string(home) + "/" + path;
  if (path.size() > kMaxPathBytes) return refuse("path longer than 4096 bytes");
  if (path.find('\0') != std::string::npos) return refuse("NUL byte in the path");
  if (path.front() != '/') return refuse("not an absolute path");
  // The path the kernel resolves: no empty or "." components; ".." is refused (it would
  // resolve through whatever the directory before it links to).
  std::string clean;
  std::string_view rest(path);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    const std::string_view component = rest.substr(0, rest.find('/'));
    rest.remove_prefix(component.size());
    if (component.empty() || component == ".") continue;
    if (component == "..") return refuse("'..' in the path");
    clean += "/";
    clean += component;
  }
  return clean.empty() ? std::string("/") : clean;
}

}  // namespace warden
