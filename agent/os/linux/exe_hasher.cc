#include "agent/os/linux/exe_hasher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/unique_fd.h"

namespace warden {
namespace {

constexpr std::uint64_t kPiece = 1 << 20;  // read and hash unit

}  // namespace

ExeHasher::Facts ExeHasher::hash(int dirfd, const std::string& exe) {
  Facts f;
  UniqueFd fd(::openat(dirfd, exe.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME));
  if (!fd.ok() && errno == EPERM) fd.reset(::openat(dirfd, exe.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
    f.error = absl::StrCat("open: ", std::strerror(errno));
    return f;
  }
  f.size = static_cast<std::uint64_t>(st.st_size);
  f.deleted = st.st_nlink == 0;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  if (!S_ISREG(st.st_mode)) {
    f.error = "not a regular file";
    return f;
  }
  const Identity key{st.st_dev,          st.st_ino,         st.st_size,        st.st_mtim.tv_sec,
                     st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec};
  if (limits_.whole_only && f.size > limits_.per_exe) {
    f.error = absl::StrCat("not hashed: larger than ", limits_.per_exe, " bytes");
    return f;
  }
  const std::uint64_t want = std::min(f.size, limits_.per_exe);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) {
      Facts cached = it->second;
      cached.deleted = f.deleted;
      return cached;
    }
    if (want > budget_) {
      f.error = "not hashed: max_total_bytes of executable hashing used up";
      ++unhashed_;
      return f;
    }
    budget_ -= want;  // reserved; what is not read is given back below
  }
  crypto::Sha256 h;
  std::vector<char> buf(std::min(kPiece, std::max<std::uint64_t>(want, 1)));
  while (f.hashed < want) {
    const ssize_t n =
        ::read(fd.get(), buf.data(), std::min<std::uint64_t>(buf.size(), want - f.hashed));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      f.error = absl::StrCat("read: ", std::strerror(errno));
      std::lock_guard<std::mutex> lock(mu_);
      budget_ += want - f.hashed;
      return f;
    }
    if (n == 0) break;
    h.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    f.hashed += static_cast<std::uint64_t>(n);
  }
  f.sha256 = crypto::hex(h.finish());
  f.partial = f.hashed < f.size;
  std::lock_guard<std::mutex> lock(mu_);
  budget_ += want - f.hashed;
  if (f.partial) ++partial_;
  if (cache_.size() >= limits_.max_cached) cache_.clear();
  cache_.emplace(key, f);
  return f;
}

}  // namespace warden
