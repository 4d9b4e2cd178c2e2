#include "agent/actions/authorized_keys.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"

namespace warden {
namespace {

// The key types sshd accepts in authorized_keys (sshkey.c keytypes[]; DSA too, so that a file
// still holding one is read and can be edited), and how many SSH strings after the type (and a
// certificate's nonce) make up the public key itself (sshkey.c, "PROTOCOL.certkeys").
struct KeyKind {
  std::string_view plain;
  std::string_view cert;
  int key_fields;
};
constexpr KeyKind kKeyKinds[] = {
    {"ssh-rsa", "ssh-rsa-cert-v01@openssh.com", 2},                          // e, n
    {"ssh-dss", "ssh-dss-cert-v01@openssh.com", 4},                          // p, q, g, y
    {"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256-cert-v01@openssh.com", 2},  // curve, Q
    {"ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384-cert-v01@openssh.com", 2},
    {"ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521-cert-v01@openssh.com", 2},
    {"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com", 1},  // pk
    {"sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", 3},
    {"sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com", 2},  // + application
};

const KeyKind* kindOf(std::string_view type) {
  for (const KeyKind& kind : kKeyKinds) {
    if (type == kind.plain || type == kind.cert) return &kind;
  }
  return nullptr;
}

// Takes one SSH string (RFC 4251 §5: uint32 length, then the bytes) off the front of `in`.
std::optional<std::string_view> takeString(std::string_view& in) {
  if (in.size() < 4) return std::nullopt;
  std::size_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<unsigned char>(in[i]);
  if (n > in.size() - 4) return std::nullopt;
  const std::string_view out = in.substr(4, n);
  in.remove_prefix(4 + n);
  return out;
}

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

// Attacker-written text in an error message: C-escaped and cut short, so no control byte or
// long payload reaches a log.
std::string excerpt(std::string_view s) {
  constexpr std::size_t kMax = 32;
  std::string out = "'" + absl::CHexEscape(std::string(s.substr(0, kMax))) + "'";
  if (s.size() > kMax) out += "...";
  return out;
}

// "WHERE line N: what"; `where` is already printable.
absl::Status lineError(std::string_view where, std::size_t line, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrFormat("%s line %d: %s", where, line, what));
}

std::string printablePath(std::string_view path) { return absl::CHexEscape(std::string(path)); }

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

// One non-blank, non-comment line: [options SP] type SP base64 [SP comment] (sshd(8)).
absl::StatusOr<AuthorizedKey> parseKeyLine(std::string_view text) {
  AuthorizedKey key;
  std::string_view rest = skipBlanks(text);
  auto [type, after_type] = firstWord(rest);
  if (!knownKeyType(type)) {
    const std::size_t end = optionsEnd(rest);
    if (end == std::string_view::npos) {
      return absl::InvalidArgumentError("unterminated quote in the options");
    }
    key.options = std::string(rest.substr(0, end));
    std::tie(type, after_type) = firstWord(skipBlanks(rest.substr(end)));
    if (type.empty()) return absl::InvalidArgumentError("no key type after the options");
    if (!knownKeyType(type)) {
      return absl::InvalidArgumentError("unknown key type " + excerpt(type));
    }
  }
  key.type = std::string(type);
  auto [encoded, after_key] = firstWord(skipBlanks(after_type));
  if (encoded.empty()) return absl::InvalidArgumentError("no key data after the key type");
  // Strict base64, as OpenSSH's b64_pton(): padding where the length needs it, zero trailing
  // bits. (The line limit keeps the blob under kMaxKeyLineBytes.)
  auto blob = crypto::unbase64(encoded);
  if (!blob.ok()) return absl::InvalidArgumentError("key data is not valid base64");
  key.blob = std::move(*blob);
  // The blob's first SSH string names its key type.
  std::string_view fields = key.blob;
  if (takeString(fields) != type) {
    return absl::InvalidArgumentError("key data is not a " + excerpt(type) + " key");
  }
  key.comment = std::string(trimTrailing(skipBlanks(after_key), " \t"));
  // OpenSSH fingerprints a certificate by the key it certifies (sshkey_fingerprint_raw()
  // serialises it plain), which is also the key a RevokedKeys line matches.
  const KeyKind& kind = *kindOf(type);
  if (type != kind.cert) {
    key.fingerprint = sha256Fingerprint(key.blob);
    return key;
  }
  bool whole = takeString(fields).has_value();  // the nonce
  const std::string_view public_key = fields;
  for (int i = 0; whole && i < kind.key_fields; ++i) whole = takeString(fields).has_value();
  if (!whole) return absl::InvalidArgumentError("certificate without its public key");
  // The plain key: its type as an SSH string (every type name is under 256 bytes), its fields.
  key.fingerprint = sha256Fingerprint(
      std::string(3, '\0') + static_cast<char>(kind.plain.size()) + std::string(kind.plain) +
      std::string(public_key.substr(0, public_key.size() - fields.size())));
  return key;
}

}  // namespace

