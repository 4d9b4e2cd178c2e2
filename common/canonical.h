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
  std::string finish() && { return std::move(out_); }
  const std::string& bytes() const { return out_; }

 private:
  std::string out_;
};

class CanonicalReader {
 public:
  // Fails unless `data` starts with the tag for `type`.
  static absl::StatusOr<CanonicalReader> open(std::string_view data, std::string_view type);
  absl::StatusOr<std::uint64_t> u64();
  absl::StatusOr<std::int64_t> i64();
  absl::StatusOr<std::string> str();
  absl::StatusOr<std::vector<std::string>> list();
  // OK only when every byte was consumed.
  absl::Status done() const;

 private:
  CanonicalReader(std::string_view rest, std::string type) : rest_(rest), type_(std::move(type)) {}
  absl::Status truncated(const char* what) const;
  std::string_view rest_;
  std::string type_;
};

}  // namespace warden
