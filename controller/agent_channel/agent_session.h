// The agents connected now: one session per host, each with the stream's writer.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "controller/agent_channel/agent_writer.h"
#include "controller/agent_channel/peer_limits.h"

namespace warden {

// One connected agent's stream. Lives as long as its Connect call.
struct AgentSession {
  AgentSession(std::string host, std::string from, grpc::ServerContext* context,
               AgentStream* stream)
      : host_id(std::move(host)),
        peer(std::move(from)),
        ctx(context),
        writer(stream, context, host_id) {}

  bool send(const v1::ControllerMessage& m) { return writer.send(m); }

  const std::string host_id;
  const std::string peer;
  grpc::ServerContext* const ctx;
  AgentWriter writer;
  std::string receipt_public_key;  // the host's key on record when the stream opened
  // Only the stream's reader thread uses these.
  PeerLimits limits;
  std::string last_facts;  // serialised, as last written to the registry
  std::int64_t last_facts_ms = 0;
};

// The sessions by host id. Thread-safe.
class AgentSessions {
 public:
  // The host's session, or null when it is not connected.
  std::shared_ptr<AgentSession> find(const std::string& host_id) const;
  // Makes `session` its host's: a newer connection wins, the older stream is cancelled.
  void add(std::shared_ptr<AgentSession> session);
  // Forgets `session` unless a newer one of its host replaced it.
  void remove(const std::shared_ptr<AgentSession>& session);
  // Ends a host's stream (its identity was replaced). A session's context is alive while it
  // is in the map: Connect removes its session before returning.
  void cancel(const std::string& host_id);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<AgentSession>> sessions_;  // guarded by mu_
};

}  // namespace warden
