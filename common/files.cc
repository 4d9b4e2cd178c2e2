#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/str_format.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden {

namespace {

// pwrite(2) at `offset`, or write(2) when there is none, until all of `data` is out.
bool writeAll(int fd, std::string_view data, std::optional<std::uint64_t> offset) {
  std::size_t done = 0;
  while (done < data.size()) {
    const char* from = data.data() + done;
    const std::size_t left = data.size() - done;
    const ssize_t n = offset ? ::pwrite(fd, from, left, static_cast<off_t>(*offset + done))
                             : ::write(fd, from, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

bool pwriteFully(int fd, std::string_view data, std::uint64_t offset) {
  return writeAll(fd, data, offset);
}

bool writeFully(int fd, std::string_view data) { return writeAll(fd, data, std::nullopt); }

absl::StatusOr<std::string> readFile(const std::string& path, std::size_t max_bytes) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return errnoStatus("open", path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("%s is larger than %d bytes", path, max_bytes));
    }
  }
  return out;
}

absl::Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd.ok()) return errnoStatus("create", tmp, errno);
  ::fchmod(fd.get(), mode);
  const auto failed = [&](const char* what) {
    const int err = errno;
    fd.reset();
    ::unlink(tmp.c_str());
    return errnoStatus(what, tmp, err);
  };
  if (!writeFully(fd.get(), data)) return failed("write");
  if (::fsync(fd.get()) != 0) return failed("fsync");
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("rename");
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  if (const UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dfd.ok()) {
    ::fsync(dfd.get());
  }
  return absl::OkStatus();
}

bool pathExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::Status makeDirectory(const std::string& path, unsigned mode) {
  std::string partial;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), pos == std::string::npos ? mode : 0755) != 0 && errno != EEXIST) {
      return errnoStatus("create directory", partial, errno);
    }
  }
  if (::chmod(path.c_str(), mode) != 0) return errnoStatus("chmod", path, errno);
  return absl::OkStatus();
}

}  // namespace warden
