// Request policy (DESIGN.md "Commands and their lifecycle"): which operator requests the
// controller accepts and what exactly each one asks for, decided before anything is logged as
// dispatched. The allow list and addresses are normalised by common/request_lists.h, the same
// function the offline verifier checks every logged dispatch against.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/audit/request.h"
#include "controller/data_dir.h"

namespace warden {

// Host-action arguments ("key=value"), checked for form before anything is dispatched; what
// only the host can know (does the user exist?) the agent checks.
absl::Status validateHostActionArgs(const std::string& kind, const std::vector<std::string>& args);

// A request checked and normalised: one command of `kind` for each of `hosts`.
struct DispatchPlan {
  std::string kind;
  std::vector<std::string> hosts;  // each enrolled; every enrolled host for a fleet-wide request
  bool all_hosts = false;          // a fleet-wide block or unblock
  std::string reason;              // kept on the controller, never sent
  std::string incident;  // an open incident's id, or empty: the one thing the command says why
  std::vector<std::string> allow;      // canonical AllowEntry text
  std::vector<std::string> addresses;  // canonical IpPrefix text, no duplicates
  std::vector<std::string> args;
  // Only for a host connected now (Submit checks): `lock-accounts --rotate-root` seals the new
  // password to the requesting CLI's one-time key, which dies with the CLI; queued for an
  // offline host, the rotation would set a password nobody can ever read.
  bool needs_connected_host = false;
};

class RequestPolicy {
 public:
  explicit RequestPolicy(const ControllerKeys& keys) : keys_(keys) {}

  // The operator's signed request: signature by their logged key, their name, fresh, unseen
  // (its id is remembered, so a replay is refused).
  absl::StatusOr<Request> verifySignedRequest(const OperatorRecord& op, const std::string& bytes,
                                              const std::string& signature);
  // Everything a request asks for, validated before anything is dispatched.
  absl::StatusOr<DispatchPlan> plan(const Request& r);

 private:
  // The controller's own addresses must stay reachable from every host.
  absl::Status refuseControllerBlock(const std::string& address);

  const ControllerKeys& keys_;
};

}  // namespace warden
