#include "common/alerts/payload_common.h"

#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "common/status.h"

namespace warden {

const char* alertFormatName(AlertFormat f) {
  switch (f) {
    case AlertFormat::kAlertmanager:
      return "alertmanager";
    case AlertFormat::kFalco:
      return "falco";
    case AlertFormat::kJson:
      return "json";
  }
  return "unknown";
}

namespace {

// Brackets outside strings, without parsing: the body is refused before nlohmann's parser sees
// a deeper document. Text that is not JSON may fool the count; the parser refuses it anyway.
absl::Status checkDepth(std::string_view body) {
  std::size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxPayloadDepth) {
        return absl::InvalidArgumentError(
            absl::StrFormat("body: nested more than %d deep at byte %d", kMaxPayloadDepth, i));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return absl::OkStatus();
}

// A second pass over a body that did not parse, for nlohmann's account of where and why (the
// first pass, without exceptions, only says that it failed).
class ParseErrorSax : public nlohmann::json_sax<PayloadJson> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    message_ = ex.what();
    return false;
  }
  const std::string& message() const { return message_; }

 private:
  std::string message_;
};

}  // namespace

absl::StatusOr<PayloadJson> parsePayloadJson(std::string_view body) {
  if (body.empty()) return absl::InvalidArgumentError("body: empty");
  if (body.size() > kMaxAlertBodyBytes) {
    return absl::InvalidArgumentError(absl::StrFormat("body: %d bytes, more than the limit of %d",
                                                      body.size(), kMaxAlertBodyBytes));
  }
  WARDEN_RETURN_IF_ERROR(checkDepth(body));
  PayloadJson doc = PayloadJson::parse(body.begin(), body.end(), nullptr,
                                       /*allow_exceptions=*/false);
  if (!doc.is_discarded()) return doc;
  ParseErrorSax sax;
  PayloadJson::sax_parse(body.begin(), body.end(), &sax);
  std::string why = sax.message();
  // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." without the tag.
  if (const std::size_t tag_end = why.find("] ");
      !why.empty() && why[0] == '[' && tag_end != std::string::npos) {
    why.erase(0, tag_end + 2);
  }
  if (why.empty()) why = "unexpected end";
  return absl::InvalidArgumentError("body: not JSON: " + printableText(why, 200));
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, "chrono-Compatible Low-Level
// Date Algorithms", days_from_civil).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

unsigned daysInMonth(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : kDays[m - 1];
}

// Go's time.Time{} as Unix milliseconds.
constexpr std::int64_t kGoZeroTimeUnixMs = -62135596800000;

}  // namespace

absl::StatusOr<std::int64_t> parseRfc3339UnixMs(std::string_view text) {
  if (text.empty()) return 0;
  const auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("\"%s\" is not an RFC 3339 time (%s)", printableText(text), why));
  };
  std::size_t at = 0;
  // `n` digits at `at`, as a number; -1 when they are not all there.
  const auto digits = [&](std::size_t n) -> std::int64_t {
    if (text.size() < at + n) return -1;
    std::int64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const char c = text[at + i];
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    at += n;
    return v;
  };
  const auto literal = [&](std::string_view choices) {
    if (at >= text.size() || choices.find(text[at]) == std::string_view::npos) return false;
    ++at;
    return true;
  };
  const std::int64_t year = digits(4);
  if (year < 0 || !literal("-")) return bad("expected YYYY-");
  const std::int64_t month = digits(2);
  if (month < 1 || month > 12 || !literal("-")) return bad("expected a month 01-12, then -");
  const std::int64_t day = digits(2);
  if (day < 1 || day > daysInMonth(year, static_cast<unsigned>(month))) {
    return bad("no such day in that month");
  }
  if (!literal("Tt")) return bad("expected T after the date");
  const std::int64_t hour = digits(2);
  if (hour < 0 || hour > 23 || !literal(":")) return bad("expected an hour 00-23, then :");
  const std::int64_t minute = digits(2);
  if (minute < 0 || minute > 59 || !literal(":")) return bad("expected a minute 00-59, then :");
  const std::int64_t second = digits(2);  // 60: a leap second (§5.7)
  if (second < 0 || second > 60) return bad("expected a second 00-60");
  std::int64_t millis = 0;
  if (literal(".")) {
    std::size_t n = 0;
    for (; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++n) {
      if (n < 3) millis = millis * 10 + (text[at] - '0');
    }
    if (n == 0) return bad("expected digits after the decimal point");
    for (; n < 3; ++n) millis *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (!literal("Zz")) {
    if (at >= text.size() || (text[at] != '+' && text[at] != '-')) {
      return bad("expected Z or an offset +hh:mm");
    }
    const bool west = text[at++] == '-';
    const std::int64_t oh = digits(2);
    if (oh < 0 || oh > 23 || !literal(":")) return bad("expected an offset hour 00-23, then :");
    const std::int64_t om = digits(2);
    if (om < 0 || om > 59) return bad("expected offset minutes 00-59");
    offset_minutes = (west ? -1 : 1) * (oh * 60 + om);
  }
  if (at != text.size()) return bad("text after the time");
  const std::int64_t seconds =
      daysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offset_minutes * 60;
  const std::int64_t ms = seconds * 1000 + millis;
  return ms == kGoZeroTimeUnixMs ? 0 : ms;
}

