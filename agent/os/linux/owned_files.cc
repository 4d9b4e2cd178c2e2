// Reads and replaces files below directories other users own, one O_NOFOLLOW step at a time
// (agent/os/owned_files.h).
#include "agent/os/owned_files.h"

#include <fcntl.h>
#include <glob.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden {
namespace {

std::int64_t unixMs(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000 + t.tv_nsec / 1000000;
}

// The mount `fd` is on (statx's mount id: st_dev would differ between an overlay's layers);
// 0 where the kernel does not say.
std::uint64_t mountId(int fd) {
  struct statx stx {};
  if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) != 0) return 0;
  return (stx.stx_mask & STATX_MNT_ID) != 0 ? stx.stx_mnt_id : 0;
}

// A directory below the trusted one: root's or the owner's, on the trusted one's mount (a mount
// below it, a FUSE file system the account owner runs, could hang every read).
absl::Status checkDir(int fd, const OwnedPath& where, std::string_view shown, std::uint64_t mount) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errnoStatus("stat", shown, errno);
  if (mount != 0 && mountId(fd) != mount) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is another file system mounted there: not entered", shown));
  }
  if (st.st_uid != 0 && st.st_uid != where.owner) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s belongs to uid %d, neither root nor the key owner (uid %d)", shown,
                        st.st_uid, where.owner));
  }
  return absl::OkStatus();
}

struct OpenedDir {
  UniqueFd fd;
  std::uint64_t mount = 0;  // the trusted directory's mount id (0: unknown)
  std::string name;         // the file's name in it
  std::string shown;
};

// The directory holding the file, reached without following a link below trusted_dir.
absl::StatusOr<OpenedDir> openParent(const OwnedPath& where) {
  std::vector<std::string> parts = absl::StrSplit(where.relative, '/');
  if (where.relative.empty() || where.trusted_dir.empty() || where.trusted_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrFormat("bad key file path '%s'", where.full()));
  }
  for (const std::string& p : parts) {
    if (p.empty() || p == "." || p == "..") {
      return absl::InvalidArgumentError(absl::StrFormat("bad key file path '%s'", where.full()));
    }
  }
  OpenedDir out;
  out.shown = where.trusted_dir;
  out.fd.reset(open(where.trusted_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  // A home directory that is a file (/dev/null) holds no key files.
  if (!out.fd.ok()) return errnoStatus("open", out.shown, errno == ENOTDIR ? ENOENT : errno);
  out.mount = mountId(out.fd.get());
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    out.shown += (out.shown == "/" ? "" : "/") + parts[i];
    UniqueFd next(
        openat(out.fd.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next.ok()) {
      const int err = errno;
      struct stat st;
      if (fstatat(out.fd.get(), parts[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode)) {
          return absl::FailedPreconditionError(
              absl::StrFormat("%s is a symbolic link: not followed", out.shown));
        }
        // Not a directory: nothing below it exists.
        if (!S_ISDIR(st.st_mode)) return errnoStatus("open", out.shown, ENOENT);
      }
      return errnoStatus("open", out.shown, err);
    }
    WARDEN_RETURN_IF_ERROR(checkDir(next.get(), where, out.shown, out.mount));
    out.fd = std::move(next);
  }
  out.name = parts.back();
  out.shown = where.full();
  return out;
}

absl::StatusOr<OwnedFile> readOwned(const OwnedPath& where, std::size_t max_bytes) {
  WARDEN_ASSIGN_OR_RETURN(OpenedDir dir, openParent(where));
  // Looked at before it is opened: opening a device or a FIFO can have effects of its own.
  struct stat pre;
  if (fstatat(dir.fd.get(), dir.name.c_str(), &pre, AT_SYMLINK_NOFOLLOW) != 0) {
    return errnoStatus("stat", dir.shown, errno);
  }
  if (S_ISLNK(pre.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is a symbolic link: not followed", dir.shown));
  }
  if (!S_ISREG(pre.st_mode)) {
    return absl::FailedPreconditionError(absl::StrFormat("%s is not a regular file", dir.shown));
  }
  UniqueFd fd(openat(dir.fd.get(), dir.name.c_str(),
                     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (!fd.ok()) {
    // It was there a moment ago: swapped or renamed away while being read is not "absent".
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s changed while it was opened (%s): not read", dir.shown, std::strerror(errno)));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat", dir.shown, errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrFormat("%s is not a regular file", dir.shown));
  }
  if (dir.mount != 0 && mountId(fd.get()) != dir.mount) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is another file mounted there: not read", dir.shown));
  }
  if (st.st_uid != 0 && st.st_uid != where.owner) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s belongs to uid %d, neither root nor the account (uid %d): not read",
                        dir.shown, st.st_uid, where.owner));
  }
  // A second name could be a root-only file's: read as root, it would end up in a receipt.
  if (st.st_nlink > 1) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s has %d hard links: not read", dir.shown, st.st_nlink));
  }
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s is %d bytes, over the %d this action reads", dir.shown, st.st_size, max_bytes));
  }
  OwnedFile out;
  out.uid = st.st_uid;
  out.gid = st.st_gid;
  out.mode = st.st_mode & 0777;  // never setuid, setgid or sticky bits back
  out.mtime_unix_ms = unixMs(st.st_mtim);
  out.ctime_unix_ms = unixMs(st.st_ctim);
  char buf[16384];
  for (;;) {
    const ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoStatus("read", dir.shown, errno);
    if (n == 0) break;
    out.content.append(buf, static_cast<std::size_t>(n));
    if (out.content.size() > max_bytes) {
      return absl::FailedPreconditionError(
          absl::StrFormat("%s grew past %d bytes while it was read", dir.shown, max_bytes));
    }
  }
  return out;
}

