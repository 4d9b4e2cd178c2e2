#include "common/json.h"

#include "absl/strings/str_format.h"

namespace warden {

std::size_t utf8Length(std::string_view v) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(v[i]); };
  const unsigned char c = b(0);
  std::size_t n = c < 0x80                 ? 1
                  : c >= 0xC2 && c <= 0xDF ? 2
                  : c >= 0xE0 && c <= 0xEF ? 3
                  : c >= 0xF0 && c <= 0xF4 ? 4
                                           : 0;
  if (n == 0 || v.size() < n) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
  }
  if (n == 3 && ((c == 0xE0 && b(1) < 0xA0) || (c == 0xED && b(1) > 0x9F))) return 0;
  if (n == 4 && ((c == 0xF0 && b(1) < 0x90) || (c == 0xF4 && b(1) > 0x8F))) return 0;
  return n;
}

std::string jsonString(std::string_view v) {
  std::string out = "\"";
  while (!v.empty()) {
    const std::size_t n = utf8Length(v);
    const unsigned char ch = static_cast<unsigned char>(v[0]);
    if (n > 1) {
      out.append(v.substr(0, n));
      v.remove_prefix(n);
      continue;
    }
    v.remove_prefix(1);
    if (n == 0) {
      out += "\\ufffd";  // not UTF-8: the replacement character keeps the JSON valid
    } else if (ch == '"') {
      out += "\\\"";
    } else if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch < 0x20 || ch == 0x7f) {
      out += absl::StrFormat("\\u%04x", ch);
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

}  // namespace warden
