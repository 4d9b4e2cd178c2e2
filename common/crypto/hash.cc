#include "common/crypto/hash.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <climits>
#include <cstdlib>
#include <utility>

#include "common/crypto/openssl.h"

namespace warden::crypto {

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1) {
    // Only fails on allocation failure inside OpenSSL; there is no sensible digest to return.
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  // Allocation failure inside OpenSSL is the only way this fails: nothing sensible to go on.
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

Sha256::Sha256(Sha256&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }

Sha256& Sha256::operator=(Sha256&& other) noexcept {
  std::swap(ctx_, other.ctx_);
  return *this;
}

void Sha256::update(std::string_view data) {
  if (EVP_DigestUpdate(ctx_, data.data(), data.size()) != 1) std::abort();
}

std::string Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_, out, &len) != 1 ||
      EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Sha256::digestSoFar() const {
  Sha256 copy;
  if (EVP_MD_CTX_copy_ex(copy.ctx_, ctx_) != 1) std::abort();
  return copy.finish();
}

absl::StatusOr<std::string> randomBytes(std::size_t n) {
  if (n > static_cast<std::size_t>(INT_MAX)) {
    return absl::InvalidArgumentError("Too many random bytes requested");
  }
  std::string out(n, '\0');
  if (n == 0) return out;
  ERR_clear_error();
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to generate random bytes");
  }
  return out;
}

bool equalConstantTime(std::string_view a, std::string_view b) {
  // The length is not secret (all Warden secrets are fixed-size), so it may short-circuit.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace warden::crypto