std::string AuthorizedKey::publicKey() const { return type + " " + crypto::base64(blob); }

bool knownKeyType(std::string_view type) { return kindOf(type) != nullptr; }

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
  AuthorizedKeysFile file;
  file.content_ = std::string(content);
  std::size_t begin = 0;
  for (int number = 1; begin < content.size(); ++number) {
    const std::size_t end = std::min(content.find('\n', begin), content.size() - 1) + 1;
    std::string_view text = content.substr(begin, end - begin);
    if (text.back() == '\n') text.remove_suffix(1);
    file.lines_.emplace_back(begin, end);
    begin = end;
    if (text.size() > kMaxKeyLineBytes) {
      return lineError(where, number, absl::StrFormat("longer than %d bytes", kMaxKeyLineBytes));
    }
    if (text.find('\0') != std::string_view::npos) return lineError(where, number, "NUL byte");
    if (text.find('\r') != std::string_view::npos) return lineError(where, number, "CR byte");
    const std::string_view start = skipBlanks(text);
    if (start.empty() || start.front() == '#') continue;
    auto key = parseKeyLine(start);
    if (!key.ok()) return lineError(where, number, std::string(key.status().message()));
    key->line = number;
    file.keys_.push_back(std::move(*key));
  }
  return file;
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

// ---- RevokedKeys --------------------------------------------------------------------------

absl::StatusOr<RevokedKeysFile> RevokedKeysFile::parse(std::string_view content,
                                                       std::string_view path) {
  auto keys = AuthorizedKeysFile::parse(content, path);
  if (!keys.ok()) return keys.status();
  for (const AuthorizedKey& key : keys->keys()) {
    // sshkey_in_file() reads a bare key per line; options make sshd refuse every key.
    if (!key.options.empty()) {
      return lineError(printablePath(path), key.line, "options in a revoked keys file");
    }
  }
  RevokedKeysFile file;
  file.keys_ = std::move(*keys);
  return file;
}

bool RevokedKeysFile::contains(std::string_view fingerprint) const {
  return std::any_of(keys().begin(), keys().end(),
                     [&](const AuthorizedKey& k) { return k.fingerprint == fingerprint; });
}

std::string RevokedKeysFile::with(const std::vector<AuthorizedKey>& keys,
                                  std::string_view comment) const {
  std::string out = keys_.without({});
  if (!out.empty() && out.back() != '\n') out += '\n';
  // A line break in the comment would start a line of its own; keep the file one key a line.
  std::string note(comment);
  std::replace_if(
      note.begin(), note.end(), [](char c) { return c == '\n' || c == '\r' || c == '\0'; }, ' ');
  std::set<std::string> present;
  for (const AuthorizedKey& k : this->keys()) present.insert(k.fingerprint);
  for (const AuthorizedKey& k : keys) {
    if (!present.insert(k.fingerprint).second) continue;
    out += k.publicKey();
    if (!note.empty()) out += " " + note;
    out += '\n';
  }
  return out;
}

std::string RevokedKeysFile::without(const std::set<std::string>& fingerprints) const {
  std::set<int> lines;
  for (const AuthorizedKey& k : keys()) {
    if (fingerprints.count(k.fingerprint) != 0) lines.insert(k.line);
  }
  return keys_.without(lines);
}

// ---- sshd_config --------------------------------------------------------------------------

namespace {

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

// The %-tokens sshd expands in AuthorizedKeysFile (auth2-pubkeyfile.c).
bool knownTokens(std::string_view pattern) {
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (++i == pattern.size()) return false;
    if (std::string_view("%hUu").find(pattern[i]) == std::string_view::npos) return false;
  }
  return true;
}

// Reads sshd_config and what it includes, in order, up to the first Match line.
struct SshdConfigReader {
  explicit SshdConfigReader(const SshdIncludeReader& reader) : include_reader(reader) {}
  absl::Status read(std::string_view text, const std::string& name, int depth);
  absl::Status keyword(std::string_view keyword, std::string_view args, const std::string& name,
                       std::size_t number, int depth);

  const SshdIncludeReader& include_reader;
  SshdKeySettings settings;
  bool keys_files_set = false;
  bool revoked_keys_set = false;
  bool command_set = false;
  bool stopped = false;  // a Match line was read: nothing after it is
  std::size_t bytes_read = 0;
  int files_read = 0;
};

