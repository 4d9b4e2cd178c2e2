// X25519 + HKDF-SHA256 + AES-256-GCM.
#include "common/crypto/seal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <climits>
#include <cstddef>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/crypto/hash.h"
#include "common/crypto/openssl.h"

namespace warden::crypto {
namespace {

constexpr std::size_t kX25519KeySize = 32;
constexpr std::size_t kSealNonceSize = 12;
constexpr std::size_t kSealTagSize = 16;
constexpr char kSealInfo[] = "warden seal v1";

using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using KdfPtr = std::unique_ptr<EVP_KDF, Deleter<EVP_KDF_free>>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, Deleter<EVP_KDF_CTX_free>>;

const unsigned char* bytesOf(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// A raw 32-byte X25519 key (RFC 7748), the private or the public half.
absl::StatusOr<PkeyPtr> x25519Key(std::string_view raw, bool is_private) {
  const char* half = is_private ? "private" : "public";
  if (raw.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrFormat("X25519 %s key must be 32 bytes, got %d", half, raw.size()));
  }
  PkeyPtr key(
      is_private ? EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, bytesOf(raw), raw.size())
                 : EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, bytesOf(raw), raw.size()));
  if (!key) {
    return sslError(absl::StatusCode::kInvalidArgument,
                    absl::StrFormat("Invalid X25519 %s key", half));
  }
  return key;
}

absl::StatusOr<PkeyPtr> x25519Public(std::string_view raw) { return x25519Key(raw, false); }
absl::StatusOr<PkeyPtr> x25519Private(std::string_view raw) { return x25519Key(raw, true); }

absl::StatusOr<std::string> rawPublic(EVP_PKEY* key) {
  std::string out(kX25519KeySize, '\0');
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1 ||
      len != kX25519KeySize) {
    return sslError(absl::StatusCode::kInternal, "Failed to export X25519 public key");
  }
  return out;
}

// The X25519 shared secret, then HKDF-SHA256 to the AES-256 key. An all-zero shared secret
// (a low-order peer key, RFC 7748 §6.1) is refused by OpenSSL's derive.
absl::StatusOr<std::string> sealKey(EVP_PKEY* own, EVP_PKEY* peer, std::string_view salt) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(own, nullptr));
  std::size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) {
    return sslError(absl::StatusCode::kInvalidArgument, "X25519 key agreement failed");
  }
  std::string shared(len, '\0');
  if (EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(shared.data()), &len) != 1) {
    return sslError(absl::StatusCode::kInvalidArgument, "X25519 key agreement failed");
  }
  shared.resize(len);

  KdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (!kdf) return sslError(absl::StatusCode::kInternal, "HKDF is not available");
  KdfCtxPtr kctx(EVP_KDF_CTX_new(kdf.get()));
  if (!kctx) return sslError(absl::StatusCode::kInternal, "Failed to create HKDF context");
  std::string digest = "SHA256";
  std::string info = kSealInfo;
  std::string salt_copy(salt);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared.data(), shared.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_copy.data(), salt_copy.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  std::string key(32, '\0');
  int rc =
      EVP_KDF_derive(kctx.get(), reinterpret_cast<unsigned char*>(key.data()), key.size(), params);
  OPENSSL_cleanse(shared.data(), shared.size());
  if (rc != 1) return sslError(absl::StatusCode::kInternal, "HKDF-SHA256 failed");
  return key;
}

}  // namespace

absl::StatusOr<X25519KeyPair> generateX25519() {
  ERR_clear_error();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to generate X25519 key");
  }
  PkeyPtr key(raw);
  X25519KeyPair pair;
  pair.private_key.assign(kX25519KeySize, '\0');
  std::size_t len = kX25519KeySize;
  if (EVP_PKEY_get_raw_private_key(
          key.get(), reinterpret_cast<unsigned char*>(pair.private_key.data()), &len) != 1 ||
      len != kX25519KeySize) {
    return sslError(absl::StatusCode::kInternal, "Failed to export X25519 private key");
  }
  auto pub = rawPublic(key.get());
  if (!pub.ok()) return pub.status();
  pair.public_key = std::move(*pub);
  return pair;
}

