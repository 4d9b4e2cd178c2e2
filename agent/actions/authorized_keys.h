// Pure parsing of what sshd reads for public-key logins: authorized_keys files (sshd(8),
// "AUTHORIZED_KEYS FILE FORMAT"), the key settings of sshd_config(5) (AuthorizedKeysFile,
// RevokedKeys, AuthorizedKeysCommand), and the binary KRL Warden writes as its RevokedKeys file.
// No file access, so every rule is unit-tested without privileges. Key files are written by
// whoever owns the account — on a compromised host, the attacker — so parsing is strict and
// bounded: a key is taken only when its blob is exactly what OpenSSH's sshkey_from_blob takes,
// a line that is not one is reported (never "repaired"), and an edit gives back every line it
// did not touch byte for byte. Fuzzed by tests/fuzz/agent_authorized_keys.cc.
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
// Longer lines are reported bad (no real key line comes near it; an RSA-16384 key is ~2.8 KiB).
inline constexpr std::size_t kMaxKeyLineBytes = 16 * 1024;

// One key line of an authorized_keys file: [options SP] type SP base64 [SP comment].
struct AuthorizedKey {
  int line = 0;         // 1-based line number in the file
  std::string options;  // as written ("from=\"198.18.0.0/15\",no-pty"), "" when none
  std::string type;     // as written: "ssh-ed25519", "rsa-sha2-256", "ssh-rsa-cert-v01@openssh.com"
  std::string blob;     // the decoded key blob (SSH wire format), as written
  std::string comment;  // the rest of the line after the key, trimmed; may be empty
  // "SHA256:..." exactly as sshd logs it and `ssh-keygen -l` prints it: the SHA-256 of the
  // key's canonical plain blob (numbers without redundant leading zero bytes, as sshd
  // re-serialises them; for a certificate, the key it certifies). What a KRL revokes.
  std::string fingerprint;
  // "TYPE BASE64": the key alone, as `ssh-keygen -l -f -` takes it.
  std::string publicKey() const;
  bool operator==(const AuthorizedKey&) const = default;
};

// A line that is neither blank, a comment nor a key sshd would take.
struct BadKeyLine {
  int line = 0;
  std::string why;  // "PATH line N: what", with at most a short escaped excerpt of the line
  bool operator==(const BadKeyLine&) const = default;
};

// The key type names OpenSSH accepts in authorized_keys (sshkey.c keyimpls): the plain and
// certificate types, and the names that share a key format (rsa-sha2-256/512 for ssh-rsa,
// webauthn-sk-ecdsa-sha2-nistp256@openssh.com for sk-ecdsa).
bool knownKeyType(std::string_view type);

// "SHA256:" + base64 of SHA-256(blob) without '=' padding (OpenSSH's fingerprint form).
std::string sha256Fingerprint(std::string_view blob);

class AuthorizedKeysFile {
 public:
  // `path` only names the file in messages. Accepts empty content, blank lines, comments ('#'
  // after optional spaces/tabs) and key lines; a last line without its newline is kept that
  // way; a CR before a line's newline is taken as whitespace (as sshd does). Fails only for
  // content over kMaxKeyFileBytes or holding a NUL byte. Every other line that is not a key
  // sshd would take goes to bad_lines(): an unknown key type, options with an unterminated
  // quote, base64 that does not decode, a blob that is not exactly a key of the line's type
  // (its fields, their lengths, nothing after them: the checks of sshkey_from_blob), a line
  // over kMaxKeyLineBytes.
  static absl::StatusOr<AuthorizedKeysFile> parse(std::string_view content, std::string_view path);
  const std::vector<AuthorizedKey>& keys() const { return keys_; }
  const std::vector<BadKeyLine>& bad_lines() const { return bad_lines_; }
  // The content with the given 1-based lines removed (each with its newline); every other byte
  // exactly as it was. Line numbers beyond the file are ignored.
  std::string without(const std::set<int>& lines) const;
  // The 1-based line's text without its newline ("" beyond the file).
  std::string lineText(int line) const;

 private:
  std::string content_;
  std::vector<std::pair<std::size_t, std::size_t>> lines_;  // [begin, end) including the '\n'
  std::vector<AuthorizedKey> keys_;
  std::vector<BadKeyLine> bad_lines_;
};

// What sshd_config says about public keys for every user (the lines outside Match blocks), and
// the key files Match blocks name for some users (searching more files is safe).
struct SshdKeySettings {
  // AuthorizedKeysFile patterns; sshd's default when unset; empty for "none".
  std::vector<std::string> authorized_keys_files = {".ssh/authorized_keys",
                                                    ".ssh/authorized_keys2"};
  std::string revoked_keys;              // RevokedKeys; "" when unset or "none"
  bool authorized_keys_command = false;  // AuthorizedKeysCommand set and not "none"
  bool match_blocks = false;             // a Match block exists
  // AuthorizedKeysFile patterns set inside Match blocks, in order, without duplicates.
  std::vector<std::string> match_authorized_keys_files;
  bool match_authorized_keys_command = false;  // a Match block sets AuthorizedKeysCommand
  // RevokedKeys set inside Match blocks ("" for none): for the users they match, instead of
  // `revoked_keys`.
  std::vector<std::string> match_revoked_keys;
};

// Returns the contents of the files an `Include` pattern names, in the order sshd reads them
// (glob(3) sorted); relative patterns are under /etc/ssh. NotFound-free: a pattern matching
// nothing returns no files.
using SshdIncludeReader =
    std::function<absl::StatusOr<std::vector<std::string>>(std::string_view pattern)>;

// sshd_config(5): "Keyword arguments" or "Keyword=arguments", keywords case-insensitive (and
// possibly quoted), '#' comments, quoted arguments; the first value of a keyword wins (as in
// sshd); Include is followed through `include` (depth at most 16, as sshd), including inside
// the included text, and a Match block begun in an included file ends with that file (sshd
// restores the match state when an Include ends). Refuses: content over kMaxKeyFileBytes, a NUL
// byte, an unterminated quote in a key setting, an unknown %-token in AuthorizedKeysFile.
absl::StatusOr<SshdKeySettings> parseSshdConfig(std::string_view content,
                                                const SshdIncludeReader& include);

// An AuthorizedKeysFile pattern for one user: %% → %, %h → home, %u → user, %U → uid; a
// relative result is taken from the home directory (as sshd does). "//" and "/./" are
// collapsed and a trailing '/' dropped (the kernel would resolve them so); InvalidArgument for
// an unknown token, a "~" pattern, a ".." component, or a result over 4096 bytes.
absl::StatusOr<std::string> expandKeysPath(std::string_view pattern, std::string_view user,
                                           std::string_view home, std::uint32_t uid);

// A KRL (OpenSSH's PROTOCOL.krl, as `ssh-keygen -k` writes it) revoking the keys whose SHA-256
// fingerprints are given ("SHA256:...", each valid per validSshFingerprint; others skipped):
// one KRL_SECTION_FINGERPRINT_SHA256 section, hashes sorted and unique. sshd's RevokedKeys takes
// it as it is; `ssh-keygen -Q -f FILE KEY.pub` checks a key against it. Warden writes its
// RevokedKeys file only from its own record of fingerprints, never from what a host holds, so
// no attacker-written byte reaches the file sshd trusts to refuse keys.
std::string encodeKrl(const std::vector<std::string>& fingerprints, std::uint64_t krl_version,
                      std::uint64_t generated_unix_seconds, std::string_view comment);

}  // namespace warden
