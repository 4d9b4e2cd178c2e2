#include "agent/os/linux/triage/root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace warden::triage {

std::string cleanPath(const std::string& p) {
  if (p.empty() || p[0] != '/') return "";
  std::vector<absl::string_view> parts;
  for (absl::string_view c : absl::StrSplit(p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  return parts.empty() ? "/" : absl::StrCat("/", absl::StrJoin(parts, "/"));
}

std::string joinPath(const std::string& dir, const std::string& rel) {
  return cleanPath(absl::StrCat(dir, "/", rel));
}

std::string memberName(const std::string& path) { return absl::StrCat("files", path); }

int openDirectoryNoFollow(int dirfd, const char* name) {
  const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  const int fd = ::openat(dirfd, name, flags | O_NOATIME);
  return fd >= 0 || errno != EPERM ? fd : ::openat(dirfd, name, flags);
}

int openNoFollow(int dirfd, const char* name) {
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  const int fd = ::openat(dirfd, name, flags | O_NOATIME);
  if (fd >= 0 || errno != EPERM) return fd;
  return ::openat(dirfd, name, flags);
}

std::string readLinkAt(int dirfd, const char* name, int* err) {
  char target[PATH_MAX + 1];
  const ssize_t n = ::readlinkat(dirfd, name, target, sizeof(target));
  if (n < 0) {
    *err = errno;
    return "";
  }
  *err = 0;
  return std::string(target, static_cast<std::size_t>(std::min<ssize_t>(n, PATH_MAX)));
}

int readAll(int fd, std::string& out, std::size_t max) {
  out.clear();
  char buf[65536];
  while (out.size() < max) {
    const ssize_t n = ::read(fd, buf, std::min(sizeof(buf), max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return 0;
}

std::string procFdPath(int fd) {
  int err = 0;
  return readLinkAt(AT_FDCWD, absl::StrCat("/proc/self/fd/", fd).c_str(), &err);
}

absl::Status TriageRoot::open(const std::string& root) {
  if (root.empty() || root[0] != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("triage root must be an absolute path, not \"", root, "\""));
  }
  fd_.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd_.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Failed to open triage root ", root, ": ", std::strerror(errno)));
  }
  real_ = procFdPath(fd_.get());
  if (real_.empty()) real_ = cleanPath(root);
  return absl::OkStatus();
}

int TriageRoot::openPath(const std::string& path, int flags) const {
  const std::string rel = path == "/" ? "." : path.substr(1);
  const auto open = [&](int f) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(f | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 8; ++attempt) {
      const int fd =
          static_cast<int>(::syscall(SYS_openat2, fd_.get(), rel.c_str(), &how, sizeof(how)));
      if (fd >= 0 || errno != EAGAIN) {  // EAGAIN: a concurrent rename, see openat2(2)
        if (fd < 0 && errno == ENOSYS) return ::openat(fd_.get(), rel.c_str(), f | O_CLOEXEC);
        return fd;
      }
    }
    return -1;
  };
  if ((flags & O_PATH) != 0) return open(flags);
  const int fd = open(flags | O_NOATIME);
  return fd >= 0 || errno != EPERM ? fd : open(flags);
}

std::string TriageRoot::physicalPath(int fd) const {
  const std::string p = procFdPath(fd);
  if (p.empty() || p[0] != '/' || absl::EndsWith(p, " (deleted)")) return "";
  if (real_ == "/") return p;
  if (p == real_) return "/";
  if (absl::StartsWith(p, real_) && p[real_.size()] == '/') return p.substr(real_.size());
  return "";
}

std::string TriageRoot::readSmall(const std::string& path, std::size_t max) const {
  const UniqueFd fd(openPath(path, O_RDONLY | O_NONBLOCK));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
  std::string out;
  readAll(fd.get(), out, max);
  return out;
}

}  // namespace warden::triage
