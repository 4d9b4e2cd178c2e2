#include "controller/action_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "controller/action_log_records.h"

namespace warden {
namespace {

using action_log_records::fsyncDir;
using action_log_records::getU32;
using action_log_records::kHashSize;
using action_log_records::kHeaderSize;
using action_log_records::kRecordOverhead;
using action_log_records::makeRecord;
using action_log_records::Mapping;
using action_log_records::openFile;
using action_log_records::parseRecords;
using action_log_records::preadAll;
using action_log_records::pwriteAll;
using action_log_records::Record;
using action_log_records::truncateTail;
constexpr char kEntriesFile[] = "entries";
constexpr char kCheckpointsFile[] = "checkpoints";
// Checkpoints are a few hundred bytes; anything longer in the file is corruption.
constexpr std::uint32_t kMaxCheckpointBytes = 1 << 16;

}  // namespace

// One caller's entries, written together in one commit.
struct ActionLog::Waiter {
  std::string records;                 // each entry's record, back to back
  std::vector<std::uint32_t> lengths;  // each entry's length
  std::uint64_t first = 0;             // the first entry's index, given when queued
  absl::Status status;
  bool done = false;
  bool waiting = false;  // a thread is waiting on cv (it may lead the next commit)
  std::condition_variable cv;
};

ActionLog::Ticket::Ticket(ActionLog* log, std::unique_ptr<Waiter> w)
    : log_(log), w_(std::move(w)) {}

ActionLog::Ticket::Ticket(Ticket&& o) noexcept : log_(o.log_), w_(std::move(o.w_)) {}

ActionLog::Ticket::~Ticket() {
  if (w_ != nullptr) (void)log_->wait(*this);
}

std::uint64_t ActionLog::Ticket::first() const { return w_->first; }

std::size_t ActionLog::Ticket::count() const { return w_->lengths.size(); }

ActionLog::ActionLog(ActionLogOptions options, note::Signer signer)
    : options_(std::move(options)), signer_(std::move(signer)) {}

absl::StatusOr<std::unique_ptr<ActionLog>> ActionLog::open(ActionLogOptions options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("action log: empty dir");
  if (options.max_entry_bytes == 0 || options.max_entry_bytes > 0xffffffffu - kRecordOverhead) {
    return absl::InvalidArgumentError("action log: max_entry_bytes out of range");
  }
  if (options.checkpoint_delay < absl::ZeroDuration() ||
      options.idle_checkpoint <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("action log: bad checkpoint intervals");
  }
  WARDEN_ASSIGN_OR_RETURN(note::Signer signer, note::makeSigner(options.origin, options.key));
  WARDEN_RETURN_IF_ERROR(makeDirectory(options.dir, 0700));
  std::unique_ptr<ActionLog> log(new ActionLog(std::move(options), std::move(signer)));
  WARDEN_RETURN_IF_ERROR(log->recover());
  log->thread_ = std::thread([raw = log.get()] { raw->checkpointLoop(); });
  return log;
}

ActionLog::~ActionLog() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(thread_mu_);
      stop_ = true;
    }
    thread_cv_.notify_all();
    thread_.join();
    std::lock_guard<std::mutex> lock(cp_mu_);
    if (auto st = signCheckpointLocked(false); !st.ok()) {
      logError("action log: final checkpoint: %s", st.ToString());
    }
  }
}

