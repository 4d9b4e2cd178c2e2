// What the host can do with its account database: read and atomically replace /etc/passwd and
// /etc/shadow under the password-file lock, and hash a password. Only the Linux implementation
// (agent/os/linux/account_files.cc) touches those files, lckpwdf(3) and crypt_r(3).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

enum class AccountFile { kPasswd, kShadow, kLoginDefs };

class AccountFiles {
 public:
  // Held while alive: the password-file lock (lckpwdf(3) on /etc, a flock(2) on
  // ETC/.pwd.lock elsewhere), plus a process-wide mutex (lckpwdf's fcntl lock does not
  // exclude other threads of the same process).
  class Lock {
   public:
    virtual ~Lock() = default;
  };

  virtual ~AccountFiles() = default;
  // Waits up to 15 s (as lckpwdf does). Also removes temporary files a killed writer left.
  virtual absl::StatusOr<std::unique_ptr<Lock>> lock() = 0;
  // The full path, for messages ("/etc/shadow").
  virtual std::string path(AccountFile file) const = 0;
  // NotFound when the file does not exist.
  virtual absl::StatusOr<std::string> read(AccountFile file) = 0;
  // Writes a temporary file in the same directory with the same owner and mode, fsyncs it,
  // renames it over the file and fsyncs the directory: a crash at any point leaves the old or
  // the new file. Call with the lock held.
  virtual absl::Status replace(AccountFile file, std::string_view content) = 0;
  // A crypt(5) hash of `password`: yescrypt, or SHA-512 crypt where libcrypt lacks yescrypt.
  virtual absl::StatusOr<std::string> hashPassword(std::string_view password) = 0;
};

namespace linux_os {
// `etc_dir` is "/etc" on a host; a test directory otherwise.
std::unique_ptr<AccountFiles> makeAccountFiles(const std::string& etc_dir = "/etc");
}  // namespace linux_os

}  // namespace warden
