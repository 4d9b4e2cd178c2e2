#include "controller/evidence_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace warden {
namespace {

absl::Status errnoError(const std::string& what) {
  const int err = errno;
  const std::string text = absl::StrFormat("%s: %s", what, std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(text);
  if (err == ENOENT) return absl::NotFoundError(text);
  return absl::InternalError(text);
}

// Reads the whole file at `fd` into `hash` (to rebuild a transfer's hash after a restart, and
// for verify).
absl::Status hashFile(int fd, std::uint64_t size, crypto::Sha256& hash, const std::string& path) {
  std::string buf(1 << 20, '\0');
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, buf.data(), std::min<std::uint64_t>(buf.size(), size - done),
                              static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError("reading " + path);
    if (n == 0)
      return absl::DataLossError(absl::StrFormat("%s is shorter than %d bytes", path, size));
    hash.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    done += static_cast<std::uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

bool makeImmutable(const std::string& path, std::string* why) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *why = std::strerror(errno);
    return false;
  }
  // ioctl_iflags(2): the argument is an int, and the flags are read first so that file system
  // flags such as ext4's EXTENTS_FL are kept.
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags |= FS_IMMUTABLE_FL;
    ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  if (!ok) {
    const int err = errno;
    *why = err == EPERM ? "not permitted (the controller needs CAP_LINUX_IMMUTABLE)"
           : err == ENOTTY || err == EOPNOTSUPP || err == EINVAL
               ? "the file system does not support the immutable attribute"
               : std::strerror(err);
  }
  ::close(fd);
  return ok;
}

bool EvidenceStore::validId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<EvidenceStore>> EvidenceStore::open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrFormat("creating %s: %s", dir, ec.message()));
  if (::chmod(dir.c_str(), 0700) != 0) return errnoError("chmod " + dir);
  return std::unique_ptr<EvidenceStore>(new EvidenceStore(dir));
}

std::string EvidenceStore::path(const std::string& id, const char* suffix) const {
  return dir_ + "/" + id + suffix;
}

absl::StatusOr<ResumePoint> EvidenceStore::begin(const std::string& id) {
  if (!validId(id))
    return absl::InvalidArgumentError(absl::StrFormat("invalid evidence id '%s'", id));
  std::lock_guard<std::mutex> lock(mu_);
  if (transfers_.contains(id)) {
    return absl::FailedPreconditionError(absl::StrFormat("evidence %s is being received", id));
  }
  if (::access(path(id, ".img").c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrFormat("evidence %s is complete", id));
  }
  const std::string partial = path(id, ".partial");
  auto t = std::make_unique<Transfer>();
  t->fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (t->fd < 0) return errnoError("opening " + partial);
  struct stat st {};
  if (::fstat(t->fd, &st) != 0) {
    const absl::Status s = errnoError("stat " + partial);
    ::close(t->fd);
    return s;
  }
  // What is there was fdatasynced before it was acknowledged (a crash of this process keeps
  // the rest in the page cache, also correct); the sender checks the hash anyway.
  t->size = static_cast<std::uint64_t>(st.st_size);
  if (t->size > 0) {
    const int rfd = ::open(partial.c_str(), O_RDONLY | O_CLOEXEC);
    if (rfd < 0) {
      const absl::Status s = errnoError("opening " + partial);
      ::close(t->fd);
      return s;
    }
    const absl::Status s = hashFile(rfd, t->size, t->hash, partial);
    ::close(rfd);
    if (!s.ok()) {
      ::close(t->fd);
      return s;
    }
  }
  ResumePoint rp;
  rp.offset = t->size;
  rp.prefix_sha256 = t->hash.digestSoFar();
  transfers_[id] = std::move(t);
  return rp;
}

absl::Status EvidenceStore::append(const std::string& id, std::uint64_t offset,
                                   std::string_view data) {
  Transfer* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = transfers_.find(id);
    if (it == transfers_.end()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("evidence %s is not being received", id));
    }
    t = it->second.get();
  }
  if (offset != t->size) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "evidence %s: chunk at offset %d, but %d bytes are held", id, offset, t->size));
  }
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n =
        ::pwrite(t->fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const absl::Status s = errnoError("writing evidence " + id);
      // Keep the file at what was held before this chunk.
      (void)::ftruncate(t->fd, static_cast<off_t>(offset));
      return s;
    }
    done += static_cast<std::size_t>(n);
  }
  t->hash.update(data);
  t->size += data.size();
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> EvidenceStore::sync(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = transfers_.find(id);
  if (it == transfers_.end()) {
    return absl::FailedPreconditionError(absl::StrFormat("evidence %s is not being received", id));
  }
  if (::fdatasync(it->second->fd) != 0) return errnoError("syncing evidence " + id);
  return it->second->size;
}

