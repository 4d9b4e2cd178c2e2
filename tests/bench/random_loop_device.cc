#include "tests/bench/random_loop_device.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/status.h"
#include "tests/support/process.h"

namespace warden::testing {
namespace {

constexpr std::size_t kWriteBlock = 4 << 20;

// xoshiro256** (Blackman and Vigna): fast, and its output does not compress.
class Xoshiro256 {
 public:
  explicit Xoshiro256(std::uint64_t seed) {
    for (auto& s : s_) {  // splitmix64 expands the seed
      seed += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      s = z ^ (z >> 31);
    }
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace

absl::StatusOr<std::string> writeRandomFile(const std::string& path, std::uint64_t size,
                                            std::uint64_t seed) {
  const UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.ok()) return errnoStatus("create", path, errno);
  Xoshiro256 rng(seed);
  crypto::Sha256 hash;
  std::vector<std::uint64_t> block(kWriteBlock / 8);
  absl::Status status;
  for (std::uint64_t done = 0; done < size && status.ok();) {
    for (auto& w : block) w = rng.next();
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(kWriteBlock, size - done));
    const char* p = reinterpret_cast<const char*>(block.data());
    hash.update(std::string_view(p, n));
    for (std::size_t at = 0; at < n;) {
      const ssize_t w = ::write(fd.get(), p + at, n - at);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        status = errnoStatus("write", path, errno);
        break;
      }
      at += static_cast<std::size_t>(w);
    }
    done += n;
  }
  if (status.ok() && ::fdatasync(fd.get()) != 0) status = errnoStatus("sync", path, errno);
  if (status.ok()) (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  if (!status.ok()) return status;
  return crypto::hex(hash.finish());
}

absl::StatusOr<std::unique_ptr<LoopDevice>> LoopDevice::attach(const std::string& backing) {
  auto a = run({"losetup", "--find", "--show", "--read-only", "--direct-io=on", backing});
  if (!a.ok()) return a.status();
  if (a->exit_code != 0) {
    return absl::InternalError("losetup " + backing + ": " + a->err);
  }
  std::unique_ptr<LoopDevice> d(new LoopDevice());
  d->name_ = std::string(absl::StripAsciiWhitespace(a->out));
  d->fd_.reset(::open(d->name_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!d->fd_.ok()) {
    const int err = errno;
    (void)run({"losetup", "-d", d->name_});
    return errnoStatus("open", d->name_, err);
  }
  auto detach = run({"losetup", "-d", d->name_});
  if (!detach.ok() || detach->exit_code != 0) {
    return absl::InternalError("losetup -d " + d->name_ + " (autoclear) failed");
  }
  auto dio = run({"losetup", "--noheadings", "--output", "DIO", d->name_});
  d->direct_io_ = dio.ok() && absl::StripAsciiWhitespace(dio->out) == "1";
  return d;
}

}  // namespace warden::testing
