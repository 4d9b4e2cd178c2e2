#include "agent/os/linux/triage/spool.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "common/status.h"

namespace warden::triage {

absl::StatusOr<Spool> Spool::create(const std::string& dir, std::uint64_t cap, std::string what) {
  UniqueFd fd;
  if (dir.empty()) {
    fd.reset(::memfd_create("warden-triage", MFD_CLOEXEC));
    if (!fd.ok()) return errnoStatus("create", what, errno);
    return Spool(std::move(fd), cap, std::move(what));
  }
  fd.reset(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd.ok()) {
    const int err = errno;
    if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL) {
      return errnoStatus("create", what, err);
    }
    fd.reset(::memfd_create("warden-triage", MFD_CLOEXEC));
    if (!fd.ok()) return errnoStatus("create", what, errno);
  }
  return Spool(std::move(fd), cap, std::move(what));
}

bool Spool::append(std::string_view d, std::uint64_t keep_free) {
  if (!status_.ok()) return false;
  if (size_ + d.size() + keep_free > cap_) {
    overflow_ = true;
    return false;
  }
  write(d);
  return status_.ok();
}

void Spool::appendSome(std::string_view d) {
  if (!status_.ok()) return;
  const std::uint64_t room = cap_ - size_;
  if (d.size() > room) {
    overflow_ = true;
    d = d.substr(0, room);
  }
  write(d);
}

void Spool::write(std::string_view d) {
  while (!d.empty()) {
    const ssize_t w = ::write(fd_.get(), d.data(), d.size());
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      status_ = errnoStatus("write", what_, errno);
      return;
    }
    d.remove_prefix(static_cast<std::size_t>(w));
    size_ += static_cast<std::uint64_t>(w);
  }
}

}  // namespace warden::triage
