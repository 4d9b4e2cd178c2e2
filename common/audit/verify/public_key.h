// A raw Ed25519 public key as the verifier holds it: fixed size, no allocation, cheap to copy
// into each signature check.
#pragma once

#include <array>
#include <cstring>
#include <string_view>

namespace warden::audit_verify {

using PublicKey = std::array<char, 32>;

// The first 32 bytes of `key`; callers check its size first.
inline PublicKey keyArray(std::string_view key) {
  PublicKey out{};
  std::memcpy(out.data(), key.data(), out.size());
  return out;
}

}  // namespace warden::audit_verify
