#include "common/ssh_fingerprint.h"

namespace warden {

bool validSshFingerprint(std::string_view fingerprint) {
  constexpr std::string_view kPrefix = "SHA256:";
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (!fingerprint.starts_with(kPrefix) || fingerprint.size() != kPrefix.size() + 43) return false;
  const std::string_view b64 = fingerprint.substr(kPrefix.size());
  for (char c : b64) {
    if (kAlphabet.find(c) == std::string_view::npos) return false;
  }
  // 256 bits in 43 characters use 258: the last character's two low bits are padding zeros.
  return kAlphabet.find(b64.back()) % 4 == 0;
}

}  // namespace warden
