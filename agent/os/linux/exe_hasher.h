// SHA-256 of process executables, the one hasher of the agent: the evidence read before a
// kill (processes_linux.cc) and the triage bundle's process table (triage/process_table.cc).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

namespace warden {

// Hashes executables through /proc/PID/exe (which still opens a deleted binary), cached by
// file identity (device, inode, size, mtime, ctime) so that a thousand copies of one binary
// are hashed once. Reads are bounded: at most `per_exe` bytes of one executable and `total`
// bytes of all of them. O_NOATIME where permitted, so hashing leaves the access time, which a
// timeline may need, as it was. Safe to call from several threads at once (a kill hashes on
// several readers: bounded_reads.h).
class ExeHasher {
 public:
  struct Limits {
    std::uint64_t per_exe = 0;  // bytes of one executable hashed at most
    std::uint64_t total = 0;    // bytes of all executables hashed at most
    // A larger executable than per_exe is not hashed at all (true) or only its first per_exe
    // bytes are (false: Facts::partial).
    bool whole_only = false;
    std::size_t max_cached = 0;  // cache entries; a full cache is emptied
  };
  struct Facts {
    std::string sha256;  // lower-case hex; "" when not hashed (then `error` says why)
    std::uint64_t size = 0;
    std::uint64_t hashed = 0;  // bytes that went into sha256
    bool partial = false;      // hashed < size
    bool deleted = false;      // no name links to it any more
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::string error;
  };

  explicit ExeHasher(Limits limits) : limits_(limits), budget_(limits.total) {}

  // `exe` names /proc/PID/exe relative to `dirfd`: "PID/exe" in an open /proc, or
  // "/proc/PID/exe".
  Facts hash(int dirfd, const std::string& exe);

  std::size_t partial() const {  // executables hashed in part
    std::lock_guard<std::mutex> lock(mu_);
    return partial_;
  }
  std::size_t unhashed() const {  // not hashed: `total` used up
    std::lock_guard<std::mutex> lock(mu_);
    return unhashed_;
  }

 private:
  using Identity = std::tuple<dev_t, ino_t, off_t, time_t, long, time_t, long>;

  const Limits limits_;
  mutable std::mutex mu_;  // guards what follows; never held while reading
  std::uint64_t budget_;
  std::size_t partial_ = 0;
  std::size_t unhashed_ = 0;
  std::map<Identity, Facts> cache_;
};

}  // namespace warden
