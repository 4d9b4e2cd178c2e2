// OpenSSH public key blobs (the SSH wire format of sshkey.c and PROTOCOL.certkeys), checked the
// way sshd takes a key from an authorized_keys line: sshkey_from_blob() (every field of the
// type, its length and range, nothing after the last one) and sshkey_read() (the blob's type
// agrees with the type named on the line). A certificate's CA signature is not verified.
// Part of agent/actions/authorized_keys.h; pure, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

// A key blob sshd would take.
struct SshPublicKey {
  // The plain key as sshd re-serialises it (sshkey_putb_plain): its canonical type name
  // ("ssh-rsa" for rsa-sha2-256 too), numbers without redundant leading zero bytes, strings
  // without a trailing NUL; for a certificate, the key it certifies. Its SHA-256 is the key's
  // fingerprint, what `ssh-keygen -l` prints and a KRL revokes.
  std::string plain_blob;
  bool certificate = false;
};

// The key type names of sshkey.c's keyimpls (OpenSSH 9.x and 10.x together): plain keys,
// certificates, and the names that share a key format (rsa-sha2-256/512 with ssh-rsa,
// webauthn-sk-ecdsa-sha2-nistp256@openssh.com with sk-ecdsa-sha2-nistp256@openssh.com).
bool knownSshKeyType(std::string_view type);

// `blob` as the key of an authorized_keys line of type `line_type` (a knownSshKeyType name).
// InvalidArgument with a short reason (no bytes of the blob) when sshd would not take it.
absl::StatusOr<SshPublicKey> parseSshKeyBlob(std::string_view line_type, std::string_view blob);

// The SSH wire encoding's pieces (RFC 4251 §5), as the KRL writer needs them too: `v` in
// `bytes` big-endian bytes; a string as its uint32 length, then the bytes.
void appendSshUint(std::string& out, std::uint64_t v, int bytes);
void appendSshString(std::string& out, std::string_view bytes);

}  // namespace warden
