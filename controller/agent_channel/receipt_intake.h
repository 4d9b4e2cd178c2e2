// Receipt intake: an agent's signed receipt checked against its host's key on record, logged
// once (RECEIPT), stored in the registry and acknowledged. A receipt sent again (the ack was
// lost, the command was re-delivered) is acknowledged, not logged again. Likewise a release the
// agent made at an isolation's deadline.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "controller/agent_channel/agent_session.h"
#include "controller/context.h"
#include "controller/dispatch/dispatcher.h"

namespace warden {

class ReceiptIntake {
 public:
  ReceiptIntake(ControllerContext& ctx, Dispatcher& dispatcher)
      : ctx_(ctx), dispatcher_(dispatcher) {}

  // Takes a receipt that arrived on `s`, the stream of `host_id`; acks on `s` once it is
  // logged and stored. A receipt that does not verify is logged as a bad receipt and not acked.
  void acceptReceipt(AgentSession& s, const std::string& host_id, const v1::SignedReceipt& sr);
  // Takes a release the agent made by itself (an AgentEvent of kind "release": the end of
  // `isolate --for`), checked against the host's key and the isolation it ends, logged once
  // (AGENT-RELEASE), the host's containment updated, and acked ("release:<command id>").
  void acceptRelease(AgentSession& s, const std::string& host_id, const v1::AgentEvent& event);

 private:
  ControllerContext& ctx_;
  Dispatcher& dispatcher_;
  std::mutex mu_;
  std::set<std::string> in_flight_;        // command ids whose receipt is being logged
  std::set<std::string> logged_unstored_;  // logged, but the registry write failed
};

}  // namespace warden
