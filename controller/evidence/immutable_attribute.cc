#include "controller/evidence/immutable_attribute.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "common/unique_fd.h"

namespace warden {
namespace {

// Opens `path` (never through a symlink), reads its inode flags, lets `change` edit them and
// writes them back when it asks to (ioctl_iflags(2): the argument is an int, read first so
// that file system flags such as ext4's EXTENTS_FL are kept). False, with `why`, on an error.
bool editFlags(const std::string& path, std::string* why,
               const std::function<bool(int& flags)>& change) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.ok()) {
    *why = std::strerror(errno);
    return false;
  }
  int flags = 0;
  bool ok = ::ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0;
  if (ok && change(flags)) ok = ::ioctl(fd.get(), FS_IOC_SETFLAGS, &flags) == 0;
  if (!ok) {
    const int err = errno;
    *why = err == EPERM ? "not permitted (the controller needs CAP_LINUX_IMMUTABLE)"
           : err == ENOTTY || err == EOPNOTSUPP || err == EINVAL
               ? "the file system does not support the immutable attribute"
               : std::strerror(err);
  }
  return ok;
}

}  // namespace

bool makeImmutable(const std::string& path, std::string* why) {
  return editFlags(path, why, [](int& flags) {
    flags |= FS_IMMUTABLE_FL;
    return true;
  });
}

bool clearImmutable(const std::string& path, std::string* why) {
  return editFlags(path, why, [](int& flags) {
    if ((flags & FS_IMMUTABLE_FL) == 0) return false;
    flags &= ~FS_IMMUTABLE_FL;
    return true;
  });
}

bool isImmutable(const std::string& path, std::string* why) {
  bool set = false;
  const bool ok = editFlags(path, why, [&](int& flags) {
    set = (flags & FS_IMMUTABLE_FL) != 0;
    return false;
  });
  return ok && set;
}

}  // namespace warden
