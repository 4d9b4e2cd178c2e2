#include "common/crypto/encoding.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_format.h"

namespace warden::crypto {
namespace {

constexpr char kBase64Std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encodeBase64(std::string_view bytes, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                      (static_cast<std::uint8_t>(bytes[i + 1]) << 8) |
                      static_cast<std::uint8_t>(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t v = static_cast<std::uint8_t>(bytes[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    std::uint32_t v = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                      (static_cast<std::uint8_t>(bytes[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

// Strict decoder: one canonical encoding per byte string. No whitespace, padding exactly where
// RFC 4648 puts it (or nowhere, for the unpadded form), and unused trailing bits must be zero,
// so a signed value cannot be re-encoded into a different-looking but equal string.
absl::StatusOr<std::string> decodeBase64(std::string_view text, const char* alphabet, bool padded,
                                         std::string_view name) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrFormat("Invalid %s: %s", name, why));
  };
  std::size_t data_len = text.size();
  if (padded) {
    if (text.size() % 4 != 0) return invalid("length is not a multiple of 4");
    if (data_len > 0 && text[data_len - 1] == '=') --data_len;
    if (data_len > 0 && text[data_len - 1] == '=') --data_len;
    // Anything else that looks like padding ("x===", "a=bc") fails below as a stray '='.
  } else if (data_len % 4 == 1) {
    return invalid("impossible length");
  }
  int8_t lookup[256];
  std::memset(lookup, -1, sizeof lookup);
  for (int i = 0; i < 64; ++i)
    lookup[static_cast<std::uint8_t>(alphabet[i])] = static_cast<int8_t>(i);

  // Written by index into the largest size the input can decode to, then cut: the verifier
  // decodes every line of an export here, and per-byte appends cost it ~10% of this loop.
  std::string out(data_len / 4 * 3 + 2, '\0');
  std::size_t n = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < data_len; ++i) {
    int8_t v = lookup[static_cast<std::uint8_t>(text[i])];
    if (v < 0) {
      return text[i] == '=' ? invalid("bad padding")
                            : invalid(absl::StrFormat("bad character at offset %d", i));
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<char>((acc >> bits) & 0xff);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return invalid("non-zero trailing bits");
  out.resize(n);
  return out;
}

}  // namespace

std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

absl::StatusOr<std::string> unhex(std::string_view text) {
  if (text.size() % 2 != 0) return absl::InvalidArgumentError("Invalid hex: odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int hi = nibble(text[i]);
    int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("Invalid hex: bad character at offset %d", hi < 0 ? i : i + 1));
    }
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string base64(std::string_view bytes) { return encodeBase64(bytes, kBase64Std, true); }

absl::StatusOr<std::string> unbase64(std::string_view text) {
  return decodeBase64(text, kBase64Std, true, "base64");
}

std::string base64url(std::string_view bytes) { return encodeBase64(bytes, kBase64Url, false); }

absl::StatusOr<std::string> unbase64url(std::string_view text) {
  return decodeBase64(text, kBase64Url, false, "base64url");
}

}  // namespace warden::crypto