absl::Status replaceFile(const OwnedPath& where, std::string_view content, uid_t uid, gid_t gid,
                         mode_t mode) {
  WARDEN_ASSIGN_OR_RETURN(OpenedDir dir, openParent(where));
  // The target, if it exists, must be a regular file (a link is replaced, never followed, but
  // refusing it keeps the rule the reader follows).
  struct stat st;
  if (fstatat(dir.fd.get(), dir.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s is not a regular file: not replaced", dir.shown));
  }
  unsigned char random[8];
  if (RAND_bytes(random, sizeof random) != 1) return absl::InternalError("RAND_bytes failed");
  const std::string temp = absl::StrFormat(
      ".%s.warden-%s", dir.name,
      crypto::hex(std::string_view(reinterpret_cast<const char*>(random), sizeof random)));
  UniqueFd fd(openat(dir.fd.get(), temp.c_str(),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd.ok()) return errnoStatus("create a temporary file next to", dir.shown, errno);
  auto fail = [&](absl::Status s) {
    fd.reset();
    unlinkat(dir.fd.get(), temp.c_str(), 0);
    return s;
  };
  // Root's, mode 0600, while its bytes are written; then its owner's.
  if (!writeFully(fd.get(), content)) return fail(errnoStatus("write", dir.shown, errno));
  if (fchown(fd.get(), uid, gid) != 0) return fail(errnoStatus("chown", dir.shown, errno));
  if (fchmod(fd.get(), mode & 0777) != 0) return fail(errnoStatus("chmod", dir.shown, errno));
  if (fsync(fd.get()) != 0) return fail(errnoStatus("fsync", dir.shown, errno));
  fd.reset();
  if (renameat(dir.fd.get(), temp.c_str(), dir.fd.get(), dir.name.c_str()) != 0) {
    return fail(errnoStatus("rename over", dir.shown, errno));
  }
  if (fsync(dir.fd.get()) != 0) return errnoStatus("fsync the directory of", dir.shown, errno);
  return absl::OkStatus();
}

// A file root's configuration names (sshd_config, its includes, passwd): links followed, as
// sshd and the C library follow them; only size and type are checked.
absl::StatusOr<std::string> readRootFile(const std::string& path, std::size_t max_bytes) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return errnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrFormat("%s is not a regular file", path));
  }
  return readFile(path, max_bytes);
}

class LinuxOwnedFiles : public OwnedFiles {
 public:
  absl::StatusOr<std::string> readConfig(const std::string& path, std::size_t max_bytes) override {
    return readRootFile(path, max_bytes);
  }
  absl::StatusOr<OwnedFile> read(const OwnedPath& where, std::size_t max_bytes) override {
    return readOwned(where, max_bytes);
  }
  absl::Status replace(const OwnedPath& where, std::string_view content, uid_t uid, gid_t gid,
                       mode_t mode) override {
    return replaceFile(where, content, uid, gid, mode);
  }
  std::vector<std::string> glob(const std::string& pattern) override {
    glob_t g{};
    std::vector<std::string> out;
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
    return out;
  }
  bool isDirectory(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }
};

}  // namespace

namespace linux_os {
std::unique_ptr<OwnedFiles> makeOwnedFiles() { return std::make_unique<LinuxOwnedFiles>(); }
}  // namespace linux_os

}  // namespace warden
