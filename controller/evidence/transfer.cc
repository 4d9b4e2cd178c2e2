// The evidence store, receiving: a transfer begins (or resumes where the store's bytes end),
// takes chunks, is made durable, and is finished (the commit protocol) or marked incomplete.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/status.h"
#include "controller/evidence/content_file.h"
#include "controller/evidence/immutable_attribute.h"
#include "controller/evidence/store.h"

namespace warden {
namespace {

constexpr int kZstdLevel = 3;
constexpr std::size_t kDirectAlignment = 4096;  // O_DIRECT offsets, lengths and buffers

}  // namespace

EvidenceStore::Transfer::~Transfer() {
  std::free(aligned);
  if (cctx != nullptr) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx));
}

// Rebuilds a transfer's sizes and hashes from the partial file (after a restart). A torn last
// zstd frame is cut off: the sender re-sends that chunk.
absl::Status EvidenceStore::rebuild(Transfer& t, const std::string& partial) {
  struct stat st {};
  if (::fstat(t.fd.get(), &st) != 0) return errnoStatus(errno, "stat " + partial);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0) return absl::OkStatus();
  const UniqueFd rfd(::open(partial.c_str(), O_RDONLY | O_CLOEXEC));
  if (!rfd.ok()) return errnoStatus(errno, "opening " + partial);
  if (t.compression == Compression::kNone) {
    WARDEN_RETURN_IF_ERROR(forEachPiece(rfd.get(), size, partial, [&](std::string_view piece) {
      t.hash.update(piece);
      return absl::OkStatus();
    }));
    t.size = t.file_size = size;
    return absl::OkStatus();
  }
  WARDEN_ASSIGN_OR_RETURN(
      std::uint64_t whole,
      forEachFrame(rfd.get(), size, partial, [&](std::string_view frame, std::string_view content) {
        t.stored_hash.update(frame);
        t.hash.update(content);
        t.size += content.size();
        return absl::OkStatus();
      }));
  if (whole < size && ::ftruncate(t.fd.get(), static_cast<off_t>(whole)) != 0) {
    return errnoStatus(errno, "cutting the torn last frame of " + partial);
  }
  t.file_size = whole;
  return absl::OkStatus();
}

// A transfer ready to append to: the parked one when it still matches the file, else one
// rebuilt from the file. Runs without mu_: the caller holds the id's reservation.
absl::StatusOr<std::unique_ptr<EvidenceStore::Transfer>> EvidenceStore::prepare(
    const std::string& id, Compression compression, std::unique_ptr<Transfer> parked) {
  if (parked != nullptr && parked->compression == compression) {
    struct stat st {};
    if (::fstat(parked->fd.get(), &st) == 0 &&
        static_cast<std::uint64_t>(st.st_size) == parked->file_size && st.st_nlink > 0) {
      return parked;
    }
  }
  parked.reset();
  const std::string partial = path(id, ".partial");
  auto t = std::make_unique<Transfer>();
  t->compression = compression;
  t->fd.reset(::open(partial.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!t->fd.ok()) return errnoStatus(errno, "opening " + partial);
  // What is there was fdatasynced before it was acknowledged (a crash of this process keeps
  // the rest in the page cache, also correct); the sender checks the hash anyway.
  WARDEN_RETURN_IF_ERROR(rebuild(*t, partial));
  if (compression == Compression::kNone) {
    t->direct_fd.reset(::open(partial.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_DIRECT));
    if (t->direct_fd.ok()) {
      t->aligned = static_cast<char*>(std::aligned_alloc(kDirectAlignment, kEvidencePiece));
      if (t->aligned == nullptr) t->direct_fd.reset();
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
                                                 bool stream, const std::string& host) {
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
  (*t)->host = host;
  if (!host.empty() && attributed_.insert(id).second) used_by_host_[host] += (*t)->file_size;
  ResumePoint rp;
  rp.offset = (*t)->size;
  rp.prefix_sha256 = (*t)->hash.digestSoFar();
  TransferProgress& p = progress_[id];
  p.held = (*t)->size;
  if (stream) {
    ++p.streams;
    if (p.started_unix_ms == 0) p.started_unix_ms = nowUnixMs();
  }
  p.updated_unix_ms = nowUnixMs();
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
  if (data.size() > kEvidencePiece) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "evidence %s: a chunk of %d bytes (at most %d)", id, data.size(), kEvidencePiece));
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
  WARDEN_RETURN_IF_ERROR(diskRoomFor(stored.size()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    WARDEN_RETURN_IF_ERROR(quotaRoomForLocked(t->host, stored.size()));
  }
  // Whole aligned chunks go around the page cache; anything else (the last chunk of an odd
  // size) through it.
  const bool direct = t->direct_fd.ok() && t->file_size % kDirectAlignment == 0 &&
                      stored.size() % kDirectAlignment == 0;
  if (direct) std::memcpy(t->aligned, stored.data(), stored.size());
  if (auto s = writeAll(direct ? t->direct_fd.get() : t->fd.get(),
                        direct ? std::string_view(t->aligned, stored.size()) : stored, t->file_size,
                        "writing evidence " + id);
      !s.ok()) {
    // Keep the file at what was held before this chunk.
    (void)::ftruncate(t->fd.get(), static_cast<off_t>(t->file_size));
    return s;
  }
  t->hash.update(data);
  if (t->compression == Compression::kZstd) t->stored_hash.update(stored);
  t->size += data.size();
  t->file_size += stored.size();
  std::lock_guard<std::mutex> lock(mu_);
  used_ += stored.size();
  if (!t->host.empty()) used_by_host_[t->host] += stored.size();
  TransferProgress& p = progress_[id];
  p.held = t->size;
  p.updated_unix_ms = nowUnixMs();
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> EvidenceStore::sync(const std::string& id) {
  WARDEN_ASSIGN_OR_RETURN(Transfer * t, receiving(id));
  if (::fdatasync(t->fd.get()) != 0) return errnoStatus(errno, "syncing evidence " + id);
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
  p.updated_unix_ms = nowUnixMs();
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
  if (::fdatasync(t->fd.get()) != 0) return errnoStatus(errno, "finishing evidence " + id);
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
  record.finished_unix_ms = nowUnixMs();
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
  if (::chmod(partial.c_str(), 0444) != 0) return errnoStatus(errno, "finishing evidence " + id);
  if (::rename(manifest_tmp.c_str(), manifest_path.c_str()) != 0 ||
      ::rename(partial.c_str(), content_path.c_str()) != 0) {
    const absl::Status s = errnoStatus(errno, "completing evidence " + id);
    (void)::chmod(partial.c_str(), 0600);
    return s;
  }
  if (::rename(record_tmp.c_str(), record_path.c_str()) != 0) {
    const absl::Status s = errnoStatus(errno, "committing evidence " + id);
    (void)::rename(content_path.c_str(), partial.c_str());
    (void)::chmod(partial.c_str(), 0600);
    return s;
  }
  if (const UniqueFd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dfd.ok()) {
    (void)::fsync(dfd.get());
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

}  // namespace warden