absl::Status SshdConfigReader::read(std::string_view text, const std::string& name, int depth) {
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
  while (!text.empty() && !stopped) {
    ++number;
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    // servconf.c process_server_config_line_depth(): trailing whitespace goes; the keyword
    // ends at whitespace, a quote or '='; at most one '=' separates it from the arguments.
    constexpr std::string_view kWhitespace = " \t\r\n";
    line = trimLeading(trimTrailing(line, " \t\r\n\f"), kWhitespace);
    const std::size_t end = std::min(line.find_first_of(" \t\r\n\"="), line.size());
    const std::string_view word = line.substr(0, end);
    if (word.empty() || word.front() == '#') continue;
    std::string_view args = trimLeading(line.substr(end), kWhitespace);
    if (!args.empty() && args.front() == '=') args = trimLeading(args.substr(1), kWhitespace);
    if (auto status = keyword(word, args, name, number, depth); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status SshdConfigReader::keyword(std::string_view word, std::string_view args,
                                       const std::string& name, std::size_t number, int depth) {
  if (equalsIgnoreCase(word, "Match")) {
    // A Match block's settings hold for some connections only, and an Include inside one is
    // conditional too; stop reading (sshd would resume after an included file's Match block,
    // so whatever follows is left unknown rather than guessed).
    settings.match_blocks = true;
    stopped = true;
    return absl::OkStatus();
  }
  const bool include = equalsIgnoreCase(word, "Include");
  const bool keys_files = equalsIgnoreCase(word, "AuthorizedKeysFile");
  const bool revoked = equalsIgnoreCase(word, "RevokedKeys");
  const bool command = equalsIgnoreCase(word, "AuthorizedKeysCommand");
  if (!include && !keys_files && !revoked && !command) return absl::OkStatus();
  const std::string keyword_name(word);
  auto values = splitArguments(args);
  if (!values) return lineError(name, number, keyword_name + ": unterminated quote");
  if (values->empty()) return lineError(name, number, keyword_name + ": no argument");
  for (const std::string& v : *values) {
    if (v.empty()) return lineError(name, number, keyword_name + ": empty argument");
  }
  if (command) {
    // The whole rest of the line is the command (servconf.c parse_command).
    if (!command_set) settings.authorized_keys_command = !equalsIgnoreCase(args, "none");
    command_set = true;
  } else if (revoked) {
    if (values->size() > 1) return lineError(name, number, "RevokedKeys: extra arguments");
    if (!revoked_keys_set && !equalsIgnoreCase(values->front(), "none")) {
      settings.revoked_keys = values->front();
    }
    revoked_keys_set = true;
  } else if (keys_files) {
    const auto none = [](const std::string& v) { return equalsIgnoreCase(v, "none"); };
    if (values->size() > 1 && std::any_of(values->begin(), values->end(), none)) {
      return lineError(name, number, "AuthorizedKeysFile: \"none\" must appear alone");
    }
    if (!keys_files_set) {
      for (const std::string& v : *values) {
        if (!knownTokens(v)) {
          return lineError(name, number, "AuthorizedKeysFile: unknown %-token in " + excerpt(v));
        }
      }
      settings.authorized_keys_files = none(values->front()) ? std::vector<std::string>{} : *values;
    }
    keys_files_set = true;
  } else {
    for (const std::string& pattern : *values) {
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
        if (auto status = read((*texts)[i], included, depth + 1); !status.ok()) return status;
        if (stopped) return absl::OkStatus();
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SshdKeySettings> parseSshdConfig(std::string_view content,
                                                const SshdIncludeReader& include) {
  SshdConfigReader reader(include);
  if (auto status = reader.read(content, "sshd_config", 0); !status.ok()) return status;
  return reader.settings;
}

absl::StatusOr<std::string> expandKeysPath(std::string_view pattern, std::string_view user,
                                           std::string_view home, std::uint32_t uid) {
  // sshd expands a leading '~' when it reads its configuration, for its own user (root), not
  // for the user logging in; refused rather than guessed.
  if (!pattern.empty() && pattern.front() == '~') {
    return absl::InvalidArgumentError("AuthorizedKeysFile " + excerpt(pattern) +
                                      ": '~' is not supported");
  }
  if (!knownTokens(pattern)) {
    return absl::InvalidArgumentError("AuthorizedKeysFile " + excerpt(pattern) +
                                      ": unknown %-token");
  }
  const std::string uid_text = std::to_string(uid);
  std::string path;
  for (std::size_t i = 0; i < pattern.size() && path.size() <= kMaxPathBytes; ++i) {
    const char c = pattern[i] == '%' ? pattern[++i] : '\0';
    path += c == 'h' ? home : c == 'u' ? user : c == 'U' ? uid_text : pattern.substr(i, 1);
  }
  // auth2-pubkeyfile.c expand_authorized_keys(): a relative result is under the home directory.
  if (path.empty() || path.front() != '/') {
    path = std::string(home) + (!home.empty() && home.back() == '/' ? "" : "/") + path;
  }
  auto refuse = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("AuthorizedKeysFile %s for %s: %s", excerpt(pattern), excerpt(user), why));
  };
  if (path.size() > kMaxPathBytes) return refuse("path too long");
  if (path.find('\0') != std::string::npos) return refuse("NUL byte in the path");
  if (path.front() != '/') return refuse("not an absolute path");
  std::string_view rest(path);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    const std::string_view component = rest.substr(0, rest.find('/'));
    if (component.empty() || component == "." || component == "..") {
      return refuse("not a clean path (empty, '.' or '..' component)");
    }
    rest.remove_prefix(component.size());
  }
  return path;
}

}  // namespace warden
