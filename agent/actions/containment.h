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

namespace warden {

class Containment {
 public:
  // Returns true when the controller answered over the (new) rules within the rollback window.
  using ReachabilityCheck = std::function<bool()>;

  Containment(Firewall& firewall, ConnectionTracker& conntrack, StateStore& store)
      : firewall_(firewall), conntrack_(conntrack), store_(store) {}

  // Loads the persisted state (call once at start).
  absl::Status load();
  ContainmentState current();

  ActionOutcome isolate(const IsolationPolicy& policy, const ReachabilityCheck& reachable);
  ActionOutcome release();
  // Address blocks: dropped in, out and forwarded, independent of isolation (a release keeps
  // them). A block that would cover one of `protected_addresses` (the controller) is refused.
  ActionOutcome block(const std::vector<IpPrefix>& prefixes,
                      const std::vector<IpPrefix>& protected_addresses);
  ActionOutcome unblock(const std::vector<IpPrefix>& prefixes);
  // Re-applies the persisted state (boot, agent start). Returns what was applied.
  absl::StatusOr<ContainmentState> restore();
  // If what is installed differs from what should be, re-applies it and says what was wrong.
  absl::StatusOr<std::optional<std::string>> repairIfTampered();
  // Warden's rules in force now, as the receipts' installed digest (Firewall::installedDigest).
  absl::StatusOr<std::string> installedDigest();

 private:
  // Applies `next`, persists it and fills the common receipt details.
  ActionOutcome commit(const ContainmentState& next, std::string message);

  Firewall& firewall_;
  ConnectionTracker& conntrack_;
  StateStore& store_;
  std::mutex mu_;
  ContainmentState current_;
};

}  // namespace warden
