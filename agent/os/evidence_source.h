// What the host can give up as evidence: a block device, partition, LVM volume or regular file,
// opened read-only and read sequentially without filling the page cache (forensic imaging,
// issue 5). The Linux implementation (agent/os/linux/evidence_source.cc) is the only code that
// issues block ioctls or reads sysfs; the imaging pipeline is written against this interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

// What the host knows about the source, for the manifest.
struct EvidenceSourceFacts {
  std::string requested_path;
  std::string resolved_path;  // realpath: LVM and by-id paths are symlinks
  std::string kind;           // "disk", "partition", "file"
  std::uint32_t major = 0;    // block devices only
  std::uint32_t minor = 0;
  std::uint64_t size_bytes = 0;
  std::uint32_t logical_sector_size = 512;
  std::uint32_t physical_sector_size = 512;
  std::string model;  // from sysfs where present, else empty
  std::string vendor;
  std::string serial;
  std::string read_method;  // "direct" (O_DIRECT) or "buffered+dontneed"
};

// A read error the source could not get past: the range was zero-filled in what was read.
struct EvidenceReadError {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  int error = 0;  // errno
};

// A source opened for imaging. Reads are sequential from any aligned offset.
class EvidenceSource {
 public:
  virtual ~EvidenceSource() = default;
  virtual const EvidenceSourceFacts& facts() const = 0;
  // Alignment (bytes) that read offsets and buffer addresses must have.
  virtual std::size_t alignment() const = 0;
  // Reads up to `length` bytes at `offset` (a multiple of alignment()) into `buffer` (aligned
  // to alignment(), at least `length` bytes, rounded up to alignment()). Returns the bytes
  // read: `length`, or fewer only at the end of the source. Unreadable sectors are zero-filled
  // and reported in `errors`; other failures are errors.
  virtual absl::StatusOr<std::size_t> read(std::uint64_t offset, char* buffer, std::size_t length,
                                           std::vector<EvidenceReadError>* errors) = 0;
};

// Opens `path` read-only. InvalidArgument for a directory or a character device, NotFound for
// a missing path, PermissionDenied when it may not be read; the message names the path.
absl::StatusOr<std::unique_ptr<EvidenceSource>> openEvidenceSource(const std::string& path);

// Whole disks for `--all-disks` (/sys/block, or another directory laid out like it), skipping
// loop, ram and zram devices, stacked ones (dm, md: a non-empty slaves/) and empty ones, sorted:
// "/dev/nvme0n1", "/dev/sda", ... ('!' in a sysfs name is '/' in the device path, e.g. cciss!c0d0).
absl::StatusOr<std::vector<std::string>> listWholeDisks(
    const std::string& sys_block = "/sys/block");

}  // namespace warden
