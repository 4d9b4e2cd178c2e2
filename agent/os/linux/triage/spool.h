// Scratch space for the bundle's outputs whose size is known only at their end (command
// output, procfs files, generated tables): the tar header needs the size first. Outputs are
// spooled, capped by the limits, into an unnamed O_TMPFILE next to the bundle (a memfd where
// that file system has none), so memory stays bounded.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace warden::triage {

// At most `cap` bytes. Appends past the cap are refused (append) or cut (appendSome) and
// remembered; a write failure is kept in status() and ends all further appends.
class Spool {
 public:
  // An unnamed file in `dir` (a memfd where that file system has none, or when `dir` is "":
  // the sandboxed collector may create no file); `what` names it in errors.
  static absl::StatusOr<Spool> create(const std::string& dir, std::uint64_t cap, std::string what);

  // All of `d` or nothing, leaving `keep_free` bytes of the cap unused.
  bool append(std::string_view d, std::uint64_t keep_free = 0);
  // As much of `d` as fits.
  void appendSome(std::string_view d);
  // What was to be written went past the cap before it got here (a child's output cut by
  // the runner).
  void noteOverflow() { overflow_ = true; }

  bool overflowed() const { return overflow_; }
  const absl::Status& status() const { return status_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t cap() const { return cap_; }
  int fd() const { return fd_.get(); }

 private:
  Spool(UniqueFd fd, std::uint64_t cap, std::string what)
      : fd_(std::move(fd)), cap_(cap), what_(std::move(what)) {}
  void write(std::string_view d);

  UniqueFd fd_;
  std::uint64_t cap_;
  std::string what_;
  std::uint64_t size_ = 0;
  bool overflow_ = false;
  absl::Status status_;
};

}  // namespace warden::triage
