// The host's DHCPv4 servers, from the leases its DHCP client wrote. Isolation lets DHCP pass
// only with these servers (and the link's broadcast), so the exception is no tunnel.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace warden {

// Server addresses named in one lease file: systemd-networkd's `SERVER_ADDRESS=a.b.c.d`
// and ISC dhclient's `option dhcp-server-identifier a.b.c.d;` (NetworkManager's dhclient
// leases use the same). The file was written on a host an attacker may own: anything that
// is not a plain IPv4 unicast address is ignored, and at most kMaxDhcpServers come back.
std::vector<IpPrefix> parseDhcpLeaseServers(std::string_view text);

inline constexpr std::size_t kMaxDhcpServers = 8;

// The lease directories the common DHCP clients write to.
std::vector<std::string> defaultDhcpLeaseDirs();

// Reads the lease files in `dirs` (regular files only, at most 64 per directory and 64 KiB
// each) and returns the distinct servers they name, at most kMaxDhcpServers. Unreadable
// directories are skipped: a host without DHCP has none.
std::vector<IpPrefix> dhcpServersFromLeases(const std::vector<std::string>& dirs);

}  // namespace warden
