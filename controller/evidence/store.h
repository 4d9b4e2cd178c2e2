// The controller's evidence store (issue 5): disk images and triage bundles received from
// agents, hashed independently as they arrive, optionally zstd-compressed, made read-only when
// complete, with a chain-of-custody record next to each item.
//
// Layout in `dir` (0700):
//   ID.partial     a transfer in progress (0600); raw bytes, or one zstd frame per chunk
//   ID.incomplete  a transfer that can no longer complete (its action failed); kept, never
//                  listed as complete
//   ID.img         a complete raw image, or ID.img.zst a complete zstd-compressed one (a
//                  sequence of frames: `zstd -d` restores the image), or ID.tar.zst a triage
//                  bundle (stored as it came: it is compressed already): 0444, and immutable
//                  (FS_IMMUTABLE_FL) where the file system and the controller's capabilities allow
//   ID.manifest    the manifest the agent signed, exactly as signed, then "signature BASE64"
//   ID.record      the controller's custody record (JSON, one line): who asked, which action and
//                  host, what arrived (sizes, both hashes, the stored file's own hash), when,
//                  how (streams, bytes on the wire)
// The content, manifest and record are written and made durable before the rename that makes
// an item complete; an item without all three is not complete.
//
// A transfer is resumable: begin() reports how many content bytes the store holds and their
// SHA-256 (recomputed from the file after a restart: a compressed file is decompressed frame by
// frame and a torn last frame cut off), so the sender re-sends nothing before that offset. Bytes
// are durable (fdatasync) before they count as received. Only finish() with matching size and
// hash makes an item complete.
//
// Thread-safety: every method may be called concurrently; one transfer per id at a time
// (FailedPrecondition for a second).
//
// store.cc reads what the store holds; transfer.cc receives (begin ... finish).
#pragma once

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/hash.h"
#include "common/unique_fd.h"
#include "controller/evidence/custody_record.h"

namespace warden {

struct ResumePoint {
  std::uint64_t offset = 0;   // content bytes held durably
  std::string prefix_sha256;  // raw SHA-256 of those bytes
};

// One item as list() sees it.
struct StoredEvidence {
  std::string id;
  std::string state;       // "receiving" (a .partial file), "incomplete", "complete"
  std::uint64_t size = 0;  // content bytes held (complete: the record's size)
  std::string path;        // the content file
  EvidenceRecord record;   // complete items only
};

// Transfer figures kept in memory for progress displays and the custody record.
struct TransferProgress {
  std::uint64_t held = 0;        // content bytes held
  std::uint64_t total = 0;       // the source's size as the sender announced it (0: unknown)
  std::uint64_t wire_bytes = 0;  // content bytes that arrived, re-sends included
  std::uint32_t streams = 0;
  std::int64_t started_unix_ms = 0;
  std::int64_t updated_unix_ms = 0;
};

// How much the store may hold. The evidence directory sits beside the action log and the
// registry: whatever hosts upload, the disk keeps room for them (a full log disk would stop
// every containment). A chunk that would pass a limit is refused (ResourceExhausted) and the
// transfer stays resumable.
struct EvidenceQuota {
  std::uint64_t total_bytes = 0;     // stored bytes of all items; 0: no limit
  std::uint64_t per_host_bytes = 0;  // stored bytes of one host's items; 0: none
  // Free space always left on the disk, when it is the disk of the directory above the store
  // (the controller's data directory: the action log and the registry). An evidence store
  // mounted on a disk of its own may fill it.
  std::uint64_t keep_free_bytes = 1ull << 30;
};

class EvidenceStore {
 public:
  static absl::StatusOr<std::unique_ptr<EvidenceStore>> open(const std::string& dir,
                                                             const EvidenceQuota& quota = {});

  // Valid ids: letters, digits, '-' and '_', 1..64 characters.
  static bool validId(std::string_view id);

  // Starts (or resumes) the transfer of `id`, stored with `compression` (a resumed transfer
  // keeps the compression it began with). AlreadyExists when it is complete;
  // FailedPrecondition when it was marked incomplete or is being received by another stream.
  // `stream`: an upload stream begins (counted in the custody record), not a probe of where
  // the transfer stands.
  // `host`: whose item it is, counted against the per-host quota.
  absl::StatusOr<ResumePoint> begin(const std::string& id, Compression compression,
                                    bool stream = true, const std::string& host = "");
  // Appends content bytes at `offset`, which must be where the transfer stands.
  absl::Status append(const std::string& id, std::uint64_t offset, std::string_view data);
  // Makes what was appended durable; returns the durable content size.
  absl::StatusOr<std::uint64_t> sync(const std::string& id);
  // Ends the transfer (for now): it stays resumable.
  void end(const std::string& id);
  // Completes `id` when it holds exactly `size` bytes hashing to `sha256` (raw, the agent's):
  // writes the manifest (exact bytes plus its signature) and `record` (whose sizes, hashes,
  // stored name and immutability are filled in here), makes all three read-only and immutable
  // where possible. DataLoss on a mismatch (the item stays resumable-partial).
  absl::StatusOr<EvidenceRecord> finish(const std::string& id, std::uint64_t size,
                                        const std::string& sha256, const std::string& manifest,
                                        const std::string& manifest_signature,
                                        EvidenceRecord record);
  // Marks the partial transfers of `action_id` ("ACTION-n") incomplete: their action ended
  // without them. Returns how many.
  int markIncomplete(const std::string& action_id);

