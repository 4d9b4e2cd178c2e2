#include "controller/evidence_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>
#include <zstd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr std::size_t kPiece = 1 << 20;  // read and decompress in pieces of this size
constexpr int kZstdLevel = 3;
constexpr std::size_t kDirectAlignment = 4096;  // O_DIRECT offsets, lengths and buffers

absl::Status errnoError(const std::string& what) {
  const int err = errno;
  const std::string text = absl::StrFormat("%s: %s", what, std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(text);
  if (err == ENOENT) return absl::NotFoundError(text);
  return absl::InternalError(text);
}

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status writeAll(int fd, std::string_view data, std::uint64_t offset,
                      const std::string& what) {
  return pwriteFully(fd, data, offset) ? absl::OkStatus() : errnoError(what);
}

absl::StatusOr<std::size_t> readAt(int fd, char* buf, std::size_t len, std::uint64_t offset,
                                   const std::string& path) {
  for (;;) {
    const ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError("reading " + path);
    return static_cast<std::size_t>(n);
  }
}

// Calls `frame(compressed, decompressed)` for each whole zstd frame of the file at `fd` (`size`
// bytes), in order. Returns the offset where whole frames end (a torn last frame begins there).
// Every frame holds one chunk of at most kMaxEvidenceChunk content bytes.
absl::StatusOr<std::uint64_t> forEachFrame(
    int fd, std::uint64_t size, const std::string& path,
    const std::function<absl::Status(std::string_view, std::string_view)>& frame) {
  std::string in(ZSTD_compressBound(kPiece), '\0');
  std::string out(kPiece, '\0');
  std::uint64_t at = 0;
  while (at < size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), size - at));
    WARDEN_ASSIGN_OR_RETURN(std::size_t got, readAt(fd, in.data(), want, at, path));
    const std::size_t len = ZSTD_findFrameCompressedSize(in.data(), got);
    if (ZSTD_isError(len)) return at;  // a torn frame (or garbage): whole frames end here
    const unsigned long long content = ZSTD_getFrameContentSize(in.data(), len);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
        content > out.size()) {
      return absl::DataLossError(
          absl::StrFormat("%s: the zstd frame at %d is not one of the store's", path, at));
    }
    const std::size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), len);
    // A last frame that parses but does not decompress (its checksum fails) is as torn as one
    // cut short: whole frames end before it.
    if (ZSTD_isError(n) && at + len == size) return at;
    if (ZSTD_isError(n)) {
      return absl::DataLossError(absl::StrFormat("%s: the zstd frame at %d does not decompress: %s",
                                                 path, at, ZSTD_getErrorName(n)));
    }
    WARDEN_RETURN_IF_ERROR(
        frame(std::string_view(in.data(), len), std::string_view(out.data(), n)));
    at += len;
  }
  return at;
}

// Calls `piece` for the file's bytes in order, in pieces of at most kPiece.
absl::Status forEachPiece(int fd, std::uint64_t size, const std::string& path,
                          const std::function<absl::Status(std::string_view)>& piece) {
  std::string buf(kPiece, '\0');
  std::uint64_t done = 0;
  while (done < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, size - done));
    WARDEN_ASSIGN_OR_RETURN(std::size_t n, readAt(fd, buf.data(), want, done, path));
    if (n == 0) {
      return absl::DataLossError(absl::StrFormat("%s is shorter than %d bytes", path, size));
    }
    WARDEN_RETURN_IF_ERROR(piece(std::string_view(buf.data(), n)));
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> readWhole(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errnoError("opening " + path);
  absl::Cleanup closer = [fd] { ::close(fd); };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errnoError("stat " + path);
  if (st.st_size > (16 << 20)) return absl::DataLossError(path + " is too large");
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  WARDEN_ASSIGN_OR_RETURN(std::size_t n, readAt(fd, out.data(), out.size(), 0, path));
  out.resize(n);
  return out;
}