void EvidenceStore::end(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  ::close(it->second->fd);
  transfers_.erase(it);
}

absl::StatusOr<StoredEvidence> EvidenceStore::finish(const std::string& id, std::uint64_t size,
                                                     const std::string& sha256,
                                                     const std::string& manifest) {
  std::unique_ptr<Transfer> t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = transfers_.find(id);
    if (it == transfers_.end()) {
      return absl::FailedPreconditionError(
          absl::StrFormat("evidence %s is not being received", id));
    }
    t = std::move(it->second);
    transfers_.erase(it);
  }
  const std::string got = t->hash.finish();
  if (t->size != size || got != sha256) {
    ::close(t->fd);
    return absl::DataLossError(absl::StrFormat(
        "evidence %s: received %d bytes with SHA-256 %s, the agent read %d bytes with %s; kept as "
        "incomplete",
        id, t->size, crypto::hex(got), size, crypto::hex(sha256)));
  }
  if (::fdatasync(t->fd) != 0 || ::fchmod(t->fd, 0444) != 0) {
    const absl::Status s = errnoError("finishing evidence " + id);
    ::close(t->fd);
    return s;
  }
  ::close(t->fd);
  StoredEvidence out;
  out.id = id;
  out.size = size;
  out.sha256 = sha256;
  out.path = path(id, ".img");
  // The manifest first: an image is never complete without it.
  const std::string manifest_path = path(id, ".manifest");
  const int mfd =
      ::open(manifest_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (mfd < 0) return errnoError("writing " + manifest_path);
  const bool written =
      ::write(mfd, manifest.data(), manifest.size()) == static_cast<ssize_t>(manifest.size()) &&
      ::fsync(mfd) == 0;
  ::close(mfd);
  if (!written) return errnoError("writing " + manifest_path);
  if (::rename(path(id, ".partial").c_str(), out.path.c_str()) != 0) {
    return errnoError("completing evidence " + id);
  }
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  std::string why;
  out.immutable = makeImmutable(out.path, &why);
  (void)makeImmutable(manifest_path, &why);
  out.complete = true;
  return out;
}

absl::StatusOr<std::vector<StoredEvidence>> EvidenceStore::list() const {
  std::vector<StoredEvidence> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    StoredEvidence e;
    if (name.ends_with(".img")) {
      e.id = name.substr(0, name.size() - 4);
      e.complete = true;
    } else if (name.ends_with(".partial")) {
      e.id = name.substr(0, name.size() - 8);
    } else {
      continue;
    }
    e.path = entry.path().string();
    e.size = entry.file_size(ec);
    out.push_back(std::move(e));
  }
  if (ec) return absl::InternalError(absl::StrFormat("listing %s: %s", dir_, ec.message()));
  std::sort(out.begin(), out.end(),
            [](const StoredEvidence& a, const StoredEvidence& b) { return a.id < b.id; });
  return out;
}

absl::Status EvidenceStore::verify(const std::string& id, const std::string& sha256) const {
  if (!validId(id))
    return absl::InvalidArgumentError(absl::StrFormat("invalid evidence id '%s'", id));
  const std::string p = path(id, ".img");
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errnoError("opening " + p);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const absl::Status s = errnoError("stat " + p);
    ::close(fd);
    return s;
  }
  crypto::Sha256 hash;
  const absl::Status s = hashFile(fd, static_cast<std::uint64_t>(st.st_size), hash, p);
  ::close(fd);
  WARDEN_RETURN_IF_ERROR(s);
  const std::string got = hash.finish();
  if (got != sha256) {
    return absl::DataLossError(absl::StrFormat("evidence %s: content hashes to %s, recorded %s", id,
                                               crypto::hex(got), crypto::hex(sha256)));
  }
  return absl::OkStatus();
}

}  // namespace warden
