// Reading and atomically replacing a file in a directory another user owns (a user's ~/.ssh),
// as root, without being led elsewhere by what that user planted: below a trusted directory
// (the home directory passwd names, or the part of an sshd_config path before its first
// %-token) every component is opened with O_NOFOLLOW relative to the one before; every
// directory on the way and the file must belong to root or the expected owner and sit on the
// trusted directory's mount; the file must be a regular file with one link. The replacement is
// written next to the file through the same directory descriptor (temporary file: its bytes,
// then owner and mode, fsync, rename, fsync of the directory), so a crash leaves the old or the
// new content and a directory swapped in meanwhile receives nothing. Only the Linux
// implementation (agent/os/linux/owned_files.cc) touches the files.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

struct OwnedFile {
  std::string content;
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;  // permission bits
  std::int64_t mtime_unix_ms = 0;
  std::int64_t ctime_unix_ms = 0;
};

// Where a file lives: `trusted_dir` is opened as it is (links in it followed); `relative` (a
// path below it, "a/b/file") is walked component by component. `owner` is the uid that may
// own the directories below `trusted_dir` besides root.
struct OwnedPath {
  std::string trusted_dir;
  std::string relative;
  uid_t owner = 0;
  std::string full() const {
    return trusted_dir == "/" ? "/" + relative : trusted_dir + "/" + relative;
  }
};

// Splits an absolute `path` into `trusted_dir` (the longest of `home` and the path's own
// directory that the path lies under: the home directory when the path is inside it).
OwnedPath ownedPath(std::string_view path, std::string_view home, uid_t owner);

class OwnedFiles {
 public:
  virtual ~OwnedFiles() = default;
  // NotFound when the file or a directory on the way does not exist (or a home directory is
  // not a directory); FailedPrecondition for a link, something that is not a regular file or
  // directory, a directory owned by someone else, a file over `max_bytes`.
  virtual absl::StatusOr<OwnedFile> read(const OwnedPath& where, std::size_t max_bytes) = 0;
  // Replaces (or creates) the file with `content`, owned by `uid`:`gid` with `mode`. The
  // directories on the way must exist and pass the same checks as read()'s.
  virtual absl::Status replace(const OwnedPath& where, std::string_view content, uid_t uid,
                               gid_t gid, mode_t mode) = 0;
  // A file root's configuration names (passwd, sshd_config and its includes): links followed,
  // must be a regular file of at most `max_bytes`. NotFound when it does not exist.
  virtual absl::StatusOr<std::string> readConfig(const std::string& path,
                                                 std::size_t max_bytes) = 0;
  // glob(3), sorted: the files an sshd_config Include names.
  virtual std::vector<std::string> glob(const std::string& pattern) = 0;
  virtual bool isDirectory(const std::string& path) = 0;
};

namespace linux_os {
std::unique_ptr<OwnedFiles> makeOwnedFiles();
}  // namespace linux_os

}  // namespace warden