// Writes `data` to a new file `path` (0444), durably.
absl::Status writeReadOnlyFile(const std::string& path, std::string_view data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0444);
  if (fd < 0) return errnoError("writing " + path);
  absl::Status s = writeAll(fd, data, 0, "writing " + path);
  if (s.ok() && ::fsync(fd) != 0) s = errnoError("syncing " + path);
  ::close(fd);
  if (!s.ok()) (void)::unlink(path.c_str());
  return s;
}

std::string hexOrEmpty(const std::string& raw) { return raw.empty() ? "" : crypto::hex(raw); }

}  // namespace

std::string_view compressionName(Compression c) {
  return c == Compression::kZstd ? "zstd" : "none";
}

std::string EvidenceRecord::toJson() const {
  return absl::StrFormat(
      "{\"schema\": \"warden-evidence-record/1\", \"evidence_id\": %s, \"action_id\": %s, "
      "\"host_id\": %s, \"operator\": %s, \"kind\": %s, \"source\": %s, \"size\": %d, "
      "\"agent_sha256\": \"%s\", \"controller_sha256\": \"%s\", \"manifest_sha256\": \"%s\", "
      "\"stored\": {\"name\": %s, \"size\": %d, \"sha256\": \"%s\", \"compression\": \"%s\", "
      "\"immutable\": %s}, \"received\": {\"started_unix_ms\": %d, \"finished_unix_ms\": %d, "
      "\"wire_bytes\": %d, \"streams\": %d}}",
      jsonString(id), jsonString(action_id), jsonString(host_id), jsonString(operator_name),
      jsonString(kind), jsonString(source), size, hexOrEmpty(agent_sha256),
      hexOrEmpty(controller_sha256), hexOrEmpty(manifest_sha256), jsonString(stored_name),
      stored_size, hexOrEmpty(stored_sha256), compressionName(compression),
      immutable ? "true" : "false", started_unix_ms, finished_unix_ms, wire_bytes, streams);
}

absl::StatusOr<EvidenceRecord> EvidenceRecord::fromJson(std::string_view json) {
  try {
    const YAML::Node n = YAML::Load(std::string(json));
    if (!n.IsMap() || n["schema"].as<std::string>("") != "warden-evidence-record/1") {
      return absl::DataLossError("not a warden-evidence-record/1 document");
    }
    auto raw = [](const YAML::Node& v) -> absl::StatusOr<std::string> {
      const std::string h = v.as<std::string>("");
      if (h.empty()) return std::string();
      return crypto::unhex(h);
    };
    EvidenceRecord r;
    r.id = n["evidence_id"].as<std::string>();
    r.action_id = n["action_id"].as<std::string>();
    r.host_id = n["host_id"].as<std::string>();
    r.operator_name = n["operator"].as<std::string>("");
    r.kind = n["kind"].as<std::string>();
    r.source = n["source"].as<std::string>("");
    r.size = n["size"].as<std::uint64_t>();
    WARDEN_ASSIGN_OR_RETURN(r.agent_sha256, raw(n["agent_sha256"]));
    WARDEN_ASSIGN_OR_RETURN(r.controller_sha256, raw(n["controller_sha256"]));
    WARDEN_ASSIGN_OR_RETURN(r.manifest_sha256, raw(n["manifest_sha256"]));
    const YAML::Node st = n["stored"];
    r.stored_name = st["name"].as<std::string>();
    r.stored_size = st["size"].as<std::uint64_t>();
    WARDEN_ASSIGN_OR_RETURN(r.stored_sha256, raw(st["sha256"]));
    r.compression =
        st["compression"].as<std::string>() == "zstd" ? Compression::kZstd : Compression::kNone;
    r.immutable = st["immutable"].as<bool>(false);
    const YAML::Node rc = n["received"];
    r.started_unix_ms = rc["started_unix_ms"].as<std::int64_t>(0);
    r.finished_unix_ms = rc["finished_unix_ms"].as<std::int64_t>(0);
    r.wire_bytes = rc["wire_bytes"].as<std::uint64_t>(0);
    r.streams = rc["streams"].as<std::uint32_t>(0);
    return r;
  } catch (const YAML::Exception& e) {
    return absl::DataLossError(absl::StrFormat("custody record does not parse: %s", e.what()));
  }
}

