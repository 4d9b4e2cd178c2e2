#include "agent/actions/shadow_file.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/crypto/hash.h"

namespace warden {
namespace {

constexpr int kPasswdFieldCount = 7;

// absl::StrSplit takes Debian abseil's own string_view, not std::string_view.
std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    std::size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + 1);
  }
}

bool isDigits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What shadow-utils accepts in a user name, plus '$' for machine accounts; no ':', spaces,
// control characters, and not starting with '-' (useradd(8)) or '+' (NIS compat entries).
bool isValidUserName(std::string_view name) {
  if (name.empty() || name.size() > 256 || name[0] == '-' || name[0] == '+') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '$' || c == '@';
  });
}

std::optional<std::uint32_t> parseId(std::string_view s) {
  if (s.empty() || s.size() > 10 || !isDigits(s)) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<std::uint64_t>(c - '0');
  if (v > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

// Splits content into lines, refusing what no shadow-utils tool writes.
absl::StatusOr<std::vector<std::string_view>> splitLines(std::string_view content,
                                                         std::string_view path) {
  if (content.empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("%s is empty", path));
  }
  if (content.back() != '\n') {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s does not end with a newline (truncated?)", path));
  }
  if (content.find('\0') != std::string_view::npos ||
      content.find('\r') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrFormat("%s contains NUL or CR bytes", path));
  }
  std::vector<std::string_view> lines = split(content.substr(0, content.size() - 1), '\n');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s line %d is empty", path, i + 1));
    }
  }
  return lines;
}

}  // namespace

// ---- shadow -----------------------------------------------------------------------------------

std::string ShadowEntry::line() const { return absl::StrJoin(fields, ":"); }

absl::StatusOr<ShadowEntry> parseShadowLine(std::string_view line) {
  std::vector<std::string_view> parts = split(line, ':');
  if (parts.size() != ShadowEntry::kFieldCount) {
    return absl::InvalidArgumentError(
        absl::StrFormat("has %d fields, expected %d", parts.size(), ShadowEntry::kFieldCount));
  }
  if (!isValidUserName(parts[ShadowEntry::kName])) {
    return absl::InvalidArgumentError("has an invalid user name");
  }
  // lastchg, min, max, warn, inactive, expire: days, or empty.
  for (int i = ShadowEntry::kLastChange; i <= ShadowEntry::kExpire; ++i) {
    if (parts[i].size() > 18 || !isDigits(parts[i])) {
      return absl::InvalidArgumentError(absl::StrFormat("field %d is not a number", i + 1));
    }
  }
  ShadowEntry entry;
  for (int i = 0; i < ShadowEntry::kFieldCount; ++i) entry.fields[i] = std::string(parts[i]);
  return entry;
}

absl::StatusOr<ShadowFile> ShadowFile::parse(std::string_view content, std::string_view path) {
  auto lines = splitLines(content, path);
  if (!lines.ok()) return lines.status();
  ShadowFile file;
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    auto entry = parseShadowLine((*lines)[i]);
    if (!entry.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s line %d %s", path, i + 1, entry.status().message()));
    }
    if (!names.insert(entry->name()).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s line %d: duplicate user '%s'", path, i + 1, entry->name()));
    }
    file.entries_.push_back(std::move(*entry));
  }
  return file;
}

const ShadowEntry* ShadowFile::find(std::string_view name) const {
  for (const ShadowEntry& e : entries_) {
    if (e.name() == name) return &e;
  }
  return nullptr;
}

absl::Status ShadowFile::replace(const ShadowEntry& entry) {
  for (ShadowEntry& e : entries_) {
    if (e.name() == entry.name()) {
      e = entry;
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrFormat("no shadow entry for '%s'", entry.name()));
}

std::string ShadowFile::serialize() const {
  std::string out;
  for (const ShadowEntry& e : entries_) {
    out += e.line();
    out += '\n';
  }
  return out;
}

// ---- passwd -----------------------------------------------------------------------------------

absl::StatusOr<PasswdFile> PasswdFile::parse(std::string_view content, std::string_view path) {
  auto lines = splitLines(content, path);
  if (!lines.ok()) return lines.status();
  PasswdFile file;
  std::set<std::string, std::less<>> names;
  for (std::size_t i = 0; i < lines->size(); ++i) {
    std::vector<std::string_view> parts = split((*lines)[i], ':');
    if (parts.size() != kPasswdFieldCount) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s line %d has %d fields, expected %d", path, i + 1, parts.size(), kPasswdFieldCount));
    }
    auto uid = parseId(parts[2]);
    auto gid = parseId(parts[3]);
    if (!isValidUserName(parts[0]) || !uid || !gid) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s line %d has an invalid name, uid or gid", path, i + 1));
    }
    PasswdEntry e{std::string(parts[0]), std::string(parts[1]), *uid, *gid, std::string(parts[4]),
                  std::string(parts[5]), std::string(parts[6])};
    if (!names.insert(e.name).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s line %d: duplicate user '%s'", path, i + 1, e.name));
    }
    file.entries_.push_back(std::move(e));
  }
  return file;
}

