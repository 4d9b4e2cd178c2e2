// Network containment on this host: isolate, release, re-apply at boot, and repair after
// tampering. One mutex serialises every change, so commands and the tamper watch never race.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/actions/outcome.h"
#include "agent/os/firewall.h"
#include "agent/runtime/state_store.h"
#include "common/audit/agent_release.h"

namespace warden {

// An isolation that ends by itself (`isolate --for`): the command that made it and when it is
// due, on the host's clock.
struct TimedRelease {
  std::string command_id;
  std::int64_t deadline_unix_ms = 0;
};

class Containment {
 public:
  // Returns true when the controller answered over the (new) rules within the rollback window.
  using ReachabilityCheck = std::function<bool()>;

  Containment(Firewall& firewall, ConnectionTracker& conntrack, StateStore& store)
      : firewall_(firewall), conntrack_(conntrack), store_(store) {}

  // Loads the persisted state (call once at start).
  absl::Status load();
  ContainmentState current();

  // With `for_ms` > 0, the isolation ends by itself `for_ms` after the rules are in place and
  // the controller answered through them (releaseIfDue; restore() while the agent was down);
  // with 0 it holds until a release. Either replaces an earlier deadline, in the same
  // transaction as the containment state.
  ActionOutcome isolate(const IsolationPolicy& policy, const ReachabilityCheck& reachable,
                        std::int64_t for_ms = 0, const std::string& command_id = "");
  ActionOutcome release();
  // The isolation's deadline, if it has one.
  std::optional<TimedRelease> deadline();
  // Releases when the isolation's deadline has passed at `now_unix_ms`, and records the
  // release (peekTimedRelease). Nothing when there is no deadline or it is still ahead; a
  // release that fails is tried again at the next call.
  void releaseIfDue(std::int64_t now_unix_ms);
  // A release made at its deadline (here, or by restore() while the agent was not running) not
  // yet handed over: the agent signs and keeps it, then clears it (clearTimedRelease).
  absl::StatusOr<std::optional<AgentRelease>> peekTimedRelease();
  absl::Status clearTimedRelease();
  // Address blocks: dropped in, out and forwarded, independent of isolation (a release keeps
  // them). A block that would cover one of `protected_addresses` (the controller) is refused.
  ActionOutcome block(const std::vector<IpPrefix>& prefixes,
                      const std::vector<IpPrefix>& protected_addresses);
  ActionOutcome unblock(const std::vector<IpPrefix>& prefixes);
  // Re-applies the persisted state (boot, agent start), without an isolation whose deadline
  // has passed (that release is recorded for takeTimedRelease). Returns what was applied.
  absl::StatusOr<ContainmentState> restore();
  // If what is installed differs from what should be, re-applies it and says what was wrong.
  absl::StatusOr<std::optional<std::string>> repairIfTampered();
  // Warden's rules in force now, as the receipts' installed digest (Firewall::installedDigest).
  absl::StatusOr<std::string> installedDigest();

 private:
  // Applies `next`, persists it and fills the common receipt details.
  ActionOutcome commit(const ContainmentState& next, std::string message,
                       bool clear_deadline = false);
  // The persisted deadline, and the record of a release made at one.
  absl::StatusOr<std::optional<TimedRelease>> loadDeadline();
  // Releases the isolation whose deadline `due` passed: applied, persisted with the deadline
  // cleared, recorded. Call with mu_ held.
  ActionOutcome releaseAtDeadline(const TimedRelease& due, std::int64_t now_unix_ms,
                                  const char* message);

  Firewall& firewall_;
  ConnectionTracker& conntrack_;
  StateStore& store_;
  std::mutex mu_;
  ContainmentState current_;
  std::int64_t deadline_error_logged_ms_ = 0;
};

}  // namespace warden
