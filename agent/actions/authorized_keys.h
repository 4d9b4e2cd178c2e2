// Pure parsing of what sshd reads for public-key logins: authorized_keys files (sshd(8),
// "AUTHORIZED_KEYS FILE FORMAT"), the key settings of sshd_config(5) (AuthorizedKeysFile,
// RevokedKeys, AuthorizedKeysCommand) and a text RevokedKeys file. No file access, so every
// rule is unit-tested without privileges. Key files are written by whoever owns the account —
// on a compromised host, the attacker — so parsing is strict and bounded: a file that does not
// parse is refused whole (never "repaired"), and an edit gives back every line it did not
// touch byte for byte. Fuzzed by tests/fuzz/agent_authorized_keys.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ssh_fingerprint.h"  // validSshFingerprint: the form sha256Fingerprint gives

namespace warden {

// Larger files are refused (sshd reads any size; a real one holds a few dozen keys).
inline constexpr std::size_t kMaxKeyFileBytes = 1 << 20;
// sshd's own line limit for authorized_keys (SSH_MAX_PUBKEY_BYTES is 16 KiB).
inline constexpr std::size_t kMaxKeyLineBytes = 16 * 1024;

// One key line of an authorized_keys file: [options SP] type SP base64 [SP comment].
struct AuthorizedKey {
  int line = 0;         // 1-based line number in the file
  std::string options;  // as written ("from=\"198.18.0.0/15\",no-pty"), "" when none
  std::string type;     // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa-cert-v01@openssh.com"
  std::string blob;     // the decoded key blob (SSH wire format)
  std::string comment;  // the rest of the line after the key, trimmed; may be empty
  // "SHA256:..." as `ssh-keygen -l` prints it: sha256Fingerprint(blob), but for a certificate
  // that of the key it certifies (as sshd logs it, and as RevokedKeys matches it).
  std::string fingerprint;
  // "TYPE BASE64": the key alone, as a RevokedKeys line or `ssh-keygen -l -f -` takes it.
  std::string publicKey() const;
  bool operator==(const AuthorizedKey&) const = default;
};

// The key types OpenSSH accepts in authorized_keys, certificates included.
bool knownKeyType(std::string_view type);

// "SHA256:" + base64 of SHA-256(blob) without '=' padding (OpenSSH's fingerprint form).
std::string sha256Fingerprint(std::string_view blob);

class AuthorizedKeysFile {
 public:
  // `path` only names the file in error messages ("PATH line N: why"). Accepts empty content,
  // blank lines, comments ('#' after optional spaces/tabs) and key lines; a last line without
  // its newline is accepted (and kept that way). Refuses: content over kMaxKeyFileBytes, a NUL
  // or CR byte, a line over kMaxKeyLineBytes, an unknown key type, options with an unterminated
  // quote, base64 that does not decode (or decodes to more than kMaxKeyLineBytes), a blob whose
  // first SSH string is not the line's key type.
  static absl::StatusOr<AuthorizedKeysFile> parse(std::string_view content, std::string_view path);
  const std::vector<AuthorizedKey>& keys() const { return keys_; }
  // The content with the given 1-based lines removed (each with its newline); every other byte
  // exactly as it was. Line numbers beyond the file are ignored.
  std::string without(const std::set<int>& lines) const;

 private:
  std::string content_;
  std::vector<std::pair<std::size_t, std::size_t>> lines_;  // [begin, end) including the '\n'
  std::vector<AuthorizedKey> keys_;
};

// What sshd_config says about public keys, from the lines before the first Match block (the
// settings for every user; a Match block's settings are conditional, see `match_blocks`).
struct SshdKeySettings {
  // AuthorizedKeysFile patterns; sshd's default when unset; empty for "none".
  std::vector<std::string> authorized_keys_files = {".ssh/authorized_keys",
                                                    ".ssh/authorized_keys2"};
  std::string revoked_keys;              // RevokedKeys; "" when unset or "none"
  bool authorized_keys_command = false;  // AuthorizedKeysCommand set and not "none"
  bool match_blocks = false;             // a Match block exists (its settings are not read)
};

// Returns the contents of the files an `Include` pattern names, in the order sshd reads them
// (glob(3) sorted); relative patterns are under /etc/ssh. NotFound-free: a pattern matching
// nothing returns no files.
using SshdIncludeReader =
    std::function<absl::StatusOr<std::vector<std::string>>(std::string_view pattern)>;

// sshd_config(5): "Keyword arguments" or "Keyword=arguments", keywords case-insensitive,
// '#' comments, double-quoted arguments; the first value of a keyword wins (as in sshd);
// Include is followed through `include` (depth at most 16, as sshd), including inside the
// included text. Refuses: content over kMaxKeyFileBytes, a NUL byte, an unterminated quote in a
// key setting, an unknown %-token in AuthorizedKeysFile.
absl::StatusOr<SshdKeySettings> parseSshdConfig(std::string_view content,
                                                const SshdIncludeReader& include);

// An AuthorizedKeysFile pattern for one user: %% → %, %h → home, %u → user, %U → uid; a
// relative result is taken from the home directory (as sshd does). InvalidArgument for an
// unknown token or a result that is not a clean absolute path (no "..", no empty component).
absl::StatusOr<std::string> expandKeysPath(std::string_view pattern, std::string_view user,
                                           std::string_view home, std::uint32_t uid);

// A text RevokedKeys file (sshd_config(5) RevokedKeys: public keys one per line, '#'
// comments). Refuses what AuthorizedKeysFile::parse refuses, and options on a line.
class RevokedKeysFile {
 public:
  static absl::StatusOr<RevokedKeysFile> parse(std::string_view content, std::string_view path);
  bool contains(std::string_view fingerprint) const;
  const std::vector<AuthorizedKey>& keys() const { return keys_.keys(); }
  // The content with "TYPE BASE64 COMMENT\n" appended for each key not already in the file
  // (a missing final newline is added first). `comment` must not contain '\n'.
  std::string with(const std::vector<AuthorizedKey>& keys, std::string_view comment) const;
  // The content without the lines whose key's fingerprint is in `fingerprints`.
  std::string without(const std::set<std::string>& fingerprints) const;

 private:
  AuthorizedKeysFile keys_;
};

}  // namespace warden