absl::Status ActionLog::recover() {
  const std::string path = options_.dir + "/" + kEntriesFile;
  const bool existed = pathExists(path);
  WARDEN_ASSIGN_OR_RETURN(entries_fd_, openFile(path));
  if (::flock(entries_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrFormat("action log %s is already open", options_.dir));
    }
    return errnoStatus("lock", path, errno);
  }
  {
    WARDEN_ASSIGN_OR_RETURN(Mapping m, Mapping::of(entries_fd_.get(), path));
    std::uint64_t valid_end = 0;
    std::string torn;
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<Record> records,
        parseRecords(m, path, static_cast<std::uint32_t>(0xffffffffu - kRecordOverhead), valid_end,
                     torn));
    offsets_.reserve(records.size());
    lengths_.reserve(records.size());
    for (const Record& r : records) {
      WARDEN_RETURN_IF_ERROR(tree_.appendLeafHash(r.hash).status());
      offsets_.push_back(r.offset);
      lengths_.push_back(r.length);
    }
    if (valid_end < m.size()) {
      WARDEN_RETURN_IF_ERROR(truncateTail(entries_fd_.get(), path, valid_end, m.size(), torn));
    }
    file_end_ = valid_end;
    size_.store(tree_.size());
    next_index_ = tree_.size();
  }
  if (!existed) WARDEN_RETURN_IF_ERROR(fsyncDir(options_.dir));
  return recoverCheckpoints();
}

absl::Status ActionLog::recoverCheckpoints() {
  const std::string path = options_.dir + "/" + kCheckpointsFile;
  const bool existed = pathExists(path);
  WARDEN_ASSIGN_OR_RETURN(checkpoints_fd_, openFile(path));
  if (!existed) WARDEN_RETURN_IF_ERROR(fsyncDir(options_.dir));
  WARDEN_ASSIGN_OR_RETURN(Mapping m, Mapping::of(checkpoints_fd_.get(), path));
  std::uint64_t valid_end = 0;
  std::string torn;
  WARDEN_ASSIGN_OR_RETURN(std::vector<Record> records,
                          parseRecords(m, path, kMaxCheckpointBytes, valid_end, torn));
  if (valid_end < m.size()) {
    WARDEN_RETURN_IF_ERROR(truncateTail(checkpoints_fd_.get(), path, valid_end, m.size(), torn));
  }
  checkpoints_end_ = valid_end;
  if (records.empty()) return absl::OkStatus();

  const std::string_view newest = records.back().payload;
  note::Verifier verifier{signer_.name, signer_.key_id, options_.key.publicKey()};
  auto opened = note::openNote(newest, {verifier});
  if (!opened.ok()) {
    return absl::DataLossError(
        absl::StrFormat("%s: newest checkpoint does not verify under the log key: %s", path,
                        opened.status().message()));
  }
  auto cp = note::parseCheckpoint(opened->text);
  if (!cp.ok()) {
    return absl::DataLossError(
        absl::StrFormat("%s: newest checkpoint is malformed: %s", path, cp.status().message()));
  }
  if (cp->origin != options_.origin) {
    return absl::DataLossError(absl::StrFormat("%s: newest checkpoint has origin %s, not %s", path,
                                               cp->origin, options_.origin));
  }
  if (cp->size > tree_.size()) {
    return absl::DataLossError(absl::StrFormat(
        "action log %s: rollback detected: newest checkpoint has %d entries, the log only %d",
        options_.dir, cp->size, tree_.size()));
  }
  WARDEN_ASSIGN_OR_RETURN(const std::string root, tree_.rootAt(cp->size));
  if (root != cp->root_hash) {
    return absl::DataLossError(absl::StrFormat(
        "action log %s: newest checkpoint (size %d) does not match the log's root at that size",
        options_.dir, cp->size));
  }
  latest_checkpoint_ = std::string(newest);
  signed_size_.store(static_cast<std::int64_t>(cp->size));
  return absl::OkStatus();
}

absl::Status ActionLog::checkEntrySize(std::size_t size) const {
  if (size == 0) return absl::InvalidArgumentError("action log: empty entry");
  if (size > options_.max_entry_bytes) {
    return absl::InvalidArgumentError(absl::StrFormat("action log: entry of %d bytes exceeds %d",
                                                      size, options_.max_entry_bytes));
  }
  return absl::OkStatus();
}

void ActionLog::addRecord(Waiter& w, std::string_view entry) {
  w.records += makeRecord(entry, merkle::leafHash(entry));
  w.lengths.push_back(static_cast<std::uint32_t>(entry.size()));
}

void ActionLog::enqueueLocked(Waiter& w) {
  w.first = next_index_;
  next_index_ += w.lengths.size();
  queue_.push_back(&w);
}