absl::StatusOr<std::string> sealToX25519(std::string_view recipient_public,
                                         std::string_view plaintext) {
  ERR_clear_error();
  if (plaintext.size() > static_cast<std::size_t>(INT_MAX) / 2) {
    return absl::InvalidArgumentError("Plaintext too large to seal");
  }
  auto peer = x25519Public(recipient_public);
  if (!peer.ok()) return peer.status();
  auto eph = generateX25519();
  if (!eph.ok()) return eph.status();
  auto eph_key = x25519Private(eph->private_key);
  OPENSSL_cleanse(eph->private_key.data(), eph->private_key.size());
  if (!eph_key.ok()) return eph_key.status();
  std::string salt = eph->public_key + std::string(recipient_public);
  auto key = sealKey(eph_key->get(), peer->get(), salt);
  if (!key.ok()) return key.status();
  auto nonce = randomBytes(kSealNonceSize);
  if (!nonce.ok()) return nonce.status();

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out = eph->public_key + *nonce;
  std::size_t ct_at = out.size();
  out.resize(ct_at + plaintext.size() + kSealTagSize);
  auto* ct = reinterpret_cast<unsigned char*>(out.data()) + ct_at;
  int len = 0;
  int fin = 0;
  bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kSealNonceSize, nullptr) &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytesOf(*key), bytesOf(*nonce)) &&
      EVP_EncryptUpdate(ctx.get(), ct, &len, bytesOf(plaintext),
                        static_cast<int>(plaintext.size())) &&
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &fin) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kSealTagSize, ct + plaintext.size());
  OPENSSL_cleanse(key->data(), key->size());
  if (!ok) return sslError(absl::StatusCode::kInternal, "AES-256-GCM encryption failed");
  return out;
}

absl::StatusOr<std::string> openSealed(std::string_view recipient_private,
                                       std::string_view sealed) {
  ERR_clear_error();
  constexpr std::size_t kOverhead = kX25519KeySize + kSealNonceSize + kSealTagSize;
  if (sealed.size() < kOverhead) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Sealed message too short: %d bytes", sealed.size()));
  }
  if (sealed.size() > static_cast<std::size_t>(INT_MAX) / 2) {
    return absl::InvalidArgumentError("Sealed message too large");
  }
  auto own = x25519Private(recipient_private);
  if (!own.ok()) return own.status();
  auto own_pub = rawPublic(own->get());
  if (!own_pub.ok()) return own_pub.status();
  std::string_view eph_pub = sealed.substr(0, kX25519KeySize);
  std::string_view nonce = sealed.substr(kX25519KeySize, kSealNonceSize);
  std::string_view ct = sealed.substr(kX25519KeySize + kSealNonceSize, sealed.size() - kOverhead);
  std::string tag(sealed.substr(sealed.size() - kSealTagSize));
  auto peer = x25519Public(eph_pub);
  if (!peer.ok()) return peer.status();
  auto key = sealKey(own->get(), peer->get(), std::string(eph_pub) + *own_pub);
  if (!key.ok()) return key.status();

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out(ct.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int fin = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kSealNonceSize, nullptr) &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytesOf(*key), bytesOf(nonce)) &&
            EVP_DecryptUpdate(ctx.get(), pt, &len, bytesOf(ct), static_cast<int>(ct.size())) &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kSealTagSize, tag.data()) &&
            EVP_DecryptFinal_ex(ctx.get(), pt + len, &fin) == 1;
  OPENSSL_cleanse(key->data(), key->size());
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    ERR_clear_error();
    return absl::PermissionDeniedError(
        "Failed to open sealed message: wrong key or the message was altered");
  }
  return out;
}

}  // namespace warden::crypto
