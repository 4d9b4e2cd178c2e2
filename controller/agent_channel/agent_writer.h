// The one way messages reach a connected agent: commands from RPC threads (dispatch) and acks
// from the stream's own reader thread (probes, receipts) all go through its writer.
#pragma once

#include <grpcpp/grpcpp.h>

#include <mutex>

#include "warden/v1/agent.grpc.pb.h"

namespace warden {

using AgentStream = grpc::ServerReaderWriter<v1::ControllerMessage, v1::AgentMessage>;

// Writes to one agent's stream, one message at a time (gRPC allows one outstanding write per
// stream): a sender waits for the write before it. After close() nothing more is written, so
// the stream may end.
class AgentWriter {
 public:
  explicit AgentWriter(AgentStream* stream) : stream_(stream) {}

  // False when the writer is closed or the stream broke.
  bool send(const v1::ControllerMessage& m);
  // Waits for a write in progress; no write starts after this returns.
  void close();

 private:
  std::mutex mu_;
  AgentStream* const stream_;
  bool closed_ = false;  // guarded by mu_
};

}  // namespace warden