absl::StatusOr<std::uint64_t> ActionLog::append(std::string_view entry) {
  WARDEN_RETURN_IF_ERROR(checkEntrySize(entry.size()));
  Waiter w;
  addRecord(w, entry);
  std::unique_lock<std::mutex> lock(queue_mu_);
  if (!broken_.ok()) return broken_;
  enqueueLocked(w);
  return waitLocked(w, lock);
}

absl::StatusOr<std::uint64_t> ActionLog::appendInOrder(absl::FunctionRef<std::string()> make) {
  Waiter w;
  std::unique_lock<std::mutex> lock(queue_mu_);
  if (!broken_.ok()) return broken_;
  const std::string entry = make();
  WARDEN_RETURN_IF_ERROR(checkEntrySize(entry.size()));
  addRecord(w, entry);
  enqueueLocked(w);
  return waitLocked(w, lock);
}

absl::StatusOr<ActionLog::Ticket> ActionLog::enqueueInOrder(
    absl::FunctionRef<std::vector<std::string>()> make, std::uint64_t failures_seen) {
  auto w = std::make_unique<Waiter>();
  std::unique_lock<std::mutex> lock(queue_mu_);
  if (!broken_.ok()) return broken_;
  if (failures_.load() != failures_seen) {
    return absl::UnavailableError(
        "action log: an earlier append failed since these entries were prepared");
  }
  const std::vector<std::string> entries = make();
  if (entries.empty()) return absl::InvalidArgumentError("action log: no entries");
  for (const std::string& e : entries) {
    WARDEN_RETURN_IF_ERROR(checkEntrySize(e.size()));
    addRecord(*w, e);
  }
  enqueueLocked(*w);
  return Ticket(this, std::move(w));
}

absl::StatusOr<std::uint64_t> ActionLog::wait(Ticket& ticket) {
  if (ticket.w_ == nullptr) return absl::FailedPreconditionError("action log: ticket moved from");
  std::unique_ptr<Waiter> w = std::move(ticket.w_);
  std::unique_lock<std::mutex> lock(queue_mu_);
  return waitLocked(*w, lock);
}

std::uint64_t ActionLog::failures() const { return failures_.load(); }

absl::StatusOr<std::uint64_t> ActionLog::waitLocked(Waiter& w, std::unique_lock<std::mutex>& lock) {
  while (!w.done) {
    if (leader_active_) {
      w.waiting = true;
      w.cv.wait(lock);
      w.waiting = false;
      continue;
    }
    // Lead: commit everything pending (our own entries included).
    leader_active_ = true;
    std::vector<Waiter*> batch(queue_.begin(), queue_.end());
    queue_.clear();
    lock.unlock();
    commitBatch(batch);
    lock.lock();
    leader_active_ = false;
    absl::Status failed;
    for (Waiter* b : batch) {
      if (!b->status.ok()) failed = b->status;
      b->done = true;
      if (b != &w) b->cv.notify_one();
    }
    if (!failed.ok()) {
      // Whatever was queued behind the lost entries would follow them in no log: fail it too,
      // and hand out indices from what is on disk.
      for (Waiter* q : queue_) {
        q->status = absl::UnavailableError(absl::StrFormat(
            "action log: an entry queued before this one was not written: %s", failed.message()));
        q->done = true;
        q->cv.notify_one();
      }
      queue_.clear();
      next_index_ = size_.load();
      failures_.fetch_add(1);
    }
    // The next leader: the first queued entry whose owner is waiting (an owner that has not
    // called wait() yet leads when it does).
    for (Waiter* q : queue_) {
      if (q->waiting) {
        q->cv.notify_one();
        break;
      }
    }
  }
  if (!w.status.ok()) return w.status;
  return w.first;
}

