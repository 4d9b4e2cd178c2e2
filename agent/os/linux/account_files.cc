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
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden::linux_os {
namespace {

constexpr char kSystemEtc[] = "/etc";
constexpr char kLockFileName[] = ".pwd.lock";
// Temporary files are ".NAME.warden-XXXXXX" next to NAME; lock() removes leftovers.
constexpr char kTempInfix[] = ".warden-";
constexpr absl::Duration kLockTimeout = absl::Seconds(15);  // as lckpwdf(3)
constexpr std::size_t kMaxFileSize = 64 << 20;

// lckpwdf(3) takes a process-level fcntl lock, which other threads of this process would
// share; this mutex keeps two commands of the agent apart.
std::mutex& processMutex() {
  static std::mutex mutex;
  return mutex;
}

class LinuxAccountLock : public AccountFiles::Lock {
 public:
  LinuxAccountLock(std::unique_lock<std::mutex> guard, bool lckpwdf_held, UniqueFd flock_fd)
      : guard_(std::move(guard)), lckpwdf_held_(lckpwdf_held), flock_fd_(std::move(flock_fd)) {}
  ~LinuxAccountLock() override {
    if (lckpwdf_held_) ulckpwdf();
    flock_fd_.reset();  // releases the flock
  }

 private:
  std::unique_lock<std::mutex> guard_;
  bool lckpwdf_held_;
  UniqueFd flock_fd_;
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
        return errnoStatus("lock", "/etc/.pwd.lock (lckpwdf)", errno);
      }
      held = std::make_unique<LinuxAccountLock>(std::move(guard), true, UniqueFd());
    } else {
      std::string path = etc_dir_ + "/" + kLockFileName;
      UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
      if (!fd.ok()) return errnoStatus("open", path, errno);
      while (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if ((err != EWOULDBLOCK && err != EINTR) || absl::Now() > deadline) {
          return errnoStatus("lock", path, err);
        }
        absl::SleepFor(absl::Milliseconds(10));
      }
      held = std::make_unique<LinuxAccountLock>(std::move(guard), false, std::move(fd));
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
    const UniqueFd fd(open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.ok()) return errnoStatus("open", p, errno);
    std::string out;
    char buf[16384];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errnoStatus("read", p, errno);
      if (n == 0) break;
      out.append(buf, static_cast<std::size_t>(n));
      if (out.size() > kMaxFileSize) {
        return absl::ResourceExhaustedError(absl::StrFormat("%s is larger than 64 MiB", p));
      }
    }
    return out;
  }

  absl::Status replace(AccountFile file, std::string_view content) override {
    std::string target = path(file);
    struct stat st;
    if (lstat(target.c_str(), &st) != 0) return errnoStatus("stat", target, errno);
    if (!S_ISREG(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrFormat("Refusing to replace %s: not a regular file", target));
    }
    std::string base = target.substr(target.rfind('/') + 1);
    std::string temp = absl::StrFormat("%s/.%s%sXXXXXX", etc_dir_, base, kTempInfix);
    UniqueFd fd(mkostemp(temp.data(), O_CLOEXEC));
    if (!fd.ok()) return errnoStatus("create a temporary file next to", target, errno);
    auto fail = [&](std::string_view what, int err) {
      fd.reset();
      unlink(temp.c_str());
      return errnoStatus(what, temp, err);
    };
    // Owner and mode before any content lands (shadow is 0640 root:shadow or 0000 root:root).
    if (fchown(fd.get(), st.st_uid, st.st_gid) != 0) return fail("chown", errno);
    if (fchmod(fd.get(), st.st_mode & 07777) != 0) return fail("chmod", errno);
    if (!writeAll(fd.get(), content)) return fail("write", errno);
    if (fsync(fd.get()) != 0) return fail("fsync", errno);
    if (close(fd.release()) != 0) {
      int err = errno;
      unlink(temp.c_str());
      return errnoStatus("close", temp, err);
    }
    if (rename(temp.c_str(), target.c_str()) != 0) {
      int err = errno;
      unlink(temp.c_str());
      return errnoStatus("rename over", target, err);
    }
    // The rename itself is durable only once the directory is.
    const UniqueFd dir(open(etc_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.ok()) return errnoStatus("open", etc_dir_, errno);
    if (fsync(dir.get()) != 0) return errnoStatus("fsync", etc_dir_, errno);
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
