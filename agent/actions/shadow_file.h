// Pure parsing and editing of shadow(5), passwd(5) and login.defs(5) content: no file access,
// so every rule is unit-tested without privileges. Parsing is strict: a file that does not
// parse is refused (never "repaired" and rewritten), and serialize() gives back untouched lines
// byte for byte.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

// name:password:lastchg:min:max:warn:inactive:expire:reserved (shadow(5)).
struct ShadowEntry {
  static constexpr int kName = 0;
  static constexpr int kPassword = 1;
  static constexpr int kLastChange = 2;
  static constexpr int kExpire = 7;
  static constexpr int kFieldCount = 9;

  std::array<std::string, kFieldCount> fields;
  const std::string& name() const { return fields[kName]; }
  std::string line() const;  // without the newline
  bool operator==(const ShadowEntry& o) const = default;
};

// Parses one shadow line strictly: 9 fields, a user name, numeric or empty date fields.
absl::StatusOr<ShadowEntry> parseShadowLine(std::string_view line);

class ShadowFile {
 public:
  // `path` only names the file in error messages. Refuses: empty content, a last line
  // without its newline (a torn write), NUL or CR bytes, blank lines, a line that is not a
  // valid entry, duplicate user names.
  static absl::StatusOr<ShadowFile> parse(std::string_view content,
                                          std::string_view path = "/etc/shadow");
  const std::vector<ShadowEntry>& entries() const { return entries_; }
  const ShadowEntry* find(std::string_view name) const;
  // Replaces the entry of the same name; NotFound if there is none.
  absl::Status replace(const ShadowEntry& entry);
  std::string serialize() const;

 private:
  std::vector<ShadowEntry> entries_;
};

// name:password:uid:gid:gecos:home:shell (passwd(5)).
struct PasswdEntry {
  std::string name;
  std::string password;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string gecos;
  std::string home;
  std::string shell;
};

class PasswdFile {
 public:
  // Same strictness as ShadowFile::parse, with 7 fields and numeric uid and gid.
  static absl::StatusOr<PasswdFile> parse(std::string_view content,
                                          std::string_view path = "/etc/passwd");
  const std::vector<PasswdEntry>& entries() const { return entries_; }
  const PasswdEntry* find(std::string_view name) const;

 private:
  std::vector<PasswdEntry> entries_;
};

// The range of ordinary users' UIDs from login.defs(5) (UID_MIN, UID_MAX); shadow-utils'
// defaults (1000, 60000) where the file or a key is missing or unreadable.
struct UidRange {
  std::uint32_t min = 1000;
  std::uint32_t max = 60000;
};
UidRange parseLoginDefs(std::string_view content);

// A login shell is a real one unless it is nologin, false, true, sync, shutdown or halt.
// An empty shell means /bin/sh (passwd(5)).
bool isRealShell(std::string_view shell);

// Accounts that `--all` locks: a real shell and a UID in `range`, plus UID 0 (root and any
// other UID-0 account) with a real shell. System accounts are left alone. Sorted by name.
std::vector<std::string> loginAccounts(const PasswdFile& passwd, const UidRange& range);

// Lock: `!` before the password hash (unless it is already there) and the account expired
// (expire = 1, i.e. 1970-01-02, as `usermod -e 1`), which PAM's account stage refuses even for
// key logins.
ShadowEntry lockedEntry(const ShadowEntry& entry);
inline constexpr char kLockedExpire[] = "1";

// What a lock recorded for an exact unlock: the line before and the line Warden wrote.
struct LockRecord {
  ShadowEntry before;
  ShadowEntry locked;
};
std::string encodeLockRecord(const LockRecord& record);
absl::StatusOr<LockRecord> decodeLockRecord(std::string_view bytes);

// Unlock: the exact previous line when the current one is still the one the lock wrote;
// otherwise (someone changed it since) only the fields the lock set and nobody changed since
// (password, expiry) go back to their previous values.
ShadowEntry unlockedEntry(const ShadowEntry& current, const LockRecord& record);

// A new random password: `length` characters from [A-Za-z0-9._] (no ':' or shell quoting
// trouble), from RAND_bytes without modulo bias.
absl::StatusOr<std::string> randomPassword(std::size_t length = 24);

// Days since the epoch, for shadow's lastchg field.
std::int64_t daysSinceEpoch();

}  // namespace warden