EvidenceStore::Transfer::~Transfer() {
  if (fd >= 0) ::close(fd);
  if (direct_fd >= 0) ::close(direct_fd);
  std::free(aligned);
  if (cctx != nullptr) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx));
}

namespace {

// Opens `path` (never through a symlink), reads its inode flags, lets `change` edit them and
// writes them back when it asks to (ioctl_iflags(2): the argument is an int, read first so
// that file system flags such as ext4's EXTENTS_FL are kept). False, with `why`, on an error.
bool editFlags(const std::string& path, std::string* why,
               const std::function<bool(int& flags)>& change) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    *why = std::strerror(errno);
    return false;
  }
  int flags = 0;
  bool ok = ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok && change(flags)) ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
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

}  // namespace

bool makeImmutable(const std::string& path, std::string* why) {
  return editFlags(path, why, [](int& flags) {
    flags |= FS_IMMUTABLE_FL;
    return true;
  });
}

bool clearImmutable(const std::string& path, std::string* why) {
  return editFlags(path, why, [](int& flags) {
    if ((flags & FS_IMMUTABLE_FL) == 0) return false;
    flags &= ~FS_IMMUTABLE_FL;
    return true;
  });
}

bool isImmutable(const std::string& path, std::string* why) {
  bool set = false;
  const bool ok = editFlags(path, why, [&](int& flags) {
    set = (flags & FS_IMMUTABLE_FL) != 0;
    return false;
  });
  return ok && set;
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

// Rebuilds a transfer's sizes and hashes from the partial file (after a restart). A torn last
// zstd frame is cut off: the sender re-sends that chunk.
absl::Status EvidenceStore::rebuild(Transfer& t, const std::string& partial) {
  struct stat st {};
  if (::fstat(t.fd, &st) != 0) return errnoError("stat " + partial);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0) return absl::OkStatus();
  const int rfd = ::open(partial.c_str(), O_RDONLY | O_CLOEXEC);
  if (rfd < 0) return errnoError("opening " + partial);
  absl::Cleanup closer = [rfd] { ::close(rfd); };
  if (t.compression == Compression::kNone) {
    WARDEN_RETURN_IF_ERROR(forEachPiece(rfd, size, partial, [&](std::string_view piece) {
      t.hash.update(piece);
      return absl::OkStatus();
    }));
    t.size = t.file_size = size;
    return absl::OkStatus();
  }
  WARDEN_ASSIGN_OR_RETURN(
      std::uint64_t whole,
      forEachFrame(rfd, size, partial, [&](std::string_view frame, std::string_view content) {
        t.stored_hash.update(frame);
        t.hash.update(content);
        t.size += content.size();
        return absl::OkStatus();
      }));
  if (whole < size && ::ftruncate(t.fd, static_cast<off_t>(whole)) != 0) {
    return errnoError("cutting the torn last frame of " + partial);
  }
  t.file_size = whole;
  return absl::OkStatus();
}