void ActionLog::commitBatch(const std::vector<Waiter*>& batch) {
  const std::string path = options_.dir + "/" + kEntriesFile;
  absl::Status st;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    st = broken_;
  }
  std::string buffer;
  if (st.ok()) {
    std::size_t total = 0;
    for (const Waiter* w : batch) total += w->records.size();
    if (batch.size() == 1) {
      buffer.swap(batch.front()->records);
    } else {
      buffer.reserve(total);
      for (const Waiter* w : batch) buffer += w->records;
    }
    st = pwriteAll(entries_fd_.get(), buffer, file_end_, path);
    if (!st.ok()) {
      // Undo a partial write; if that fails too, the file's tail is unknown.
      if (::ftruncate(entries_fd_.get(), static_cast<off_t>(file_end_)) != 0) {
        std::lock_guard<std::mutex> lock(queue_mu_);
        broken_ = st;
      }
    } else if (::fdatasync(entries_fd_.get()) != 0) {
      st = errnoStatus("fdatasync", path, errno);
      // After a failed fdatasync the kernel may have dropped the dirty pages: the log cannot
      // know what is on disk. Refuse further appends; reopening recovers from the file.
      logError("action log: %s", st.ToString());
      std::lock_guard<std::mutex> lock(queue_mu_);
      broken_ = st;
    }
  }
  if (!st.ok()) {
    for (Waiter* w : batch) w->status = st;
    return;
  }
  {
    std::unique_lock<std::shared_mutex> lock(tree_mu_);
    std::uint64_t offset = file_end_;
    for (Waiter* w : batch) {
      for (std::size_t i = 0; i < w->lengths.size(); ++i) {
        const std::uint32_t length = w->lengths[i];
        // The hash view points into the record, which may have been moved into `buffer`.
        const std::string_view hash(buffer.data() + (offset - file_end_) + kHeaderSize + length,
                                    kHashSize);
        auto index = tree_.appendLeafHash(hash);
        if (!index.ok()) {  // cannot happen: the hash is 32 bytes
          w->status = index.status();
        } else if (*index != w->first + i) {  // cannot happen: indices are handed out in order
          w->status = absl::InternalError(absl::StrFormat(
              "action log: entry written at %d, expected at %d", *index, w->first + i));
        }
        offsets_.push_back(offset);
        lengths_.push_back(length);
        offset += kRecordOverhead + length;
      }
    }
    file_end_ = offset;
    size_.store(tree_.size(), std::memory_order_release);
  }
  { std::lock_guard<std::mutex> lock(thread_mu_); }
  thread_cv_.notify_one();
}

std::uint64_t ActionLog::size() const { return size_.load(std::memory_order_acquire); }

absl::StatusOr<std::string> ActionLog::entry(std::uint64_t index) const {
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
  {
    std::shared_lock<std::shared_mutex> lock(tree_mu_);
    if (index >= offsets_.size()) {
      return absl::OutOfRangeError(
          absl::StrFormat("action log: entry %d >= size %d", index, offsets_.size()));
    }
    offset = offsets_[index];
    length = lengths_[index];
  }
  std::string out(length, '\0');
  WARDEN_RETURN_IF_ERROR(preadAll(entries_fd_.get(), out.data(), length, offset + kHeaderSize,
                                  options_.dir + "/" + kEntriesFile));
  return out;
}

std::string ActionLog::root() const {
  std::shared_lock<std::shared_mutex> lock(tree_mu_);
  return tree_.root();
}

absl::StatusOr<std::vector<std::string>> ActionLog::inclusionProof(std::uint64_t index,
                                                                   std::uint64_t size) const {
  std::shared_lock<std::shared_mutex> lock(tree_mu_);
  if (size > tree_.size()) {
    return absl::OutOfRangeError(
        absl::StrFormat("action log: size %d > log size %d", size, tree_.size()));
  }
  return tree_.inclusionProof(index, size);
}

absl::StatusOr<std::vector<std::string>> ActionLog::consistencyProof(std::uint64_t old_size,
                                                                     std::uint64_t new_size) const {
  std::shared_lock<std::shared_mutex> lock(tree_mu_);
  if (new_size > tree_.size()) {
    return absl::OutOfRangeError(
        absl::StrFormat("action log: size %d > log size %d", new_size, tree_.size()));
  }
  return tree_.consistencyProof(old_size, new_size);
}

