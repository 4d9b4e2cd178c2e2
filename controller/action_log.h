// The controller's action log (DESIGN.md "Action log"): an append-only, durable log of opaque
// entries (canonical bytes made elsewhere) in an RFC 6962 / RFC 9162 Merkle tree, with
// checkpoints signed in the C2SP tlog-checkpoint / signed-note format.
//
// Storage in `dir` (created 0700; files 0600):
//   entries      records [u32 big-endian length][entry bytes][32-byte leaf hash SHA-256(0x00||
//                entry)], appended with one pwrite + one fdatasync per group-committed batch.
//   checkpoints  records [u32 big-endian length][signed note][SHA-256(0x00||note)], appended
//                and fsynced; the last record is the newest checkpoint.
//
// Recovery (open): `entries` is read sequentially, every record's hash is checked and the tree
// is rebuilt. A torn tail — a short record, a final record whose hash does not match, or a
// zero-filled tail (a crash while the file was being extended) — is truncated (ftruncate +
// fsync) and logged. Any other bad record is corruption and open() fails (DataLoss): the log
// was tampered with. `checkpoints` gets the same treatment. The newest checkpoint must verify
// under the log key, name `origin`, and be consistent with the recovered tree (its size <=
// tree size and its root == rootAt(size)); otherwise open() fails (DataLoss: rollback).
// Limitations: rollback is detected only against the checkpoints on this disk; deleting both
// files (or `checkpoints`) is only detectable by whoever kept an older checkpoint. A power loss
// (not a process crash) can leave unwritten pages *inside* the last, unacknowledged batch with
// later pages of it written; that looks like tampering and open() refuses, for an operator to
// inspect and truncate by hand.
//
// A background thread signs a checkpoint `checkpoint_delay` after the log grows (so a burst of
// appends gets one checkpoint) and re-signs one every `idle_checkpoint` when nothing changes.
// The checkpoint body is origin / size / root only, so an idle re-sign is byte-identical to the
// previous note (Ed25519 is deterministic); it is still appended.
//
// Thread-safety: every method may be called from any number of threads concurrently.
// The directory is locked (flock on `entries`) against a second ActionLog, in this or another
// process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/ed25519.h"
#include "common/merkle.h"
#include "common/note.h"
#include "common/unique_fd.h"

namespace warden {

struct ActionLogOptions {
  std::string dir;
  std::string origin;      // checkpoint origin line and note key name; must be a valid key name
  crypto::Ed25519Key key;  // log signing key
  absl::Duration checkpoint_delay = absl::Seconds(1);  // sign within this long of growth
  absl::Duration idle_checkpoint = absl::Minutes(5);   // and at least this often when idle
  std::size_t max_entry_bytes = 1 << 20;               // larger (and empty) entries are refused
};

class ActionLog {
  struct Waiter;

 public:
  // Creates the log in `options.dir`, or recovers an existing one (see above). Fails with
  // DataLoss on tampering or rollback, InvalidArgument on bad options, FailedPrecondition when
  // another ActionLog has the directory open, and with errno text on I/O errors.
  static absl::StatusOr<std::unique_ptr<ActionLog>> open(ActionLogOptions options);
  // Stops the checkpoint thread and signs a last checkpoint if the log grew since the newest
  // one (best effort: errors are logged). No append() may be running.
  ~ActionLog();

  ActionLog(const ActionLog&) = delete;
  ActionLog& operator=(const ActionLog&) = delete;

  // Appends an entry (1..max_entry_bytes bytes). It is durable (written and fdatasynced) before
  // this returns. Concurrent callers are group-committed: one writes the whole pending batch
  // with one pwrite and one fdatasync, then completes every waiter. Returns the entry's 0-based
  // index. After an fdatasync failure the log refuses every further append (the page cache
  // state is unknown); reopen to recover.
  absl::StatusOr<std::uint64_t> append(std::string_view entry);
  // As append(), but the entry is made by `make` at the moment it takes its place in the log,
  // under the queue lock: entries made this way are in the log in the order `make` ran, so
  // a timestamp taken inside `make` never decreases along the log. `make` must be quick and
  // must not call into this ActionLog.
  absl::StatusOr<std::uint64_t> appendInOrder(absl::FunctionRef<std::string()> make);

  // A place in the log taken by enqueueInOrder(): entries first() .. first() + count() - 1,
  // durable once wait() says so. Destroying a ticket not waited for waits.
  class Ticket {
   public:
    Ticket(Ticket&& o) noexcept;
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();
    std::uint64_t first() const;
    std::size_t count() const;

