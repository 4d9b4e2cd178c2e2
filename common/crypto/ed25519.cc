#include "common/crypto/ed25519.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include "absl/strings/str_format.h"
#include "common/crypto/openssl.h"

namespace warden::crypto {

absl::StatusOr<Ed25519Key> Ed25519Key::generate() {
  ERR_clear_error();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to generate Ed25519 key");
  }
  return Ed25519Key(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free));
}

absl::StatusOr<Ed25519Key> Ed25519Key::fromPem(std::string_view pem) {
  ERR_clear_error();
  auto key = parsePrivateKey(pem);
  if (!key.ok()) return key.status();
  if (EVP_PKEY_get_id(key->get()) != EVP_PKEY_ED25519) {
    const char* type = EVP_PKEY_get0_type_name(key->get());
    return absl::InvalidArgumentError(absl::StrFormat("Private key is not Ed25519 (it is %s)",
                                                      type != nullptr ? type : "unknown"));
  }
  return Ed25519Key(std::shared_ptr<EVP_PKEY>(key->release(), EVP_PKEY_free));
}

absl::StatusOr<Ed25519Key> Ed25519Key::fromRawPrivate(std::string_view seed32) {
  if (seed32.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Ed25519 private key must be 32 bytes, got %d", seed32.size()));
  }
  ERR_clear_error();
  EVP_PKEY* raw = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed32.data()), 32);
  if (raw == nullptr) return sslError(absl::StatusCode::kInternal, "Failed to load Ed25519 key");
  return Ed25519Key(std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free));
}

std::string Ed25519Key::toPem() const {
  ERR_clear_error();
  auto pem = privateKeyToPem(key_.get());
  if (!pem.ok()) return {};
  return *std::move(pem);
}

std::string Ed25519Key::publicKey() const {
  unsigned char out[32];
  std::size_t len = sizeof out;
  if (EVP_PKEY_get_raw_public_key(key_.get(), out, &len) != 1) {
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

absl::StatusOr<std::string> Ed25519Key::sign(std::string_view message) const {
  ERR_clear_error();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to initialise Ed25519 signing");
  }
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to sign");
  }
  sig.resize(len);
  return sig;
}

absl::Status ed25519Verify(std::string_view public_key, std::string_view message,
                           std::string_view signature) {
  if (public_key.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Ed25519 public key must be 32 bytes, got %d", public_key.size()));
  }
  if (signature.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Ed25519 signature must be 64 bytes, got %d", signature.size()));
  }
  ERR_clear_error();
  PkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(public_key.data()), 32));
  if (!key) return sslError(absl::StatusCode::kInvalidArgument, "Invalid Ed25519 public key");
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to initialise Ed25519 verification");
  }
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(),
                            reinterpret_cast<const unsigned char*>(message.data()), message.size());
  if (rc != 1) {
    // A forged or corrupted signature is the expected failure, not an OpenSSL malfunction.
    ERR_clear_error();
    return absl::PermissionDeniedError("Ed25519 signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace warden::crypto
