// Canonical bytes for everything Warden signs or logs. A fixed, deterministic encoding —
// never a re-serialised protobuf, whose bytes are not guaranteed stable — so a signature
// made today verifies byte for byte years later, with any implementation.
//
// Layout: the ASCII tag "warden/<type>\n", then the fields in a fixed order:
//   u64/i64  8 bytes, big-endian (two's complement for i64)
//   string   u32 big-endian length, then the bytes
//   list     u32 big-endian count, then each string
// Readers are strict: wrong tag, short input, oversized length or trailing bytes are errors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

inline constexpr std::size_t kMaxCanonicalField = 4 << 20;  // bounds what a peer can make us hold

class CanonicalWriter {
 public:
  explicit CanonicalWriter(std::string_view type);
  CanonicalWriter& u64(std::uint64_t v);
  CanonicalWriter& i64(std::int64_t v);
  CanonicalWriter& str(std::string_view v);
  CanonicalWriter& list(const std::vector<std::string>& v);
  // Each field by its type: std::uint64_t as u64, std::int64_t as i64, strings as str, string
  // vectors as list. A record's field order is then written down once, in one call.
  template <typename... Fields>
  CanonicalWriter& fields(const Fields&... f) {
    (put(f), ...);
    return *this;
  }
  std::string finish() && { return std::move(out_); }
  const std::string& bytes() const { return out_; }

 private:
  void put(std::uint64_t v) { u64(v); }
  void put(std::int64_t v) { i64(v); }
  void put(std::string_view v) { str(v); }
  void put(const std::vector<std::string>& v) { list(v); }

  std::string out_;
};

// The canonical bytes of a record of `type` holding `fields`, in order (see fields()).
template <typename... Fields>
std::string canonicalRecord(std::string_view type, const Fields&... fields) {
  CanonicalWriter w(type);
  w.fields(fields...);
  return std::move(w).finish();
}

class CanonicalReader {
 public:
  // Fails unless `data` starts with the tag for `type`.
  static absl::StatusOr<CanonicalReader> open(std::string_view data, std::string_view type);
  absl::StatusOr<std::uint64_t> u64();
  absl::StatusOr<std::int64_t> i64();
  absl::StatusOr<std::string> str();
  absl::StatusOr<std::vector<std::string>> list();
  // A record's version, first of its fields: InvalidArgument "unsupported WHAT version N"
  // unless it is `expected`.
  absl::Status version(std::uint64_t& v, std::uint64_t expected, std::string_view what);
  // Reads each field by its type, as CanonicalWriter::fields() writes them; the first error
  // stops it.
  template <typename... Fields>
  absl::Status fields(Fields&... f) {
    absl::Status status;
    // (void): clang warns that a fold's result is unused; it is only there to stop early.
    (void)(((status = get(f), status.ok()) && ...));
    return status;
  }
  // OK only when every byte was consumed.
  absl::Status done() const;

 private:
  absl::Status get(std::uint64_t& v);
  absl::Status get(std::int64_t& v);
  absl::Status get(std::string& v);
  absl::Status get(std::vector<std::string>& v);

  CanonicalReader(std::string_view rest, std::string type) : rest_(rest), type_(std::move(type)) {}
  absl::Status truncated(const char* what) const;
  std::string_view rest_;
  std::string type_;
};

// Reads a whole versioned record: the tag of `type`, the version (which must be `expected`, see
// CanonicalReader::version()), then `fields` in order, with nothing left over.
template <typename... Fields>
absl::Status readCanonicalRecord(std::string_view bytes, std::string_view type,
                                 std::string_view what, std::uint64_t expected,
                                 std::uint64_t& version, Fields&... fields) {
  auto r = CanonicalReader::open(bytes, type);
  if (!r.ok()) return r.status();
  if (auto s = r->version(version, expected, what); !s.ok()) return s;
  if (auto s = r->fields(fields...); !s.ok()) return s;
  return r->done();
}

}  // namespace warden
