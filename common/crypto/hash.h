// SHA-256 (one-shot and streamed), secure randomness and constant-time comparison, through
// OpenSSL 3's EVP and RAND interfaces.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace warden::crypto {

// Raw 32-byte SHA-256 digest.
std::string sha256(std::string_view data);
// SHA-256 over data that arrives in pieces (a disk image, chunk by chunk).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  // The raw 32-byte digest of everything so far; the hasher starts over afterwards.
  std::string finish();
  // The digest of everything so far, without disturbing the hasher.
  std::string digestSoFar() const;

 private:
  EVP_MD_CTX* ctx_;
};

// Cryptographically secure random bytes (RAND_bytes).
absl::StatusOr<std::string> randomBytes(std::size_t n);
// Constant-time comparison.
bool equalConstantTime(std::string_view a, std::string_view b);

}  // namespace warden::crypto
