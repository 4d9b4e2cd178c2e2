#include "common/json.h"

#include <string>

namespace warden {

TextUnit nextTextUnit(std::string_view v) {
  const std::size_t n = utf8Length(v);  // RFC 3629 §4; 0 when invalid
  if (n == 0) return TextUnit{1, false};
  const unsigned char c = static_cast<unsigned char>(v[0]);
  const unsigned char c1 = n > 1 ? static_cast<unsigned char>(v[1]) : 0;
  const unsigned char c2 = n > 2 ? static_cast<unsigned char>(v[2]) : 0;
  const bool c0_control = n == 1 && (c < 0x20 || c == 0x7f);
  const bool c1_control = n == 2 && c == 0xC2 && c1 <= 0x9F;
  const bool bidi =
      n == 3 && c == 0xE2 &&
      ((c1 == 0x80 && c2 >= 0xAA && c2 <= 0xAE) || (c1 == 0x81 && c2 >= 0xA6 && c2 <= 0xA9));
  return TextUnit{n, !(c0_control || c1_control || bidi)};
}

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

bool validUtf8(std::string_view v) {
  while (!v.empty()) {
    const std::size_t n = utf8Length(v);
    if (n == 0) return false;
    v.remove_prefix(n);
  }
  return true;
}

std::string dumpJson(const Json& j, int indent) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

absl::StatusOr<Json> parseJson(std::string_view text, std::string_view what) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(std::string(what) + " is not valid JSON: " + e.what());
  }
}

namespace {

void appendLaidOut(std::string& out, const Json& j, const JsonLayout& layout, bool top) {
  if (!j.is_object() && !j.is_array()) {
    out += dumpJson(j);
    return;
  }
  const bool object = j.is_object();
  const bool per_line = top && object && layout.field_per_line;
  const char* between = per_line ? ",\n" : layout.spaced ? ", " : ",";
  out += object ? '{' : '[';
  if (per_line) out += '\n';
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it != j.begin()) out += between;
    if (object) {
      out += dumpJson(Json(it.key()));
      out += layout.spaced ? ": " : ":";
    }
    if (top && object && !layout.rows_key.empty() && it.key() == layout.rows_key &&
        it.value().is_array()) {
      out += '[';
      for (std::size_t i = 0; i < it.value().size(); ++i) {
        out += i == 0 ? "\n" : ",\n";
        out += layout.row_indent;
        appendLaidOut(out, it.value()[i], layout, false);
      }
      out += "\n]";
    } else {
      appendLaidOut(out, it.value(), layout, false);
    }
  }
  if (per_line) out += '\n';
  out += object ? '}' : ']';
}

}  // namespace

std::string dumpJson(const Json& j, const JsonLayout& layout) {
  std::string out;
  appendLaidOut(out, j, layout, true);
  return out;
}

}  // namespace warden