// An item whose content was renamed into place but whose record was not committed (a crash in
// finish()): the record written beside it commits it; without one, the content goes back to
// being a partial transfer that the sender completes again. Called with mu_ held.
absl::Status EvidenceStore::recoverLocked(const std::string& id) {
  const std::string record_path = path(id, ".record");
  if (::access(record_path.c_str(), F_OK) == 0) return absl::OkStatus();
  for (const char* suffix : {".img", ".img.zst", ".tar.zst"}) {
    const std::string content = path(id, suffix);
    if (::access(content.c_str(), F_OK) != 0) continue;
    const std::string pending = path(id, ".record.tmp");
    auto text = readWhole(pending);
    if (text.ok() && EvidenceRecord::fromJson(*text).ok()) {
      if (::rename(pending.c_str(), record_path.c_str()) != 0) {
        return errnoError("committing " + record_path);
      }
      std::string why;
      (void)makeImmutable(content, &why);
      (void)makeImmutable(path(id, ".manifest"), &why);
      (void)makeImmutable(record_path, &why);
      return absl::OkStatus();
    }
    std::string why;
    (void)clearImmutable(content, &why);
    if (::rename(content.c_str(), path(id, ".partial").c_str()) != 0) {
      return errnoError("recovering " + content);
    }
    (void)::chmod(path(id, ".partial").c_str(), 0600);
    (void)::unlink(pending.c_str());
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

// A transfer ready to append to: the parked one when it still matches the file, else one
// rebuilt from the file. Runs without mu_: the caller holds the id's reservation.
absl::StatusOr<std::unique_ptr<EvidenceStore::Transfer>> EvidenceStore::prepare(
    const std::string& id, Compression compression, std::unique_ptr<Transfer> parked) {
  if (parked != nullptr && parked->compression == compression) {
    struct stat st {};
    if (::fstat(parked->fd, &st) == 0 &&
        static_cast<std::uint64_t>(st.st_size) == parked->file_size && st.st_nlink > 0) {
      return parked;
    }
  }
  parked.reset();
  const std::string partial = path(id, ".partial");
  auto t = std::make_unique<Transfer>();
  t->compression = compression;
  t->fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (t->fd < 0) return errnoError("opening " + partial);
  // What is there was fdatasynced before it was acknowledged (a crash of this process keeps
  // the rest in the page cache, also correct); the sender checks the hash anyway.
  WARDEN_RETURN_IF_ERROR(rebuild(*t, partial));
  if (compression == Compression::kNone) {
    t->direct_fd = ::open(partial.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECT);
    if (t->direct_fd >= 0) {
      t->aligned = static_cast<char*>(std::aligned_alloc(kDirectAlignment, kPiece));
      if (t->aligned == nullptr) {
        ::close(t->direct_fd);
        t->direct_fd = -1;
      }
    }
  }
  if (compression == Compression::kZstd) {
    auto* cctx = ZSTD_createCCtx();
    if (cctx == nullptr) return absl::ResourceExhaustedError("cannot allocate a zstd context");
    t->cctx = cctx;
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, kZstdLevel);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1);
  }
  return t;
}

absl::StatusOr<ResumePoint> EvidenceStore::begin(const std::string& id, Compression compression,
                                                 bool stream) {
  if (!validId(id))
    return absl::InvalidArgumentError(absl::StrFormat("invalid evidence id '%s'", id));
  std::unique_ptr<Transfer> parked;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (transfers_.contains(id)) {
      return absl::FailedPreconditionError(absl::StrFormat("evidence %s is being received", id));
    }
    WARDEN_RETURN_IF_ERROR(recoverLocked(id));
    if (::access(path(id, ".record").c_str(), F_OK) == 0) {
      return absl::AlreadyExistsError(absl::StrFormat("evidence %s is complete", id));
    }
    if (::access(path(id, ".incomplete").c_str(), F_OK) == 0) {
      return absl::FailedPreconditionError(
          absl::StrFormat("evidence %s was marked incomplete: its action ended", id));
    }
    transfers_[id] = nullptr;  // reserved: the id is this caller's from here on
    if (auto it = parked_.find(id); it != parked_.end()) {
      parked = std::move(it->second);
      parked_.erase(it);
    }
  }
  // Re-reading a large partial file takes a while: other items go on meanwhile.
  auto t = prepare(id, compression, std::move(parked));
  std::lock_guard<std::mutex> lock(mu_);
  if (!t.ok()) {
    transfers_.erase(id);
    return t.status();
  }
  ResumePoint rp;
  rp.offset = (*t)->size;
  rp.prefix_sha256 = (*t)->hash.digestSoFar();
  TransferProgress& p = progress_[id];
  p.held = (*t)->size;
  if (stream) {
    ++p.streams;
    if (p.started_unix_ms == 0) p.started_unix_ms = nowMs();
  }
  p.updated_unix_ms = nowMs();
  transfers_[id] = std::move(*t);
  return rp;
}

