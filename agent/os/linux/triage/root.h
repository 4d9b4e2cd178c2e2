// Where the triage bundle's host files are read from, and how a path is resolved there.
//
// Every path is resolved inside ROOT with openat2(RESOLVE_IN_ROOT) for the directories on the
// way, so a symlink there resolves as if ROOT were "/" and can never leave it; the last
// component is opened with O_NOFOLLOW. A member is named after the physical path of what was
// read (a file reached through a symlinked directory, e.g. ~/.ssh -> /var/tmp/.k, is
// "files/var/tmp/.k/..." and its `source` is the path that was asked for), so no name ever
// passes through an archived symlink. O_NOATIME leaves the access times, which the timeline
// uses, as they were.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "common/unique_fd.h"

namespace warden::triage {

inline constexpr std::size_t kMaxConfigBytes = 16 << 20;  // passwd, sshd_config, os-release

// `p` without empty, "." and ".." components ("/.." is "/"); "" when `p` is not absolute.
std::string cleanPath(const std::string& p);
std::string joinPath(const std::string& dir, const std::string& rel);
// "files" + path: the archive name of a host file.
std::string memberName(const std::string& path);

// Opens the directory `name` in `dirfd` for listing, not following a symlink, O_NOATIME where
// permitted.
int openDirectoryNoFollow(int dirfd, const char* name);
// Opens `name` in `dirfd` for reading without following a symlink, blocking on a FIFO or
// touching the access time (O_NOATIME needs ownership or CAP_FOWNER; without it, plain).
int openNoFollow(int dirfd, const char* name);
// The target of the symlink `name` in `dirfd`; `err` is errno, or 0.
std::string readLinkAt(int dirfd, const char* name, int* err);
// Reads up to `max` bytes of a file (procfs files have no size) into `out`; errno or 0.
int readAll(int fd, std::string& out, std::size_t max);
// The kernel's own name for an open descriptor (/proc/self/fd), "" when it cannot be told.
std::string procFdPath(int fd);

// The root the host files are read from (TriageOptions::root).
class TriageRoot {
 public:
  // InvalidArgument when `root` is not absolute or cannot be opened.
  absl::Status open(const std::string& root);

  int fd() const { return fd_.get(); }
  // The root's own path in the agent's view ("/" for the live host).
  const std::string& real() const { return real_; }

  // Opens `path` (absolute, inside the root) with every symlink on the way resolved inside
  // the root: openat2(2) RESOLVE_IN_ROOT, magic links refused. Kernels before 5.6 have no
  // openat2; there the path is opened relative to the root as usual. Unless it is only an
  // O_PATH handle, it is opened O_NOATIME where permitted (reading a file or listing a
  // directory would otherwise touch an access time the timeline may need).
  int openPath(const std::string& path, int flags) const;

  // The physical path inside the root of an open directory or file ("/etc/cron.d"), or ""
  // when it cannot be told.
  std::string physicalPath(int fd) const;

  // A small regular file inside the root, for parsing (passwd, sshd_config); "" when absent.
  std::string readSmall(const std::string& path, std::size_t max = kMaxConfigBytes) const;

 private:
  UniqueFd fd_;
  std::string real_;  // the root's own path in the agent's view
};

}  // namespace warden::triage
