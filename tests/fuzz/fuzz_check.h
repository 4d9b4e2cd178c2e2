// What the fuzz targets share: FUZZ_CHECK aborts (a crash libFuzzer and the replay test both
// report, with the broken invariant) when a parser breaks one of its promises.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (false)

namespace warden::fuzz {

inline std::string_view asText(const std::uint8_t* data, std::size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// The input cut in two at its first NUL byte (the second part empty without one): for targets
// that take two texts.
inline std::pair<std::string, std::string> splitAtNul(std::string_view in) {
  const std::size_t at = in.find('\0');
  if (at == std::string_view::npos) return {std::string(in), std::string()};
  return {std::string(in.substr(0, at)), std::string(in.substr(at + 1))};
}

}  // namespace warden::fuzz
