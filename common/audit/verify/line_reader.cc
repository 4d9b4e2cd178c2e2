#include "common/audit/verify/line_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/audit/export_format.h"
#include "common/status.h"

namespace warden::audit_verify {
namespace {

constexpr std::size_t kReadChunk = 4 << 20;
constexpr std::size_t kMinChunk = 4 << 10;

}  // namespace

absl::Status LineReader::open(const std::string& path) {
  path_ = path;
  fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd_.ok()) return errnoStatus("open", path, errno);
  // A small export gets a small buffer: zeroing 4 MiB for a few lines costs more than reading
  // them (the fuzz target runs thousands a second).
  chunk_ = kReadChunk;
  struct stat st {};
  if (::fstat(fd_.get(), &st) == 0 && S_ISREG(st.st_mode)) {
    chunk_ =
        std::clamp<std::size_t>(static_cast<std::size_t>(st.st_size) + 1, kMinChunk, kReadChunk);
  }
  buf_.resize(chunk_);
  return absl::OkStatus();
}

absl::StatusOr<LineReader::Result> LineReader::next(std::string_view* line) {
  for (;;) {
    const char* nl =
        static_cast<const char*>(std::memchr(buf_.data() + scanned_, '\n', end_ - scanned_));
    if (nl != nullptr) {
      const std::size_t at = static_cast<std::size_t>(nl - buf_.data());
      const std::size_t length = at - begin_;
      *line = std::string_view(buf_.data() + begin_, length);
      begin_ = scanned_ = at + 1;
      ++line_;
      return length > kAuditExportMaxLine ? Result::kTooLong : Result::kLine;
    }
    scanned_ = end_;
    if (end_ - begin_ > kAuditExportMaxLine) {
      ++line_;
      return Result::kTooLong;
    }
    if (eof_) {
      if (begin_ == end_) return Result::kEof;
      *line = std::string_view(buf_.data() + begin_, end_ - begin_);
      begin_ = scanned_ = end_;
      ++line_;
      return Result::kUnterminated;
    }
    // Keep the partial line, make room for the next chunk.
    if (begin_ > 0) {
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      scanned_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < chunk_ / 2) buf_.resize(buf_.size() + chunk_);
    const ssize_t n = ::read(fd_.get(), buf_.data() + end_, buf_.size() - end_);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("read", path_, errno);
    }
    if (n == 0) eof_ = true;
    end_ += static_cast<std::size_t>(n);
  }
}

}  // namespace warden::audit_verify
