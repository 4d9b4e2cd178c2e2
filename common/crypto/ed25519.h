// Ed25519 signatures (RFC 8032), through OpenSSL 3: the controller's command and log keys, the
// operators' request keys and the agents' receipt keys are all Ed25519.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace warden::crypto {

// An Ed25519 private key.
class Ed25519Key {
 public:
  static absl::StatusOr<Ed25519Key> generate();
  // PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
  static absl::StatusOr<Ed25519Key> fromPem(std::string_view pem);
  // The 32-byte RFC 8032 secret (seed); lets tests check the published test vectors.
  static absl::StatusOr<Ed25519Key> fromRawPrivate(std::string_view seed32);
  std::string toPem() const;
  // Raw 32-byte public key.
  std::string publicKey() const;
  // Raw 64-byte signature (RFC 8032).
  absl::StatusOr<std::string> sign(std::string_view message) const;

 private:
  explicit Ed25519Key(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// OK when `signature` is a valid Ed25519 signature of `message` under the raw 32-byte key.
absl::Status ed25519Verify(std::string_view public_key, std::string_view message,
                           std::string_view signature);

}  // namespace warden::crypto