absl::Status ActionLog::signCheckpointLocked(bool force) {
  std::uint64_t size = 0;
  std::string root;
  {
    std::shared_lock<std::shared_mutex> lock(tree_mu_);
    size = tree_.size();
    root = tree_.root();
  }
  if (!force && signed_size_.load() >= static_cast<std::int64_t>(size)) return absl::OkStatus();
  WARDEN_ASSIGN_OR_RETURN(const std::string text, note::formatCheckpoint(note::Checkpoint{
                                                      options_.origin, size, root, {}}));
  WARDEN_ASSIGN_OR_RETURN(std::string signed_note, note::signNote(text, {signer_}));
  const std::string path = options_.dir + "/" + kCheckpointsFile;
  const std::string record = makeRecord(signed_note, merkle::leafHash(signed_note));
  if (auto st = pwriteAll(checkpoints_fd_.get(), record, checkpoints_end_, path); !st.ok()) {
    (void)::ftruncate(checkpoints_fd_.get(), static_cast<off_t>(checkpoints_end_));
    return st;
  }
  if (::fdatasync(checkpoints_fd_.get()) != 0) return errnoStatus("fdatasync", path, errno);
  checkpoints_end_ += record.size();
  latest_checkpoint_ = std::move(signed_note);
  signed_size_.store(static_cast<std::int64_t>(size));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ActionLog::checkpoint() {
  std::lock_guard<std::mutex> lock(cp_mu_);
  WARDEN_RETURN_IF_ERROR(signCheckpointLocked(false));
  return latest_checkpoint_;
}

absl::StatusOr<std::vector<std::string>> ActionLog::checkpoints() const {
  std::string data;
  {
    std::lock_guard<std::mutex> lock(cp_mu_);
    data.resize(checkpoints_end_);
    WARDEN_RETURN_IF_ERROR(preadAll(checkpoints_fd_.get(), data.data(), data.size(), 0,
                                    options_.dir + "/" + kCheckpointsFile));
  }
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < kRecordOverhead) {
      return absl::DataLossError("action log: checkpoints file changed underneath");
    }
    const std::uint32_t len = getU32(reinterpret_cast<const unsigned char*>(data.data() + pos));
    if (data.size() - pos - kRecordOverhead < len) {
      return absl::DataLossError("action log: checkpoints file changed underneath");
    }
    out.push_back(data.substr(pos + kHeaderSize, len));
    pos += kRecordOverhead + len;
  }
  return out;
}

void ActionLog::checkpointLoop() {
  using Clock = std::chrono::steady_clock;
  const auto delay = absl::ToChronoNanoseconds(options_.checkpoint_delay);
  const auto idle = absl::ToChronoNanoseconds(options_.idle_checkpoint);
  auto grown = [this] {
    return static_cast<std::int64_t>(size_.load(std::memory_order_acquire)) > signed_size_.load() ||
           signed_size_.load() < 0;
  };
  std::unique_lock<std::mutex> lock(thread_mu_);
  auto last_signed = Clock::now();
  while (!stop_) {
    bool force = false;
    if (!grown()) {
      const auto deadline = last_signed + idle;
      thread_cv_.wait_until(lock, deadline, [&] { return stop_ || grown(); });
      if (stop_) break;
      if (!grown()) {
        if (Clock::now() < deadline) continue;
        force = true;  // idle re-sign
      }
    }
    if (!force) {
      // Let a burst of appends accumulate into one checkpoint.
      thread_cv_.wait_for(lock, delay, [&] { return stop_; });
      if (stop_) break;
    }
    lock.unlock();
    absl::Status st;
    {
      std::lock_guard<std::mutex> cp_lock(cp_mu_);
      st = signCheckpointLocked(force);
    }
    lock.lock();
    last_signed = Clock::now();
    if (!st.ok()) {
      logError("action log: signing checkpoint: %s", st.ToString());
      // Do not spin on a persistent error (full disk): retry after a second.
      thread_cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; });
    }
  }
}

}  // namespace warden