   private:
    friend class ActionLog;
    Ticket(ActionLog* log, std::unique_ptr<Waiter> w);
    ActionLog* log_;
    std::unique_ptr<Waiter> w_;
  };
  // Two-phase append, for a caller that must fix the order of its entries (and know their
  // indices) under its own lock and wait for durability outside it, so that the next holder
  // of that lock shares the same group commit. The entries `make` returns (under the queue
  // lock, as appendInOrder) take the next places in the log, in order, all written in the same
  // commit. When a commit fails, every entry queued behind it fails too (the log never holds
  // an entry that a lost one came before) and failures() grows; enqueueInOrder refuses
  // (Unavailable) while failures() differs from `failures_seen`, so a caller that decided on
  // entries not yet durable finds out before it adds more.
  absl::StatusOr<Ticket> enqueueInOrder(absl::FunctionRef<std::vector<std::string>()> make,
                                        std::uint64_t failures_seen);
  // Waits until the ticket's entries are durable (leading a group commit if none is running);
  // the index of the first, or why they were not written.
  absl::StatusOr<std::uint64_t> wait(Ticket& ticket);
  // Commits that failed since open (each failing everything queued at the time).
  std::uint64_t failures() const;

  // Number of durable entries.
  std::uint64_t size() const;
  // The entry at `index` (< size()): one pread. OutOfRange past the end.
  absl::StatusOr<std::string> entry(std::uint64_t index) const;
  // Raw 32-byte RFC 6962 root at size() (SHA-256("") when empty).
  std::string root() const;

  // The newest signed checkpoint (C2SP signed-note text). Signs one now if there is none or the
  // newest is older than the current size, so a caller that appended gets a checkpoint
  // covering its entry.
  absl::StatusOr<std::string> checkpoint();
  // RFC 9162 audit path / consistency proof (raw 32-byte hashes) against the tree of the first
  // `size` / `new_size` entries (<= size()).
  absl::StatusOr<std::vector<std::string>> inclusionProof(std::uint64_t index,
                                                          std::uint64_t size) const;
  absl::StatusOr<std::vector<std::string>> consistencyProof(std::uint64_t old_size,
                                                            std::uint64_t new_size) const;
  // All checkpoints signed so far, oldest first (for export).
  absl::StatusOr<std::vector<std::string>> checkpoints() const;

 private:
  ActionLog(ActionLogOptions options, note::Signer signer);
  absl::Status recover();
  absl::Status checkEntrySize(std::size_t size) const;
  // Adds one entry's record to `w`.
  static void addRecord(Waiter& w, std::string_view entry);
  // Gives `w` its indices and queues it. Caller holds queue_mu_.
  void enqueueLocked(Waiter& w);
  absl::StatusOr<std::uint64_t> waitLocked(Waiter& w, std::unique_lock<std::mutex>& lock);
  absl::Status recoverCheckpoints();
  // Writes and fdatasyncs one batch, updates the tree; sets every waiter's index or status.
  void commitBatch(const std::vector<Waiter*>& batch);
  // Signs a checkpoint of the current tree and stores it. Unless `force`, does nothing when the
  // newest checkpoint already covers the current size. Caller holds cp_mu_.
  absl::Status signCheckpointLocked(bool force);
  void checkpointLoop();

  const ActionLogOptions options_;
  const note::Signer signer_;
  UniqueFd entries_fd_;
  UniqueFd checkpoints_fd_;

  // Tree and record offsets: written by the committing leader (unique), read by readers.
  mutable std::shared_mutex tree_mu_;
  merkle::MerkleTree tree_;
  std::vector<std::uint64_t> offsets_;  // offsets_[i] = file offset of record i
  std::vector<std::uint32_t> lengths_;  // lengths_[i] = entry length of record i
  std::atomic<std::uint64_t> size_{0};

  // Group commit (leader/follower).
  std::mutex queue_mu_;
  std::deque<Waiter*> queue_;
  bool leader_active_ = false;
  absl::Status broken_;           // set after an unrecoverable write failure
  std::uint64_t next_index_ = 0;  // the index the next queued entry will have
  std::atomic<std::uint64_t> failures_{0};
  std::uint64_t file_end_ = 0;  // end of `entries`; only the leader touches it

  // Checkpoints: cp_mu_ serialises signing and the checkpoints file.
  mutable std::mutex cp_mu_;
  std::string latest_checkpoint_;
  std::uint64_t checkpoints_end_ = 0;
  std::atomic<std::int64_t> signed_size_{-1};  // size of the newest checkpoint, -1 if none

  // Checkpoint thread.
  std::mutex thread_mu_;
  std::condition_variable thread_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace warden
