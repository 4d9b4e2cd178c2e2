#include "common/canonical.h"

#include "absl/strings/str_format.h"

namespace warden {

CanonicalWriter::CanonicalWriter(std::string_view type) {
  out_.append("warden/");
  out_.append(type);
  out_.push_back('\n');
}

CanonicalWriter& CanonicalWriter::u64(std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out_.push_back(static_cast<char>(v >> shift));
  return *this;
}

CanonicalWriter& CanonicalWriter::i64(std::int64_t v) { return u64(static_cast<std::uint64_t>(v)); }

CanonicalWriter& CanonicalWriter::str(std::string_view v) {
  const auto n = static_cast<std::uint32_t>(v.size());
  for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>(n >> shift));
  out_.append(v);
  return *this;
}

CanonicalWriter& CanonicalWriter::list(const std::vector<std::string>& v) {
  const auto n = static_cast<std::uint32_t>(v.size());
  for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<char>(n >> shift));
  for (const auto& s : v) str(s);
  return *this;
}

absl::StatusOr<CanonicalReader> CanonicalReader::open(std::string_view data,
                                                      std::string_view type) {
  const std::string tag = absl::StrFormat("warden/%s\n", type);
  if (data.substr(0, tag.size()) != tag) {
    return absl::InvalidArgumentError(absl::StrFormat("not a canonical %s record", type));
  }
  return CanonicalReader(data.substr(tag.size()), std::string(type));
}

absl::Status CanonicalReader::truncated(const char* what) const {
  return absl::InvalidArgumentError(
      absl::StrFormat("truncated canonical %s record (reading %s)", type_, what));
}

absl::StatusOr<std::uint64_t> CanonicalReader::u64() {
  if (rest_.size() < 8) return truncated("integer");
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(rest_[i]);
  rest_.remove_prefix(8);
  return v;
}

absl::StatusOr<std::int64_t> CanonicalReader::i64() {
  auto v = u64();
  if (!v.ok()) return v.status();
  return static_cast<std::int64_t>(*v);
}

absl::StatusOr<std::string> CanonicalReader::str() {
  if (rest_.size() < 4) return truncated("length");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<std::uint8_t>(rest_[i]);
  if (n > kMaxCanonicalField) {
    return absl::InvalidArgumentError(
        absl::StrFormat("canonical %s record: field of %u bytes exceeds the limit", type_, n));
  }
  if (rest_.size() - 4 < n) return truncated("string");
  std::string s(rest_.substr(4, n));
  rest_.remove_prefix(4 + n);
  return s;
}

absl::StatusOr<std::vector<std::string>> CanonicalReader::list() {
  if (rest_.size() < 4) return truncated("count");
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | static_cast<std::uint8_t>(rest_[i]);
  rest_.remove_prefix(4);
  // Each element needs at least its 4-byte length: reject counts the input cannot hold.
  if (n > rest_.size() / 4) return truncated("list");
  std::vector<std::string> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    auto s = str();
    if (!s.ok()) return s.status();
    out.push_back(std::move(*s));
  }
  return out;
}

absl::Status CanonicalReader::version(std::uint64_t& v, std::uint64_t expected,
                                      std::string_view what) {
  auto got = u64();
  if (!got.ok()) return got.status();
  v = *got;
  if (v != expected) {
    return absl::InvalidArgumentError(absl::StrFormat("unsupported %s version %d", what, v));
  }
  return absl::OkStatus();
}

namespace {

// Each get() is the matching reader above, into a field.
template <typename T>
absl::Status assign(absl::StatusOr<T> value, T& field) {
  if (!value.ok()) return value.status();
  field = std::move(*value);
  return absl::OkStatus();
}

}  // namespace

absl::Status CanonicalReader::get(std::uint64_t& v) { return assign(u64(), v); }
absl::Status CanonicalReader::get(std::int64_t& v) { return assign(i64(), v); }
absl::Status CanonicalReader::get(std::string& v) { return assign(str(), v); }
absl::Status CanonicalReader::get(std::vector<std::string>& v) { return assign(list(), v); }

absl::Status CanonicalReader::done() const {
  if (!rest_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("canonical %s record has %d trailing bytes", type_, rest_.size()));
  }
  return absl::OkStatus();
}

}  // namespace warden
