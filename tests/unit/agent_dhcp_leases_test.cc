// The DHCP servers isolation lets through come from lease files an attacker may have
// written: only plain unicast IPv4 addresses count, and only so many.
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "agent/os/dhcp_leases.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

std::vector<std::string> strings(const std::vector<IpPrefix>& v) {
  std::vector<std::string> out;
  for (const auto& p : v) out.push_back(p.toString());
  return out;
}

TEST(DhcpLeases, SystemdNetworkdLease) {
  EXPECT_EQ(strings(parseDhcpLeaseServers("# This is private data. Do not parse.\n"
                                          "ADDRESS=198.18.0.1\nNETMASK=255.255.255.0\n"
                                          "ROUTER=198.18.0.254\nSERVER_ADDRESS=198.18.0.53\n"
                                          "LIFETIME=3600\n")),
            std::vector<std::string>{"198.18.0.53"});
}

TEST(DhcpLeases, DhclientLeases) {
  const char* text =
      "lease {\n  interface \"eth0\";\n  fixed-address 198.18.0.1;\n"
      "  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 198.18.0.53;\n"
      "  renew 3 2026/12/02 10:00:00;\n}\n"
      "lease {\n  option dhcp-server-identifier 198.18.1.53;\n}\n"
      "lease {\n  option dhcp-server-identifier 198.18.0.53;\n}\n";
  EXPECT_EQ(strings(parseDhcpLeaseServers(text)),
            (std::vector<std::string>{"198.18.0.53", "198.18.1.53"}));
}

TEST(DhcpLeases, HostileContentIsIgnored) {
  EXPECT_TRUE(parseDhcpLeaseServers("SERVER_ADDRESS=0.0.0.0/0\n"
                                    "SERVER_ADDRESS=255.255.255.255\n"
                                    "SERVER_ADDRESS=224.0.0.1\nSERVER_ADDRESS=127.0.0.1\n"
                                    "SERVER_ADDRESS=2001:db8::1\nSERVER_ADDRESS=198.18.0.1 x\n"
                                    "SERVER_ADDRESS=\n"
                                    "option dhcp-server-identifier 198.18.0.9\n"
                                    "option dhcp-server-identifier198.18.0.9;\n"
                                    "option dhcp-server-identifier 198.018.0.9;\n")
                  .empty());
  std::string many;
  for (int i = 1; i < 100; ++i) many += "SERVER_ADDRESS=198.18.0." + std::to_string(i) + "\n";
  EXPECT_EQ(parseDhcpLeaseServers(many).size(), kMaxDhcpServers);
}

TEST(DhcpLeases, ReadsOnlyLeaseFilesInTheDirectories) {
  testing::TempDir dir;
  const std::string networkd = dir.path() + "/netif";
  const std::string dhclient = dir.path() + "/dhcp";
  ASSERT_EQ(mkdir(networkd.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dhclient.c_str(), 0755), 0);
  std::ofstream(networkd + "/2") << "SERVER_ADDRESS=198.18.0.53\n";
  std::ofstream(dhclient + "/dhclient.eth0.leases")
      << "lease {\n  option dhcp-server-identifier 198.18.1.53;\n}\n";
  std::ofstream(dhclient + "/secret_key") << "SERVER_ADDRESS=198.18.2.53\n";
  ASSERT_EQ(mkfifo((dhclient + "/stuck.lease").c_str(), 0600), 0);  // never blocks the read
  ASSERT_EQ(symlink("/etc/shadow", (dhclient + "/link.lease").c_str()), 0);
  EXPECT_EQ(strings(dhcpServersFromLeases({networkd, dhclient, dir.path() + "/absent"})),
            (std::vector<std::string>{"198.18.0.53", "198.18.1.53"}));
}

}  // namespace
}  // namespace warden