std::string labelsFingerprint(const std::map<std::string, std::string>& labels) {
  std::string text;
  for (const auto& [name, value] : labels) {
    text += name;
    text += '\xff';
    text += value;
    text += '\xff';
  }
  return crypto::hex(crypto::sha256(text).substr(0, 16));
}

std::string printableText(std::string_view text, std::size_t max_bytes) {
  std::string out;
  while (!text.empty()) {
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    const TextUnit unit = nextTextUnit(text);
    if (unit.safe) {
      out.append(text.substr(0, unit.size));
    } else {
      out += '?';
    }
    text.remove_prefix(unit.size);
  }
  return out;
}

std::string memberPath(std::string_view parent, std::string_view key) {
  std::string path(parent);
  if (!path.empty()) path += '.';
  return path + printableText(key);
}

std::string indexPath(std::string_view parent, std::size_t index) {
  return absl::StrFormat("%s[%d]", parent, index);
}

absl::Status wrongType(std::string_view path, std::string_view expected, const PayloadJson& got) {
  return absl::InvalidArgumentError(
      absl::StrFormat("%s: expected %s, got %s", path, expected, got.type_name()));
}

absl::Status checkText(std::string_view path, std::string_view text, std::size_t max_bytes) {
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d bytes, more than the limit of %d", path, text.size(), max_bytes));
  }
  if (!validUtf8(text)) return absl::InvalidArgumentError(std::string(path) + ": not UTF-8");
  return absl::OkStatus();
}

const PayloadJson* findMember(const PayloadJson& obj, std::string_view key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::string> readString(const PayloadJson& obj, std::string_view parent,
                                       std::string_view key, std::size_t max_bytes) {
  const PayloadJson* v = findMember(obj, key);
  if (v == nullptr) return std::string();
  const std::string path = memberPath(parent, key);
  if (!v->is_string()) return wrongType(path, "a string", *v);
  const auto& s = v->get_ref<const std::string&>();
  WARDEN_RETURN_IF_ERROR(checkText(path, s, max_bytes));
  return s;
}

absl::StatusOr<std::int64_t> readTime(const PayloadJson& obj, std::string_view parent,
                                      std::string_view key) {
  const PayloadJson* v = findMember(obj, key);
  if (v == nullptr) return 0;
  const std::string path = memberPath(parent, key);
  if (!v->is_string()) return wrongType(path, "an RFC 3339 time string", *v);
  absl::StatusOr<std::int64_t> ms = parseRfc3339UnixMs(v->get_ref<const std::string&>());
  if (!ms.ok()) return absl::InvalidArgumentError(path + ": " + std::string(ms.status().message()));
  return ms;
}

absl::StatusOr<std::map<std::string, std::string>> readStringMap(const PayloadJson& obj,
                                                                 std::string_view parent,
                                                                 std::string_view key,
                                                                 bool required) {
  std::map<std::string, std::string> out;
  const std::string path = memberPath(parent, key);
  const PayloadJson* m = findMember(obj, key);
  if (m == nullptr) {
    if (required) return absl::InvalidArgumentError(path + ": missing");
    return out;
  }
  if (!m->is_object()) return wrongType(path, "an object of strings", *m);
  if (m->size() > kMaxLabels) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: %d entries, more than the limit of %d", path, m->size(), kMaxLabels));
  }
  for (const auto& [name, value] : m->items()) {
    if (name.empty()) return absl::InvalidArgumentError(path + ": an empty name");
    WARDEN_RETURN_IF_ERROR(checkText(path + ": a name", name));
    const std::string value_path = memberPath(path, name);
    if (!value.is_string()) return wrongType(value_path, "a string", value);
    const auto& text = value.get_ref<const std::string&>();
    WARDEN_RETURN_IF_ERROR(checkText(value_path, text));
    out.emplace(name, text);
  }
  return out;
}

absl::StatusOr<std::string> readFingerprint(const PayloadJson& obj, std::string_view parent,
                                            std::string_view key,
                                            const std::map<std::string, std::string>& labels) {
  WARDEN_ASSIGN_OR_RETURN(std::string given, readString(obj, parent, key));
  if (!given.empty()) return given;
  return labelsFingerprint(labels);
}

}  // namespace warden
