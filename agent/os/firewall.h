// What the host's packet filter can do for Warden. Everything Warden enforces lives in its
// own objects (nftables table `inet warden`, or iptables chains WARDEN-*), so applying,
// verifying and clearing never touch anyone else's rules.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/net.h"

namespace warden {

// Network isolation: everything in, out and forwarded is dropped, IPv4 and IPv6, except
// loopback, TCP to/from the controller's pinned addresses and port (and the path-MTU errors
// about that flow), the responder's allow entries, the host's own DHCP/DHCPv6 exchange and
// IPv6 neighbour discovery in the directions a host uses it. No "established" exception:
// open connections die with it.
struct IsolationPolicy {
  std::vector<IpPrefix> controller_addresses;  // host prefixes
  std::uint16_t controller_port = 0;
  std::vector<AllowEntry> allow;
  // The host's own DHCPv4 servers, learned from its leases when isolating (host prefixes).
  // Without one, only the link's broadcast carries DHCP.
  std::vector<IpPrefix> dhcp_servers;
  bool operator==(const IsolationPolicy& o) const = default;
};

// Everything Warden wants enforced on this host right now.
struct ContainmentState {
  std::optional<IsolationPolicy> isolation;
  std::vector<IpPrefix> blocked;  // dropped in and out (address blocks), independent of isolation
  bool empty() const { return !isolation && blocked.empty(); }
  bool operator==(const ContainmentState& o) const = default;
};

struct FirewallReport {
  std::string backend;           // "nftables" or "iptables"
  std::string applied;           // the exact script/restore input that was committed
  std::string prior_digest;      // SHA-256 hex of the host's whole ruleset before the change
  std::string installed_digest;  // SHA-256 hex of Warden's own objects as read back
  // What the backend could not enforce as asked (e.g. an interface whose name cannot be
  // written into a ruleset); empty when everything holds.
  std::vector<std::string> warnings;
};

class Firewall {
 public:
  virtual ~Firewall() = default;
  virtual std::string backend() const = 0;
  // Replaces Warden's objects with `state` in one atomic transaction (per address family
  // for iptables), then reads them back and checks them. An empty state removes Warden's
  // objects entirely. Nothing outside Warden's objects changes.
  virtual absl::StatusOr<FirewallReport> apply(const ContainmentState& state) = 0;
  // OK when what is installed is exactly what `state` asks for (used by the tamper watch).
  virtual absl::Status verify(const ContainmentState& state) = 0;
  // SHA-256 hex of the host's whole ruleset as this backend lists it.
  virtual absl::StatusOr<std::string> rulesetDigest() = 0;
  // SHA-256 hex of Warden's own objects as they are now, taken as apply() takes the report's
  // installed_digest: the heartbeat's digest, compared with the last receipt's. An error when
  // they are not in the shape `state` asks for (then no digest would match anyway).
  virtual absl::StatusOr<std::string> installedDigest(const ContainmentState& state) = 0;
};

// Deletes conntrack entries of flows that `policy` no longer allows, so that no stale state
// (NAT bindings, helpers) outlives isolation. Returns how many entries were deleted.
class ConnectionTracker {
 public:
  virtual ~ConnectionTracker() = default;
  virtual absl::StatusOr<int> flushExcept(const IsolationPolicy& policy) = 0;
};

// Wakes up when anything changes in the host's netfilter configuration (nftables netlink
// notifications), so the agent can check and re-apply its rules within a second.
class NetfilterWatch {
 public:
  virtual ~NetfilterWatch() = default;
  // Blocks up to `timeout`; true when a change was seen, false on timeout.
  virtual absl::StatusOr<bool> waitForChange(absl::Duration timeout) = 0;
};

}  // namespace warden
