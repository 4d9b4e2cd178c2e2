// Pure translation of a ContainmentState into what the packet filter is given. No I/O: these
// are tested byte for byte without privileges, and the Linux backends only apply the result.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "agent/os/firewall.h"

namespace warden {

inline constexpr char kNftTable[] = "warden";  // families inet and netdev
// The copy only the agent's own netlink socket may change or delete (table flag `owner`,
// Linux >= 5.12): `nft flush ruleset` skips it, so isolation holds while the agent lives.
inline constexpr char kNftOwnedTable[] = "warden_owned";

// An nftables script that atomically replaces tables `inet warden` and `netdev warden` with
// `state` ("add table; delete table; table { ... }" in one transaction). The netdev table
// (isolation only) hooks ingress and egress of `interfaces` (loopback and names that are not
// nftSafeInterfaceName() left out), so raw sockets do not bypass isolation. With
// `owned_copy`, the same again as `inet warden_owned` / `netdev warden_owned` with `flags
// owner`. For an empty state the script only deletes the tables (and is a no-op when they do
// not exist).
std::string buildNftScript(const ContainmentState& state,
                           const std::vector<std::string>& interfaces, bool owned_copy = false);

// True for an interface name that can be written into an nftables script as it is. Linux
// allows almost any byte in a name (quotes, braces); such a name is never pasted into a
// ruleset.
bool nftSafeInterfaceName(std::string_view name);

// iptables-restore / ip6tables-restore input (--noflush) for one family (AF_INET or
// AF_INET6): WARDEN-INPUT, WARDEN-OUTPUT, WARDEN-FORWARD chains, and the jumps from the
// built-in chains when `jumps_present` is false. For an empty state: removes jumps and chains
// (only those that exist, as `chains_present` says).
std::string buildIptablesRestore(const ContainmentState& state, int family, bool chains_present,
                                 bool jumps_present);

}  // namespace warden
