// Dispatch (DESIGN.md "Commands and their lifecycle"): a planned request becomes one signed
// command per host, each logged (DISPATCH) and queued before it is sent; a command reaches its
// host with the proof that it was logged, now if the host is connected, else when it next
// connects, until the command expires.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/context.h"
#include "controller/dispatch/request_policy.h"
#include "controller/registry.h"

namespace warden {

// An unfinished action past its expiry reads as expired, whatever the registry last stored
// (pendingActions() marks it so when its host next connects).
void showExpiry(ActionRecord& a);

class Dispatcher {
 public:
  // Commands expire `default_expiry` after they are made.
  Dispatcher(ControllerContext& ctx, absl::Duration default_expiry)
      : ctx_(ctx), default_expiry_(default_expiry) {}

  // Signs a command for one host, logs its DISPATCH and records it as queued; the caller
  // delivers it (deliver()) once every command of the request is logged, so one checkpoint
  // covers them all. `request_id` is empty for commands the controller makes itself. The
  // command carries the incident id; the reason stays on the controller (the action record).
  absl::StatusOr<ActionRecord> createAction(const std::string& request_id,
                                            const std::string& requested_by,
                                            const std::string& host_id, const std::string& kind,
                                            const std::string& reason, const std::string& incident,
                                            const std::vector<std::string>& allow,
                                            const std::vector<std::string>& addresses,
                                            const std::vector<std::string>& args = {});
  // Records a fleet-wide change, then logs and queues one command per host of `plan` into
  // `created`; the caller delivers them. After an error part way, `created` holds what was
  // logged.
  absl::Status dispatch(const std::string& operator_name, const std::string& request_id,
                        const DispatchPlan& plan, std::vector<ActionRecord>* created);

  // Sends the action's signed command, with its log proof, if the host is connected.
  void deliver(const ActionRecord& a);
  // Sends a host that just connected everything queued for it.
  void deliverPending(const std::string& host_id);

  // An action finished (its receipt is stored): wakes whoever waits for one.
  void actionFinished();
  // Waits until some action finishes, or `until`.
  void waitForFinished(std::chrono::steady_clock::time_point until);

 private:
  // The proof that `a`'s command was logged, against a checkpoint that covers it.
  absl::Status attachProof(const ActionRecord& a, v1::SignedCommand* out);

  ControllerContext& ctx_;
  const absl::Duration default_expiry_;
  std::mutex finished_mu_;
  std::condition_variable finished_cv_;
};

}  // namespace warden
