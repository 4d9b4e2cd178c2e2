#include "controller/evidence/chunk_pipeline.h"

#include "absl/strings/str_format.h"
#include "common/crypto/hash.h"
#include "common/log.h"

namespace warden {

bool ChunkPipeline::push(v1::EvidenceChunk chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < kDepth || !status_.ok(); });
  if (!status_.ok()) return false;
  queue_.push_back(std::move(chunk));
  cv_.notify_all();
  return true;
}

absl::StatusOr<std::uint64_t> ChunkPipeline::finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return status_.ok() ? absl::StatusOr<std::uint64_t>(held_) : status_;
    closed_ = true;
    cv_.notify_all();
  }
  thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  if (!status_.ok()) return status_;
  return held_;
}

void ChunkPipeline::work() {
  std::uint64_t unsynced = 0;
  for (;;) {
    v1::EvidenceChunk c;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
      if (queue_.empty()) break;
      c = std::move(queue_.front());
      queue_.pop_front();
      cv_.notify_all();
    }
    absl::Status s;
    if (!c.data().empty()) {
      if (crypto::sha256(c.data()) != c.sha256()) {
        s = absl::DataLossError(
            absl::StrFormat("evidence %s: chunk at %d does not match its hash", id_, c.offset()));
      } else {
        s = store_.append(id_, c.offset(), c.data());
        unsynced += c.data().size();
      }
    }
    if (s.ok() && unsynced >= kSyncEvery) {
      s = store_.sync(id_).status();
      unsynced = 0;
    }
    if (!s.ok()) {
      logError("evidence %s from %s: %s", id_, host_, s.message());
      std::lock_guard<std::mutex> lock(mu_);
      status_ = s;
      cv_.notify_all();
      break;
    }
  }
  // What was stored is made durable either way: a broken stream resumes from it.
  auto synced = store_.sync(id_);
  std::lock_guard<std::mutex> lock(mu_);
  if (synced.ok()) held_ = *synced;
  if (status_.ok() && !synced.ok()) status_ = synced.status();
}

}  // namespace warden