// The transfer of `id`, for its owner (the caller of begin()): it stays until end() or
// finish(), which only the owner calls, so it may be used without the lock.
absl::StatusOr<EvidenceStore::Transfer*> EvidenceStore::receiving(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = transfers_.find(id);
  if (it == transfers_.end() || it->second == nullptr) {
    return absl::FailedPreconditionError(absl::StrFormat("evidence %s is not being received", id));
  }
  return it->second.get();
}

absl::Status EvidenceStore::append(const std::string& id, std::uint64_t offset,
                                   std::string_view data) {
  WARDEN_ASSIGN_OR_RETURN(Transfer * t, receiving(id));
  if (offset != t->size) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "evidence %s: chunk at offset %d, but %d bytes are held", id, offset, t->size));
  }
  if (data.size() > kPiece) {
    return absl::InvalidArgumentError(
        absl::StrFormat("evidence %s: a chunk of %d bytes (at most %d)", id, data.size(), kPiece));
  }
  std::string frame;
  std::string_view stored = data;
  if (t->compression == Compression::kZstd) {
    // One frame per chunk: a restart cuts back to a frame boundary and resumes there.
    frame.resize(ZSTD_compressBound(data.size()));
    const std::size_t n = ZSTD_compress2(static_cast<ZSTD_CCtx*>(t->cctx), frame.data(),
                                         frame.size(), data.data(), data.size());
    if (ZSTD_isError(n)) {
      return absl::InternalError(
          absl::StrFormat("evidence %s: zstd: %s", id, ZSTD_getErrorName(n)));
    }
    frame.resize(n);
    stored = frame;
  }
  // Whole aligned chunks go around the page cache; anything else (the last chunk of an odd
  // size) through it.
  const bool direct = t->direct_fd >= 0 && t->file_size % kDirectAlignment == 0 &&
                      stored.size() % kDirectAlignment == 0;
  if (direct) std::memcpy(t->aligned, stored.data(), stored.size());
  if (auto s = writeAll(direct ? t->direct_fd : t->fd,
                        direct ? std::string_view(t->aligned, stored.size()) : stored, t->file_size,
                        "writing evidence " + id);
      !s.ok()) {
    // Keep the file at what was held before this chunk.
    (void)::ftruncate(t->fd, static_cast<off_t>(t->file_size));
    return s;
  }
  t->hash.update(data);
  if (t->compression == Compression::kZstd) t->stored_hash.update(stored);
  t->size += data.size();
  t->file_size += stored.size();
  std::lock_guard<std::mutex> lock(mu_);
  TransferProgress& p = progress_[id];
  p.held = t->size;
  p.updated_unix_ms = nowMs();
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> EvidenceStore::sync(const std::string& id) {
  WARDEN_ASSIGN_OR_RETURN(Transfer * t, receiving(id));
  if (::fdatasync(t->fd) != 0) return errnoError("syncing evidence " + id);
  return t->size;
}

void EvidenceStore::end(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = transfers_.find(id);
  if (it == transfers_.end()) return;
  // Parked with its hash state: a resume needs no re-reading while this process runs.
  if (it->second != nullptr) {
    parked_[id] = std::move(it->second);
    parked_order_.push_back(id);
    while (parked_.size() > kMaxParked && !parked_order_.empty()) {
      parked_.erase(parked_order_.front());
      parked_order_.pop_front();
    }
  }
  transfers_.erase(it);
}

