// The storing stage of an evidence upload: receiving (TLS, protobuf) and storing (chunk hash,
// content hash, write) run on two cores, a few chunks apart at most.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "controller/evidence/store.h"
#include "warden/v1/agent.pb.h"

namespace warden {

// Checks each chunk's hash and appends it to the store on a thread of its own, fdatasyncing
// every kSyncEvery bytes. At most kDepth chunks wait; push() blocks beyond that (flow control
// reaches the agent through gRPC).
class ChunkPipeline {
 public:
  ChunkPipeline(EvidenceStore& store, std::string id, std::string host)
      : store_(store), id_(std::move(id)), host_(std::move(host)), thread_([this] { work(); }) {}
  ~ChunkPipeline() { (void)finish(); }

  // False when the worker has failed (finish() says why).
  bool push(v1::EvidenceChunk chunk);
  // Stores what was pushed, syncs it, and returns the bytes held durably, or the first error.
  absl::StatusOr<std::uint64_t> finish();

 private:
  static constexpr std::size_t kDepth = 4;
  static constexpr std::uint64_t kSyncEvery = 64 << 20;  // bytes between fdatasyncs

  void work();

  EvidenceStore& store_;
  const std::string id_;
  const std::string host_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::EvidenceChunk> queue_;
  bool closed_ = false;
  bool finished_ = false;
  absl::Status status_;
  std::uint64_t held_ = 0;
  std::thread thread_;  // last: starts after everything it uses
};

}  // namespace warden
