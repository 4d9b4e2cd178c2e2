// Evidence sources on Linux: O_DIRECT reads (no page cache, as `dd iflag=direct`), falling
// back to buffered reads with POSIX_FADV_DONTNEED where the file system refuses O_DIRECT; sizes
// from BLKGETSIZE64 / BLKSSZGET / BLKPBSZGET (see ioctl_list(2), <linux/fs.h>); facts from
// sysfs (/sys/dev/block/MAJ:MIN). Unreadable sectors are re-read one at a time and zero-filled,
// as dc3dd does, and reported.
#include "agent/os/evidence_source.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden {
namespace {

constexpr std::size_t kMemoryAlignment = 4096;

std::string readSysfs(const std::string& path) {
  std::ifstream in(path);
  std::string value;
  if (!in || !std::getline(in, value)) return "";
  return std::string(absl::StripAsciiWhitespace(value));
}

class LinuxEvidenceSource final : public EvidenceSource {
 public:
  LinuxEvidenceSource(UniqueFd fd, EvidenceSourceFacts facts, bool direct)
      : fd_(std::move(fd)), facts_(std::move(facts)), direct_(direct) {}

  const EvidenceSourceFacts& facts() const override { return facts_; }
  std::size_t alignment() const override {
    return std::max<std::size_t>(kMemoryAlignment, facts_.logical_sector_size);
  }

  absl::StatusOr<std::size_t> read(std::uint64_t offset, char* buffer, std::size_t length,
                                   std::vector<EvidenceReadError>* errors) override {
    if (offset % alignment() != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("read offset %d is not a multiple of %d", offset, alignment()));
    }
    if (offset >= facts_.size_bytes || length == 0) return 0;
    length = static_cast<std::size_t>(std::min<std::uint64_t>(length, facts_.size_bytes - offset));
    // O_DIRECT lengths are whole blocks; the last read of a file may come back short.
    const std::size_t want = (length + alignment() - 1) / alignment() * alignment();
    std::size_t done = 0;
    while (done < length) {
      const ssize_t n =
          ::pread(fd_.get(), buffer + done, want - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EIO) {
        done += readSectorBySector(offset + done, buffer + done, length - done, errors);
        break;
      }
      if (n < 0) return errnoStatus(errno, "reading " + facts_.resolved_path);
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    if (!direct_) {
      // The pages were hashed and sent: do not let an image evict the host's working set.
      (void)::posix_fadvise(fd_.get(), static_cast<off_t>(offset), static_cast<off_t>(done),
                            POSIX_FADV_DONTNEED);
    }
    return std::min(done, length);
  }

 private:
  // After EIO: one logical sector at a time, zero-filling the ones that cannot be read.
  std::size_t readSectorBySector(std::uint64_t offset, char* buffer, std::size_t length,
                                 std::vector<EvidenceReadError>* errors) {
    const std::size_t sector = facts_.logical_sector_size;
    std::size_t done = 0;
    while (done < length) {
      const std::size_t n = std::min(sector, length - done);
      ssize_t got = -1;
      do {
        got = ::pread(fd_.get(), buffer + done, sector, static_cast<off_t>(offset + done));
      } while (got < 0 && errno == EINTR);
      if (got <= 0) {
        std::memset(buffer + done, 0, n);
        if (errors != nullptr) {
          const int err = got < 0 ? errno : EIO;
          if (!errors->empty() && errors->back().offset + errors->back().length == offset + done &&
              errors->back().error == err) {
            errors->back().length += n;
          } else {
            errors->push_back(EvidenceReadError{offset + done, n, err});
          }
        }
      }
      done += n;
    }
    return done;
  }

  UniqueFd fd_;
  EvidenceSourceFacts facts_;
  bool direct_;
};

// Whether O_DIRECT reads work on this file (tmpfs before Linux 6.6 and some FUSE/NFS mounts
// accept the open and refuse the read with EINVAL).
bool directReadWorks(int fd, std::size_t alignment) {
  void* probe = std::aligned_alloc(kMemoryAlignment, alignment);
  if (probe == nullptr) return false;
  const ssize_t n = ::pread(fd, probe, alignment, 0);
  const int err = errno;
  std::free(probe);
  return n >= 0 || err != EINVAL;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EvidenceSource>> openEvidenceSource(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return errnoStatus(errno, path);
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is a directory, not a disk, partition or file", path));
  }
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s is not a block device or a regular file", path));
  }
  EvidenceSourceFacts f;
  f.requested_path = path;
  std::error_code ec;
  f.resolved_path = std::filesystem::canonical(path, ec).string();
  if (ec) f.resolved_path = path;

  bool direct = true;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT));
  if (!fd.ok() && errno == EINVAL) {
    direct = false;
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  }
  if (!fd.ok()) return errnoStatus(errno, "opening " + path);
  if (::fstat(fd.get(), &st) != 0) return errnoStatus(errno, path);
  if (S_ISBLK(st.st_mode)) {
    std::uint64_t size = 0;
    int logical = 512;
    unsigned int physical = 512;
    if (::ioctl(fd.get(), BLKGETSIZE64, &size) != 0) {
      return errnoStatus(errno, "BLKGETSIZE64 on " + path);
    }
    if (::ioctl(fd.get(), BLKSSZGET, &logical) != 0 || logical <= 0) logical = 512;
    if (::ioctl(fd.get(), BLKPBSZGET, &physical) != 0 || physical == 0) physical = 512;
    f.size_bytes = size;
    f.logical_sector_size = static_cast<std::uint32_t>(logical);
    f.physical_sector_size = physical;
    f.major = ::major(st.st_rdev);
    f.minor = ::minor(st.st_rdev);
    const std::string sys = absl::StrFormat("/sys/dev/block/%d:%d", f.major, f.minor);
    const bool partition = std::filesystem::exists(sys + "/partition", ec);
    f.kind = partition ? "partition" : "disk";
    const std::string device = partition ? sys + "/../device" : sys + "/device";
    f.model = readSysfs(device + "/model");
    f.vendor = readSysfs(device + "/vendor");
    f.serial = readSysfs(device + "/serial");
    if (f.serial.empty()) f.serial = readSysfs((partition ? sys + "/.." : sys) + "/serial");
  } else {
    f.kind = "file";
    f.size_bytes = static_cast<std::uint64_t>(st.st_size);
  }
  const std::size_t alignment = std::max<std::size_t>(kMemoryAlignment, f.logical_sector_size);
  if (direct && f.size_bytes > 0 && !directReadWorks(fd.get(), alignment)) {
    direct = false;
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.ok()) return errnoStatus(errno, "opening " + path);
  }
  if (!direct) (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  f.read_method = direct ? "direct" : "buffered+dontneed";
  return std::unique_ptr<EvidenceSource>(
      new LinuxEvidenceSource(std::move(fd), std::move(f), direct));
}

absl::StatusOr<std::vector<std::string>> listWholeDisks(const std::string& sys_block) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(sys_block, ec)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("loop") || name.starts_with("ram") || name.starts_with("zram")) continue;
    // Stacked devices (device-mapper, md RAID) hold data of disks listed themselves.
    std::error_code slaves_ec;
    if (!std::filesystem::is_empty(entry.path() / "slaves", slaves_ec) && !slaves_ec) continue;
    if (readSysfs(entry.path().string() + "/size") == "0") continue;
    std::replace(name.begin(), name.end(), '!', '/');
    out.push_back("/dev/" + name);
  }
  if (ec) return errnoStatus(ec.value(), "listing " + sys_block);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace warden