void EvidenceStore::noteArrival(const std::string& id, std::uint64_t bytes, std::uint64_t total) {
  std::lock_guard<std::mutex> lock(mu_);
  TransferProgress& p = progress_[id];
  p.wire_bytes += bytes;
  if (total > 0) p.total = total;
  p.updated_unix_ms = nowMs();
}

std::map<std::string, TransferProgress> EvidenceStore::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_;
}

absl::StatusOr<EvidenceRecord> EvidenceStore::finish(const std::string& id, std::uint64_t size,
                                                     const std::string& sha256,
                                                     const std::string& manifest,
                                                     const std::string& manifest_signature,
                                                     EvidenceRecord record) {
  std::unique_ptr<Transfer> t;
  TransferProgress progress;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = transfers_.find(id);
    if (it == transfers_.end() || it->second == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrFormat("evidence %s is not being received", id));
    }
    // The id stays reserved (a null transfer) until this returns: nobody may begin it, or mark
    // it incomplete, half way through.
    t = std::move(it->second);
    progress = progress_[id];
  }
  absl::Cleanup release = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    transfers_.erase(id);
  };
  const std::string got = t->hash.finish();
  if (t->size != size || got != sha256) {
    return absl::DataLossError(absl::StrFormat(
        "evidence %s: received %d bytes with SHA-256 %s, the agent read %d bytes with %s; kept as "
        "incomplete",
        id, t->size, crypto::hex(got), size, crypto::hex(sha256)));
  }
  if (::fdatasync(t->fd) != 0) return errnoError("finishing evidence " + id);
  record.id = id;
  record.size = size;
  record.agent_sha256 = sha256;
  record.controller_sha256 = got;
  record.manifest_sha256 = crypto::sha256(manifest);
  record.compression = t->compression;
  // A triage bundle is a .tar.zst already; images are raw, or zstd frames.
  record.stored_name = id + (record.kind == "collect"               ? ".tar.zst"
                             : t->compression == Compression::kZstd ? ".img.zst"
                                                                    : ".img");
  record.stored_size = t->file_size;
  record.stored_sha256 = t->compression == Compression::kZstd ? t->stored_hash.finish() : got;
  record.started_unix_ms = progress.started_unix_ms;
  record.finished_unix_ms = nowMs();
  record.wire_bytes = progress.wire_bytes;
  record.streams = progress.streams;
  // Whether the file system takes the immutable attribute, learned on the partial file before
  // anything is committed (and lifted again: it could not be renamed otherwise).
  const std::string partial = path(id, ".partial");
  std::string why;
  record.immutable = makeImmutable(partial, &why);
  if (record.immutable) (void)clearImmutable(partial, &why);
  t.reset();  // closes the partial file

  // Commit protocol: manifest and record are written under temporary names and made durable;
  // the content is renamed into place; the record's rename commits. A crash before that leaves
  // something begin() recovers (recoverLocked); nothing is complete without its record.
  const std::string content_path = dir_ + "/" + record.stored_name;
  const std::string manifest_path = path(id, ".manifest");
  const std::string record_path = path(id, ".record");
  const std::string record_tmp = path(id, ".record.tmp");
  const std::string manifest_tmp = path(id, ".manifest.tmp");
  (void)::unlink(record_tmp.c_str());
  (void)::unlink(manifest_tmp.c_str());
  WARDEN_RETURN_IF_ERROR(writeReadOnlyFile(
      manifest_tmp, manifest + "\nsignature " + crypto::base64(manifest_signature) + "\n"));
  WARDEN_RETURN_IF_ERROR(writeReadOnlyFile(record_tmp, record.toJson() + "\n"));
  if (::chmod(partial.c_str(), 0444) != 0) return errnoError("finishing evidence " + id);
  if (::rename(manifest_tmp.c_str(), manifest_path.c_str()) != 0 ||
      ::rename(partial.c_str(), content_path.c_str()) != 0) {
    const absl::Status s = errnoError("completing evidence " + id);
    (void)::chmod(partial.c_str(), 0600);
    return s;
  }
  if (::rename(record_tmp.c_str(), record_path.c_str()) != 0) {
    const absl::Status s = errnoError("committing evidence " + id);
    (void)::rename(content_path.c_str(), partial.c_str());
    (void)::chmod(partial.c_str(), 0600);
    return s;
  }
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
  if (record.immutable && !makeImmutable(content_path, &why)) record.immutable = false;
  (void)makeImmutable(manifest_path, &why);
  (void)makeImmutable(record_path, &why);
  {
    std::lock_guard<std::mutex> lock(mu_);
    progress_.erase(id);  // the record keeps the figures from here on
  }
  return record;
}

