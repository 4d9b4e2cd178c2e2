// Reads an export file line by line, in large chunks, without copying the lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace warden::audit_verify {

// The export's lines, read 4 MiB at a time into one buffer that only grows for a line longer
// than what it holds (up to kAuditExportMaxLine).
class LineReader {
 public:
  enum class Result { kLine, kEof, kTooLong, kUnterminated };

  LineReader() = default;
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // NotFound when `path` is missing, else the errno text.
  absl::Status open(const std::string& path);

  std::uint64_t lineNumber() const { return line_; }

  // The next line, without its '\n'; valid until the next call. kTooLong past
  // kAuditExportMaxLine bytes, kUnterminated for a last line without its '\n'.
  absl::StatusOr<Result> next(std::string_view* line);

 private:
  std::string path_;
  UniqueFd fd_;
  std::vector<char> buf_;
  std::size_t chunk_ = 0;    // read and growth unit
  std::size_t begin_ = 0;    // start of the unread data
  std::size_t scanned_ = 0;  // no '\n' in [begin_, scanned_)
  std::size_t end_ = 0;      // end of the data read
  bool eof_ = false;
  std::uint64_t line_ = 0;
};

}  // namespace warden::audit_verify