const PasswdEntry* PasswdFile::find(std::string_view name) const {
  for (const PasswdEntry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

// ---- login.defs and the --all selection -------------------------------------------------------

UidRange parseLoginDefs(std::string_view content) {
  UidRange range;
  for (std::string_view line : split(content, '\n')) {
    std::vector<std::string_view> words;
    for (std::string_view w : split(line, ' ')) {
      for (std::string_view word : split(w, '\t')) {
        if (!word.empty()) words.push_back(word);
      }
    }
    if (words.size() < 2 || words[0].front() == '#') continue;
    auto value = parseId(words[1]);
    if (!value) continue;
    if (words[0] == "UID_MIN") range.min = *value;
    if (words[0] == "UID_MAX") range.max = *value;
  }
  return range;
}

bool isRealShell(std::string_view shell) {
  if (shell.empty()) return true;
  std::string_view base = shell.substr(shell.rfind('/') + 1);
  for (std::string_view fake : {"nologin", "false", "true", "sync", "shutdown", "halt"}) {
    if (base == fake) return false;
  }
  return true;
}

std::vector<std::string> loginAccounts(const PasswdFile& passwd, const UidRange& range) {
  std::vector<std::string> out;
  for (const PasswdEntry& e : passwd.entries()) {
    if (!isRealShell(e.shell)) continue;
    if (e.uid == 0 || (e.uid >= range.min && e.uid <= range.max)) out.push_back(e.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- lock and unlock --------------------------------------------------------------------------

ShadowEntry lockedEntry(const ShadowEntry& entry) {
  ShadowEntry out = entry;
  std::string& password = out.fields[ShadowEntry::kPassword];
  if (password.empty() || password[0] != '!') password.insert(0, "!");
  out.fields[ShadowEntry::kExpire] = kLockedExpire;
  return out;
}

std::string encodeLockRecord(const LockRecord& record) {
  return record.before.line() + "\n" + record.locked.line() + "\n";
}

absl::StatusOr<LockRecord> decodeLockRecord(std::string_view bytes) {
  std::vector<std::string_view> lines = split(bytes, '\n');
  if (lines.size() != 3 || !lines[2].empty()) {
    return absl::DataLossError("account lock record is malformed");
  }
  auto before = parseShadowLine(lines[0]);
  auto locked = parseShadowLine(lines[1]);
  if (!before.ok() || !locked.ok() || before->name() != locked->name()) {
    return absl::DataLossError("account lock record is malformed");
  }
  return LockRecord{std::move(*before), std::move(*locked)};
}

ShadowEntry unlockedEntry(const ShadowEntry& current, const LockRecord& record) {
  if (current == record.locked) return record.before;
  ShadowEntry out = current;
  for (int field : {ShadowEntry::kPassword, ShadowEntry::kExpire}) {
    if (current.fields[field] == record.locked.fields[field]) {
      out.fields[field] = record.before.fields[field];
    }
  }
  return out;
}

absl::StatusOr<std::string> randomPassword(std::size_t length) {
  // 64 symbols: a random byte's low 6 bits pick one without bias.
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";
  static_assert(sizeof(kAlphabet) - 1 == 64);
  auto bytes = crypto::randomBytes(length);
  if (!bytes.ok()) return bytes.status();
  std::string out(length, '\0');
  for (std::size_t i = 0; i < length; ++i) {
    out[i] = kAlphabet[static_cast<unsigned char>((*bytes)[i]) & 63];
  }
  std::fill(bytes->begin(), bytes->end(), '\0');
  return out;
}

std::int64_t daysSinceEpoch() { return absl::ToUnixSeconds(absl::Now()) / 86400; }

}  // namespace warden
