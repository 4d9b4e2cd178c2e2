// The account files on a Linux host: lckpwdf(3), atomic replace of /etc/shadow and
// /etc/passwd, crypt_r(3) from libxcrypt. Also wires linux_os::makeAccountActions.
#include <crypt.h>
#include <dirent.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <shadow.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "agent/actions/account_locks.h"
#include "agent/actions/accounts.h"
#include "agent/os/accounts.h"

namespace warden::linux_os {
namespace {

constexpr char kSystemEtc[] = "/etc";
constexpr char kLockFileName[] = ".pwd.lock";
// Temporary files are ".NAME.warden-XXXXXX" next to NAME; lock() removes leftovers.
constexpr char kTempInfix[] = ".warden-";
constexpr absl::Duration kLockTimeout = absl::Seconds(15);  // as lckpwdf(3)
constexpr std::size_t kMaxFileSize = 64 << 20;

absl::Status errnoStatus(std::string_view what, const std::string& path, int err) {
  return absl::Status(err == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kInternal,
                      absl::StrFormat("%s %s: %s", what, path, std::strerror(err)));
}

// lckpwdf(3) takes a process-level fcntl lock, which other threads of this process would
// share; this mutex keeps two commands of the agent apart.
std::mutex& processMutex() {
  static std::mutex mutex;
  return mutex;
}

class LinuxAccountLock : public AccountFiles::Lock {
 public:
  LinuxAccountLock(std::unique_lock<std::mutex> guard, bool lckpwdf_held, int flock_fd)
      : guard_(std::move(guard)), lckpwdf_held_(lckpwdf_held), flock_fd_(flock_fd) {}
  ~LinuxAccountLock() override {
    if (lckpwdf_held_) ulckpwdf();
    if (flock_fd_ >= 0) close(flock_fd_);  // releases the flock
  }

 private:
  std::unique_lock<std::mutex> guard_;
  bool lckpwdf_held_;
  int flock_fd_;
};

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

class LinuxAccountFiles : public AccountFiles {
 public:
  explicit LinuxAccountFiles(std::string etc_dir) : etc_dir_(std::move(etc_dir)) {}

  absl::StatusOr<std::unique_ptr<Lock>> lock() override {
    std::unique_lock<std::mutex> guard(processMutex(), std::defer_lock);
    absl::Time deadline = absl::Now() + kLockTimeout;
    while (!guard.try_lock()) {
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError("Timed out waiting for another account change");
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    std::unique_ptr<Lock> held;
    if (etc_dir_ == kSystemEtc) {
      // lckpwdf(3) is hard-wired to /etc/.pwd.lock and waits up to 15 s itself.
      if (lckpwdf() != 0) {
        return errnoStatus("Failed to lock", "/etc/.pwd.lock (lckpwdf)", errno);
      }
      held = std::make_unique<LinuxAccountLock>(std::move(guard), true, -1);
    } else {
      std::string path = etc_dir_ + "/" + kLockFileName;
      int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd < 0) return errnoStatus("Failed to open", path, errno);
      while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if ((err != EWOULDBLOCK && err != EINTR) || absl::Now() > deadline) {
          close(fd);
          return errnoStatus("Failed to lock", path, err);
        }
        absl::SleepFor(absl::Milliseconds(10));
      }
      held = std::make_unique<LinuxAccountLock>(std::move(guard), false, fd);
    }
    removeStaleTemporaries();
    return held;
  }

  std::string path(AccountFile file) const override {
    switch (file) {
      case AccountFile::kPasswd:
        return etc_dir_ + "/passwd";
      case AccountFile::kShadow:
        return etc_dir_ + "/shadow";
      case AccountFile::kLoginDefs:
        return etc_dir_ + "/login.defs";
    }
    return {};
  }

  absl::StatusOr<std::string> read(AccountFile file) override {
    std::string p = path(file);
    int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errnoStatus("Failed to open", p, errno);
    std::string out;
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int err = errno;
        close(fd);
        return errnoStatus("Failed to read", p, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      if (out.size() > kMaxFileSize) {
        close(fd);
        return absl::ResourceExhaustedError(absl::StrFormat("%s is larger than 64 MiB", p));
      }
    }
    close(fd);
    return out;
  }