int EvidenceStore::markIncomplete(const std::string& action_id) {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(action_id + "-") || !name.ends_with(".partial")) continue;
    const std::string id = name.substr(0, name.size() - 8);
    if (transfers_.contains(id)) continue;
    parked_.erase(id);
    if (::rename(entry.path().c_str(), path(id, ".incomplete").c_str()) == 0) ++n;
  }
  return n;
}

absl::StatusOr<std::vector<StoredEvidence>> EvidenceStore::list() const {
  std::vector<StoredEvidence> out;
  std::error_code ec;
  std::set<std::string> complete;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(".record")) complete.insert(name.substr(0, name.size() - 7));
  }
  if (ec) return absl::InternalError(absl::StrFormat("listing %s: %s", dir_, ec.message()));
  for (const std::string& id : complete) {
    auto e = find(id);
    if (e.ok()) {
      out.push_back(std::move(*e));
      continue;
    }
    // A record that does not read is shown, not allowed to hide every other item.
    StoredEvidence bad;
    bad.id = id;
    bad.state = "damaged";
    bad.path = path(id, ".record");
    out.push_back(std::move(bad));
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    StoredEvidence e;
    if (name.ends_with(".partial")) {
      e.id = name.substr(0, name.size() - 8);
      e.state = "receiving";
    } else if (name.ends_with(".incomplete")) {
      e.id = name.substr(0, name.size() - 11);
      e.state = "incomplete";
    } else {
      continue;
    }
    if (complete.contains(e.id)) continue;  // a crash between rename and cleanup
    e.path = entry.path().string();
    e.size = heldBytes(e.id, e.path);
    out.push_back(std::move(e));
  }
  if (ec) return absl::InternalError(absl::StrFormat("listing %s: %s", dir_, ec.message()));
  std::sort(out.begin(), out.end(),
            [](const StoredEvidence& a, const StoredEvidence& b) { return a.id < b.id; });
  return out;
}

// Content bytes held of an unfinished item: the transfer's count where this process has one
// (a compressed file is smaller than what it holds), else the file's size.
std::uint64_t EvidenceStore::heldBytes(const std::string& id, const std::string& file) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto p = progress_.find(id);
    if (p != progress_.end()) return p->second.held;
  }
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  return ec ? 0 : size;
}

absl::StatusOr<StoredEvidence> EvidenceStore::lookup(const std::string& id) const {
  auto done = find(id);
  if (done.ok() || done.status().code() != absl::StatusCode::kFailedPrecondition) return done;
  for (const auto& [suffix, state] : {std::pair<const char*, const char*>{".partial", "receiving"},
                                      {".incomplete", "incomplete"}}) {
    const std::string p = path(id, suffix);
    if (::access(p.c_str(), F_OK) != 0) continue;
    StoredEvidence e;
    e.id = id;
    e.state = state;
    e.path = p;
    e.size = heldBytes(id, p);
    return e;
  }
  return absl::NotFoundError(absl::StrFormat("no evidence %s", id));
}

