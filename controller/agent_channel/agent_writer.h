// The one way messages reach a connected agent: commands from RPC threads (dispatch) and acks
// from the stream's own reader thread (probes, receipts) all go through its writer.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "warden/v1/agent.grpc.pb.h"

namespace warden {

using AgentStream = grpc::ServerReaderWriter<v1::ControllerMessage, v1::AgentMessage>;

// What one agent may have waiting to be written to it (DESIGN.md "The hostile host": one slow
// or hostile agent never delays commands to others).
struct AgentQueueLimits {
  std::size_t max_messages = 256;
  std::size_t max_bytes = 16 << 20;
};

// Writes to one agent's stream from a thread of its own, in order, one message at a time
// (gRPC allows one outstanding write per stream). send() only queues: a host that stops
// reading makes its own queue fill, never a sender wait. A full queue ends the stream (the
// agent reconnects and gets what is pending again). After close() nothing more is written,
// so the stream may end.
class AgentWriter {
 public:
  AgentWriter(AgentStream* stream, grpc::ServerContext* ctx, std::string host_id,
              AgentQueueLimits limits = {});
  ~AgentWriter();
  AgentWriter(const AgentWriter&) = delete;
  AgentWriter& operator=(const AgentWriter&) = delete;

  // Queues `m`. False when the writer is closed, the stream broke, or the queue is full (then
  // the stream is cancelled).
  bool send(const v1::ControllerMessage& m);
  // Drops what is queued, ends the write in progress (cancelling the stream if it does not
  // finish within a second) and stops the thread; nothing is written after this returns.
  void close();

 private:
  void run();

  AgentStream* const stream_;
  grpc::ServerContext* const ctx_;
  const std::string host_id_;
  const AgentQueueLimits limits_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::ControllerMessage> queue_;  // guarded by mu_
  std::size_t queued_bytes_ = 0;             // guarded by mu_
  bool closed_ = false;                      // guarded by mu_
  bool writing_ = false;                     // guarded by mu_
  std::thread thread_;
};

}  // namespace warden
