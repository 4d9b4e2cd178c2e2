// Pure translation of a ContainmentState into what the packet filter is given. No I/O: these
// are tested byte for byte without privileges, and the Linux backends only apply the result.
#pragma once

#include <string>

#include "agent/os/firewall.h"

namespace warden {

inline constexpr char kNftTable[] = "warden";  // family inet

// An nftables script that atomically replaces table `inet warden` with `state`
// ("add table; delete table; table { ... }" in one transaction). For an empty state the
// script only deletes the table (and is a no-op when it does not exist).
std::string buildNftScript(const ContainmentState& state);

// iptables-restore / ip6tables-restore input (--noflush) for one family (AF_INET or
// AF_INET6): WARDEN-INPUT, WARDEN-OUTPUT, WARDEN-FORWARD chains, and the jumps from the
// built-in chains when `jumps_present` is false. For an empty state: removes jumps and chains
// (only those that exist, as `chains_present` says).
std::string buildIptablesRestore(const ContainmentState& state, int family, bool chains_present,
                                 bool jumps_present);

}  // namespace warden