absl::StatusOr<StoredEvidence> EvidenceStore::find(const std::string& id) const {
  if (!validId(id))
    return absl::InvalidArgumentError(absl::StrFormat("invalid evidence id '%s'", id));
  const std::string record_path = path(id, ".record");
  if (::access(record_path.c_str(), F_OK) != 0) {
    for (const char* suffix : {".partial", ".incomplete"}) {
      if (::access(path(id, suffix).c_str(), F_OK) == 0) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "evidence %s is not complete (%s)", id,
            std::string_view(suffix) == ".partial" ? "still being received" : "incomplete"));
      }
    }
    return absl::NotFoundError(absl::StrFormat("no evidence %s", id));
  }
  WARDEN_ASSIGN_OR_RETURN(std::string json, readWhole(record_path));
  auto r = EvidenceRecord::fromJson(json);
  if (!r.ok())
    return absl::DataLossError(absl::StrFormat("%s: %s", record_path, r.status().message()));
  if (r->id != id || r->stored_name.find('/') != std::string::npos) {
    return absl::DataLossError(absl::StrFormat("%s names another item", record_path));
  }
  StoredEvidence e;
  e.id = id;
  e.state = "complete";
  e.size = r->size;
  e.path = dir_ + "/" + r->stored_name;
  e.record = std::move(*r);
  return e;
}

absl::StatusOr<std::pair<std::string, std::string>> EvidenceStore::manifest(
    const std::string& id) const {
  WARDEN_ASSIGN_OR_RETURN(StoredEvidence e, find(id));
  const std::string p = path(id, ".manifest");
  WARDEN_ASSIGN_OR_RETURN(std::string text, readWhole(p));
  const std::string marker = "\nsignature ";
  const std::size_t at = text.rfind(marker);
  if (at == std::string::npos || !text.ends_with("\n")) {
    return absl::DataLossError(absl::StrFormat("%s has no signature line", p));
  }
  const std::string sig64 = text.substr(at + marker.size(), text.size() - at - marker.size() - 1);
  WARDEN_ASSIGN_OR_RETURN(std::string sig, crypto::unbase64(sig64));
  return std::make_pair(text.substr(0, at), sig);
}

// Calls `fn(stored, content)` over a complete item's file in order: the stored bytes and what
// they hold (for an uncompressed item, the same bytes). Sets `stored_size`.
absl::Status EvidenceStore::walk(
    const StoredEvidence& e, std::uint64_t* stored_size,
    const std::function<absl::Status(std::string_view, std::string_view)>& fn) const {
  const int fd = ::open(e.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errnoError("opening " + e.path);
  absl::Cleanup closer = [fd] { ::close(fd); };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errnoError("stat " + e.path);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  *stored_size = size;
  if (e.record.compression == Compression::kNone) {
    return forEachPiece(fd, size, e.path, [&](std::string_view piece) { return fn(piece, piece); });
  }
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t whole, forEachFrame(fd, size, e.path, fn));
  if (whole != size) {
    return absl::DataLossError(
        absl::StrFormat("%s: bytes after offset %d are not a whole zstd frame", e.path, whole));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvidenceStore::Measured> EvidenceStore::measure(const std::string& id) const {
  WARDEN_ASSIGN_OR_RETURN(StoredEvidence e, find(id));
  Measured m;
  crypto::Sha256 stored, content;
  WARDEN_RETURN_IF_ERROR(
      walk(e, &m.stored_size, [&](std::string_view stored_bytes, std::string_view c) {
        stored.update(stored_bytes);
        content.update(c);
        m.size += c.size();
        return absl::OkStatus();
      }));
  m.stored_sha256 = stored.finish();
  m.sha256 = content.finish();
  return m;
}

absl::Status EvidenceStore::readContent(const std::string& id,
                                        const std::function<bool(std::string_view)>& sink) const {
  WARDEN_ASSIGN_OR_RETURN(StoredEvidence e, find(id));
  std::uint64_t stored_size = 0;
  return walk(e, &stored_size, [&](std::string_view, std::string_view content) {
    return sink(content) ? absl::OkStatus() : absl::CancelledError("the reader went away");
  });
}

}  // namespace warden