  // Counts bytes that arrived for `id` (whether or not they were accepted) and the size the
  // sender announced.
  void noteArrival(const std::string& id, std::uint64_t bytes, std::uint64_t total);
  // Progress of transfers seen by this process, by id.
  std::map<std::string, TransferProgress> progress() const;

  // Every item, in order of id (a record that does not read: state "damaged").
  absl::StatusOr<std::vector<StoredEvidence>> list() const;
  // The ids of every item after `after` ("": all), in order: a page of a list starts here.
  absl::StatusOr<std::vector<std::string>> ids(const std::string& after = "") const;
  // One item as list() shows it: as lookup() finds it, or "damaged" when that fails (a record
  // that does not read). NotFound when there is none.
  absl::StatusOr<StoredEvidence> listed(const std::string& id) const;
  // A complete item (FailedPrecondition while it is not, NotFound when there is none).
  absl::StatusOr<StoredEvidence> find(const std::string& id) const;
  // One item in whatever state it is (NotFound when there is none).
  absl::StatusOr<StoredEvidence> lookup(const std::string& id) const;
  // The agent's manifest of a complete item: its exact bytes and raw signature.
  absl::StatusOr<std::pair<std::string, std::string>> manifest(const std::string& id) const;

  // What verify() measured from the stored bytes.
  struct Measured {
    std::uint64_t stored_size = 0;
    std::string stored_sha256;  // raw, of the file as stored
    std::uint64_t size = 0;     // content bytes (decompressed)
    std::string sha256;         // raw, of the content
  };
  // Re-reads a complete item: the stored file's bytes and, decompressed, its content.
  absl::StatusOr<Measured> measure(const std::string& id) const;
  // Streams a complete item's content (decompressed) to `sink` in pieces of at most 1 MiB;
  // the sink returns false to stop (Cancelled).
  absl::Status readContent(const std::string& id,
                           const std::function<bool(std::string_view)>& sink) const;

 private:
  struct Transfer {
    UniqueFd fd;
    Compression compression = Compression::kNone;
    std::uint64_t size = 0;       // content bytes
    std::uint64_t file_size = 0;  // bytes in the file
    crypto::Sha256 hash;          // of the content
    crypto::Sha256 stored_hash;   // of the file's bytes (kZstd; for kNone they are the content)
    void* cctx = nullptr;         // ZSTD_CCtx for kZstd
    // kNone: the same file opened with O_DIRECT (not open where the file system refuses it), for
    // aligned chunks, copied through `aligned`: images do not fill the page cache.
    UniqueFd direct_fd;
    char* aligned = nullptr;
    std::string host;  // whose quota the bytes count against
    ~Transfer();
  };
  EvidenceStore(std::string dir, EvidenceQuota quota)
      : dir_(std::move(dir)),
        parent_dir_(std::filesystem::path(dir_).parent_path().string()),
        quota_(quota) {}
  // Refuses `bytes` more for `host` when the total or the host's quota would be passed.
  // Called with mu_ held.
  absl::Status quotaRoomForLocked(const std::string& host, std::uint64_t bytes) const;
  // Refuses `bytes` more when they would eat into the disk's reserve (no lock: file system
  // calls only).
  absl::Status diskRoomFor(std::uint64_t bytes) const;
  std::string path(const std::string& id, const char* suffix) const;
  absl::Status rebuild(Transfer& t, const std::string& partial);
  absl::Status recoverLocked(const std::string& id);
  absl::StatusOr<Transfer*> receiving(const std::string& id) const;
  std::uint64_t heldBytes(const std::string& id, const std::string& file) const;
  absl::StatusOr<std::unique_ptr<Transfer>> prepare(const std::string& id, Compression compression,
                                                    std::unique_ptr<Transfer> parked);
  absl::Status walk(
      const StoredEvidence& e, std::uint64_t* stored_size,
      const std::function<absl::Status(std::string_view, std::string_view)>& fn) const;

  const std::string dir_;
  const std::string parent_dir_;  // the data directory: the action log and the registry
  const EvidenceQuota quota_;
  mutable std::mutex mu_;
  // Stored bytes: all files in the directory, and by host (complete items from their records
  // at open; partial ones from when their host resumes them).
  std::uint64_t used_ = 0;
  std::map<std::string, std::uint64_t> used_by_host_;
  std::set<std::string> attributed_;  // ids whose bytes are in used_by_host_
  // Transfers being received, by id; a null entry reserves an id (begin() preparing, finish()
  // committing).
  std::map<std::string, std::unique_ptr<Transfer>> transfers_;
  // Transfers whose stream ended, kept with their hash state so that a resume needs no
  // re-reading (at most kMaxParked, oldest dropped first).
  static constexpr std::size_t kMaxParked = 16;
  std::map<std::string, std::unique_ptr<Transfer>> parked_;
  std::deque<std::string> parked_order_;
  std::map<std::string, TransferProgress> progress_;
};

}  // namespace warden
