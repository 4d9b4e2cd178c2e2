// The evidence store: opening it, and reading what it holds (listing, custody records,
// manifests, content). Receiving is in transfer.cc.
#include "controller/evidence/store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "controller/evidence/content_file.h"
#include "controller/evidence/immutable_attribute.h"

namespace warden {

bool EvidenceStore::validId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  }
  return true;
}

absl::StatusOr<std::unique_ptr<EvidenceStore>> EvidenceStore::open(const std::string& dir,
                                                                   const EvidenceQuota& quota) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrFormat("creating %s: %s", dir, ec.message()));
  if (::chmod(dir.c_str(), 0700) != 0) return errnoStatus(errno, "chmod " + dir);
  std::unique_ptr<EvidenceStore> store(new EvidenceStore(dir, quota));
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::error_code size_ec;
    const auto size = entry.is_regular_file(size_ec) ? entry.file_size(size_ec) : 0;
    if (!size_ec) store->used_ += size;
  }
  if (ec) return absl::InternalError(absl::StrFormat("listing %s: %s", dir, ec.message()));
  WARDEN_ASSIGN_OR_RETURN(auto items, store->list());
  for (const auto& e : items) {
    if (e.state != "complete" || e.record.host_id.empty()) continue;
    store->used_by_host_[e.record.host_id] += e.record.stored_size;
    store->attributed_.insert(e.id);
  }
  return store;
}

absl::Status EvidenceStore::quotaRoomForLocked(const std::string& host, std::uint64_t bytes) const {
  if (quota_.total_bytes != 0 && used_ + bytes > quota_.total_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("the evidence store is full: it holds %d bytes, its quota is %d "
                        "(warden-controller serve --evidence-quota)",
                        used_, quota_.total_bytes));
  }
  if (quota_.per_host_bytes != 0 && !host.empty()) {
    const auto it = used_by_host_.find(host);
    const std::uint64_t held = it == used_by_host_.end() ? 0 : it->second;
    if (held + bytes > quota_.per_host_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrFormat("%s's evidence is at its quota: %d bytes stored, at most %d per host "
                          "(warden-controller serve --evidence-host-quota)",
                          host, held, quota_.per_host_bytes));
    }
  }
  return absl::OkStatus();
}

absl::Status EvidenceStore::diskRoomFor(std::uint64_t bytes) const {
  if (quota_.keep_free_bytes == 0) return absl::OkStatus();
  // Asked each time: a disk may be mounted over the store while the controller runs.
  struct stat own {
  }, above{};
  const bool own_disk = ::stat(dir_.c_str(), &own) == 0 &&
                        ::stat(parent_dir_.c_str(), &above) == 0 && own.st_dev != above.st_dev;
  struct statvfs fs;
  if (!own_disk && ::statvfs(dir_.c_str(), &fs) == 0) {
    const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes < bytes + quota_.keep_free_bytes) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "the evidence disk has %d bytes free and %d stay free for the action log and the "
          "registry (warden-controller serve --evidence-keep-free)",
          free_bytes, quota_.keep_free_bytes));
    }
  }
  return absl::OkStatus();
}

std::string EvidenceStore::path(const std::string& id, const char* suffix) const {
  return dir_ + "/" + id + suffix;
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
        return errnoStatus(errno, "committing " + record_path);
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
      return errnoStatus(errno, "recovering " + content);
    }
    (void)::chmod(path(id, ".partial").c_str(), 0600);
    (void)::unlink(pending.c_str());
    return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> EvidenceStore::ids(const std::string& after) const {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    for (std::string_view suffix : {".record", ".partial", ".incomplete"}) {
      if (!name.ends_with(suffix)) continue;
      std::string id = name.substr(0, name.size() - suffix.size());
      if (id > after) out.insert(std::move(id));
    }
  }
  if (ec) return absl::InternalError(absl::StrFormat("listing %s: %s", dir_, ec.message()));
  return std::vector<std::string>(out.begin(), out.end());
}

absl::StatusOr<StoredEvidence> EvidenceStore::listed(const std::string& id) const {
  absl::StatusOr<StoredEvidence> e = lookup(id);
  if (e.ok() || absl::IsNotFound(e.status())) return e;
  // A record that does not read (or a file no item id can name) is shown, not allowed to hide
  // every other item.
  StoredEvidence bad;
  bad.id = id;
  bad.state = "damaged";
  bad.path = path(id, ".record");
  return bad;
}

absl::StatusOr<std::vector<StoredEvidence>> EvidenceStore::list() const {
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> all, ids());
  std::vector<StoredEvidence> out;
  for (const std::string& id : all) {
    absl::StatusOr<StoredEvidence> e = listed(id);
    if (e.ok()) out.push_back(std::move(*e));  // else gone since the directory was read
  }
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
  const UniqueFd fd(::open(e.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.ok()) return errnoStatus(errno, "opening " + e.path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errnoStatus(errno, "stat " + e.path);
  const auto size = static_cast<std::uint64_t>(st.st_size);
  *stored_size = size;
  if (e.record.compression == Compression::kNone) {
    return forEachPiece(fd.get(), size, e.path,
                        [&](std::string_view piece) { return fn(piece, piece); });
  }
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t whole, forEachFrame(fd.get(), size, e.path, fn));
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
