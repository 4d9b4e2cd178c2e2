// Sealed boxes to a one-time X25519 key. The root password that --rotate-root sets reaches only
// the CLI process that asked: it sends a fresh X25519 public key, the agent seals the password
// to it, and the controller relays ciphertext it cannot open.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden::crypto {

struct X25519KeyPair {
  std::string private_key;  // raw 32 bytes (RFC 7748)
  std::string public_key;   // raw 32 bytes
};

absl::StatusOr<X25519KeyPair> generateX25519();
// Ephemeral X25519 with the recipient, HKDF-SHA256 (RFC 5869; salt = eph_pub || recipient_pub,
// info "warden seal v1") to a 32-byte key, AES-256-GCM with a random 12-byte nonce.
// Output: eph_pub(32) || nonce(12) || ciphertext || tag(16).
absl::StatusOr<std::string> sealToX25519(std::string_view recipient_public,
                                         std::string_view plaintext);
// Opens what sealToX25519() made for the public half of `recipient_private`. Any change to the
// sealed bytes, or the wrong key, fails (the GCM tag does not verify).
absl::StatusOr<std::string> openSealed(std::string_view recipient_private, std::string_view sealed);

}  // namespace warden::crypto