  absl::Status replace(AccountFile file, std::string_view content) override {
    std::string target = path(file);
    struct stat st;
    if (lstat(target.c_str(), &st) != 0) return errnoStatus("Failed to stat", target, errno);
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrFormat("Refusing to replace %s: not a regular file", target));
    }
    std::string base = target.substr(target.rfind('/') + 1);
    std::string temp = absl::StrFormat("%s/.%s%sXXXXXX", etc_dir_, base, kTempInfix);
    int fd = mkostemp(temp.data(), O_CLOEXEC);
    if (fd < 0) return errnoStatus("Failed to create a temporary file next to", target, errno);
    auto fail = [&](std::string_view what, int err) {
      close(fd);
      unlink(temp.c_str());
      return errnoStatus(what, temp, err);
    };
    // Owner and mode before any content lands (shadow is 0640 root:shadow or 0000 root:root).
    if (fchown(fd, st.st_uid, st.st_gid) != 0) return fail("Failed to chown", errno);
    if (fchmod(fd, st.st_mode & 07777) != 0) return fail("Failed to chmod", errno);
    if (!writeAll(fd, content)) return fail("Failed to write", errno);
    if (fsync(fd) != 0) return fail("Failed to fsync", errno);
    if (close(fd) != 0) {
      int err = errno;
      unlink(temp.c_str());
      return errnoStatus("Failed to close", temp, err);
    }
    if (rename(temp.c_str(), target.c_str()) != 0) {
      int err = errno;
      unlink(temp.c_str());
      return errnoStatus("Failed to rename over", target, err);
    }
    // The rename itself is durable only once the directory is.
    int dir = open(etc_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return errnoStatus("Failed to open", etc_dir_, errno);
    int rc = fsync(dir);
    int err = errno;
    close(dir);
    if (rc != 0) return errnoStatus("Failed to fsync", etc_dir_, err);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> hashPassword(std::string_view password) override {
    std::string clear(password);
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    // Null random bytes: libxcrypt takes them from the OS (getrandom(2)). Count 0: the
    // method's default cost.
    const char* prefix = "$y$";
    if (crypt_gensalt_rn(prefix, 0, nullptr, 0, setting, sizeof setting) == nullptr) {
      prefix = "$6$";  // libxcrypt built without yescrypt
      if (crypt_gensalt_rn(prefix, 0, nullptr, 0, setting, sizeof setting) == nullptr) {
        OPENSSL_cleanse(clear.data(), clear.size());
        return absl::InternalError(
            absl::StrFormat("crypt_gensalt_rn: neither yescrypt nor SHA-512 crypt is available: %s",
                            std::strerror(errno)));
      }
    }
    auto data = std::make_unique<crypt_data>();
    std::memset(data.get(), 0, sizeof(crypt_data));
    const char* hash = crypt_r(clear.c_str(), setting, data.get());
    int err = errno;
    std::string out = hash ? std::string(hash) : std::string();
    OPENSSL_cleanse(clear.data(), clear.size());
    OPENSSL_cleanse(data.get(), sizeof(crypt_data));
    // libxcrypt signals failure with a hash starting with '*' (or NULL).
    if (out.empty() || out[0] == '*' || out.rfind(prefix, 0) != 0) {
      return absl::InternalError(absl::StrFormat("crypt_r failed: %s", std::strerror(err)));
    }
    return out;
  }

 private:
  // A writer killed between mkostemp and rename leaves ".shadow.warden-XXXXXX"; under the
  // lock no one else is writing, so such files are garbage.
  void removeStaleTemporaries() {
    DIR* dir = opendir(etc_dir_.c_str());
    if (dir == nullptr) return;
    while (struct dirent* e = readdir(dir)) {
      std::string_view name = e->d_name;
      for (std::string_view base : {".passwd", ".shadow"}) {
        if (name.rfind(absl::StrFormat("%s%s", base, kTempInfix), 0) == 0) {
          unlinkat(dirfd(dir), e->d_name, 0);
        }
      }
    }
    closedir(dir);
  }

  std::string etc_dir_;
};

}  // namespace

std::unique_ptr<AccountFiles> makeAccountFiles(const std::string& etc_dir) {
  return std::make_unique<LinuxAccountFiles>(etc_dir);
}

std::unique_ptr<AccountActions> makeAccountActions(StateStore& state, const std::string& etc_dir) {
  return warden::makeAccountActions(makeAccountFiles(etc_dir), state);
}

}  // namespace warden::linux_os
