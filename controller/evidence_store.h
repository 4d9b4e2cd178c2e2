// The controller's evidence store (issue 5): disk images and triage bundles received from
// agents, hashed independently as they arrive, made read-only when complete.
//
// Layout in `dir` (0700):
//   ID.partial     a transfer in progress (0600); its length is what was received
//   ID.img         a complete image: 0444, and immutable (FS_IMMUTABLE_FL) where the file
//                  system and the controller's capabilities allow
//   ID.manifest    the manifest the agent signed, plus what the controller measured (0444)
//
// A transfer is resumable: begin() reports how many bytes the store holds and the SHA-256 of
// them (recomputed from the file after a restart), so the sender re-sends nothing before that
// offset — after checking that its own bytes there hash the same. Bytes are durable
// (fdatasync) before they count as received. Only finish() with matching size and hash makes a
// file complete; anything else stays ID.partial and is never listed as complete.
//
// Thread-safety: every method may be called concurrently; one transfer per id at a time
// (FailedPrecondition for a second).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto.h"

namespace warden {

struct ResumePoint {
  std::uint64_t offset = 0;   // bytes held durably
  std::string prefix_sha256;  // raw SHA-256 of those bytes
};

struct StoredEvidence {
  std::string id;
  bool complete = false;
  std::uint64_t size = 0;
  std::string sha256;  // raw, of the content (complete only)
  bool immutable = false;
  std::string path;
};

class EvidenceStore {
 public:
  static absl::StatusOr<std::unique_ptr<EvidenceStore>> open(const std::string& dir);

  // Valid ids: letters, digits, '-' and '_', 1..64 characters.
  static bool validId(std::string_view id);

  // Starts (or resumes) the transfer of `id`. AlreadyExists when it is complete.
  absl::StatusOr<ResumePoint> begin(const std::string& id);
  // Appends bytes at `offset`, which must be where the transfer stands.
  absl::Status append(const std::string& id, std::uint64_t offset, std::string_view data);
  // Makes what was appended durable; returns the durable size.
  absl::StatusOr<std::uint64_t> sync(const std::string& id);
  // Ends the transfer (for now): it stays resumable.
  void end(const std::string& id);
  // Completes `id` when it holds exactly `size` bytes hashing to `sha256` (raw); writes the
  // manifest, makes both read-only and immutable where possible. DataLoss on a mismatch.
  absl::StatusOr<StoredEvidence> finish(const std::string& id, std::uint64_t size,
                                        const std::string& sha256, const std::string& manifest);

  absl::StatusOr<std::vector<StoredEvidence>> list() const;
  // Re-hashes a complete item's content; DataLoss when it no longer matches `sha256`.
  absl::Status verify(const std::string& id, const std::string& sha256) const;

 private:
  struct Transfer {
    int fd = -1;
    std::uint64_t size = 0;
    crypto::Sha256 hash;
  };
  explicit EvidenceStore(std::string dir) : dir_(std::move(dir)) {}
  std::string path(const std::string& id, const char* suffix) const;

  const std::string dir_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Transfer>> transfers_;
};

// Sets FS_IMMUTABLE_FL on `path` (read-modify-write of the inode flags). Returns false (and
// says why in `why`) when the file system does not support it or the process may not.
bool makeImmutable(const std::string& path, std::string* why);

}  // namespace warden
