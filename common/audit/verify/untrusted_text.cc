#include "common/audit/verify/untrusted_text.h"

#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"

namespace warden::audit_verify {

std::string printableAscii(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("\\x%02x", c);
    }
  }
  return out;
}

std::string quote(std::string_view text) {
  constexpr std::size_t kMax = 48;
  const std::string_view head = text.substr(0, kMax);
  std::string out = absl::CHexEscape(absl::string_view(head.data(), head.size()));
  if (text.size() > kMax) out += "...";
  return "'" + out + "'";
}

std::optional<std::uint64_t> parseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace warden::audit_verify
