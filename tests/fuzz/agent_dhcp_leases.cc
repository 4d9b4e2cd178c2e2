// parseDhcpLeaseServers: lease files a DHCP client (or an attacker) wrote. Whatever the text,
// at most kMaxDhcpServers distinct plain IPv4 unicast hosts come back, each of which reads back
// the same from its own text, and a lease file of exactly those servers gives them again.
#include <algorithm>

#include "agent/os/dhcp_leases.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::vector<IpPrefix> servers = parseDhcpLeaseServers(fuzz::asText(data, size));
  FUZZ_CHECK(servers.size() <= kMaxDhcpServers);
  std::string lease;
  for (std::size_t i = 0; i < servers.size(); ++i) {
    const IpPrefix& s = servers[i];
    FUZZ_CHECK(s.isV4() && s.isHost());
    FUZZ_CHECK(s.addr[0] != 0 && s.addr[0] != 127 && s.addr[0] < 224);
    FUZZ_CHECK(std::count(servers.begin(), servers.end(), s) == 1);
    auto again = IpPrefix::parse(s.toString());
    FUZZ_CHECK(again.ok() && *again == s);
    lease += (i % 2 ? "option dhcp-server-identifier " + s.toString() + ";\n"
                    : "SERVER_ADDRESS=" + s.toString() + "\n");
  }
  FUZZ_CHECK(parseDhcpLeaseServers(lease) == servers);
  return 0;
}
