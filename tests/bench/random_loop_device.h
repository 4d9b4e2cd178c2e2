// The device bench_image reads: a file of random data that does not compress, its SHA-256
// computed while it is written, behind a read-only loop device with direct I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace warden::testing {

// Writes `size` random bytes to `path`, syncs them and drops them from the page cache.
// Returns their SHA-256 (hex).
absl::StatusOr<std::string> writeRandomFile(const std::string& path, std::uint64_t size,
                                            std::uint64_t seed);

// A read-only loop device over a file. Right after attaching, the bench opens it and asks
// `losetup -d` to detach it: the device is busy, so the kernel only sets LO_FLAGS_AUTOCLEAR and
// detaches it when the last opener closes it (loop(4)). That opener is this object, so the
// device goes away with it on every exit path, a crash or SIGKILL of the bench included.
class LoopDevice {
 public:
  static absl::StatusOr<std::unique_ptr<LoopDevice>> attach(const std::string& backing);
  const std::string& name() const { return name_; }
  bool directIo() const { return direct_io_; }

 private:
  LoopDevice() = default;
  std::string name_;
  UniqueFd fd_;
  bool direct_io_ = false;
};

}  // namespace warden::testing
