// The isolation exceptions are exactly as wide as their purpose (DESIGN "Network containment
// semantics"), proven with real packets between two network namespaces
// (firewall_namespaces.h), for both backends where the backend can do it:
//  - DHCP passes only between the host's port 68 and its lease server's port 67 (or the
//    broadcast address), not with another peer on the same ports;
//  - neighbour discovery leaves only as solicitations and advertisements: a router
//    advertisement or a redirect from the isolated host does not arrive;
//  - "fragmentation needed" / "packet too big" quoting the controller flow arrives, quoting
//    any other flow it does not;
//  - a frame sent on an AF_PACKET socket (raw, and with PACKET_QDISC_BYPASS) does not leave
//    the isolated host (nftables: netdev egress chain; iptables says it cannot);
//  - the iptables backend applies IPv4 and IPv6 as one unit.
// Every check is first made before isolation, so a test that cannot see the packet fails
// rather than passes.
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <array>
#include <climits>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/firewall_linux.h"
#include "gtest/gtest.h"
#include "tests/ns/firewall_namespaces.h"
#include "tests/support/mount_namespace.h"

namespace warden::testing {
namespace {

using ::warden::linux_os::makeIptablesFirewall;
using ::warden::linux_os::makeNftablesFirewall;

std::unique_ptr<Firewall> backendNamed(const std::string& name) {
  return name == "nftables" ? makeNftablesFirewall() : makeIptablesFirewall();
}

// A UDP socket in `ns` on 0.0.0.0:port (IPv4: DHCP is IPv4 here).
Fd udpSinkOn(const std::string& ns, std::uint16_t port) {
  return inNetns(ns, [&]() -> Fd {
    Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ADD_FAILURE() << "udp sink on port " << port << " in " << ns << ": " << std::strerror(errno);
      return Fd();
    }
    return fd;
  });
}

// Drains `fd`, then waits up to a second for a datagram (or frame, or ICMP message) holding
// `marker`. A send that fails counts as not seen: an isolated host's own filter refuses
// (EPERM, or ENOBUFS past the qdisc) what it drops; each probe is shown to work before
// isolation, so a probe that cannot work at all fails there.
bool seen(const Fd& fd, const std::string& marker, const std::function<bool()>& send) {
  char buf[2048];
  while (recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT) > 0) {
  }
  if (!send()) return false;
  const auto deadline = absl::Now() + absl::Seconds(1);
  while (absl::Now() < deadline) {
    pollfd p{fd.get(), POLLIN, 0};
    const int wait_ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (poll(&p, 1, wait_ms < 1 ? 1 : wait_ms) != 1) break;
    const ssize_t n = recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0 && std::string_view(buf, n).find(marker) != std::string_view::npos) return true;
  }
  return false;
}

// Sends `payload` from src:sport in `ns` to dst:dport over UDP/IPv4.
bool udpFrom(const std::string& ns, const char* src, std::uint16_t sport, const char* dst,
             std::uint16_t dport, const std::string& payload) {
  return inNetns(ns, [&]() -> bool {
    Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    const int on = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    setsockopt(fd.get(), SOL_SOCKET, SO_BROADCAST, &on, sizeof(on));
    sockaddr_in from{}, to{};
    from.sin_family = to.sin_family = AF_INET;
    from.sin_port = htons(sport);
    to.sin_port = htons(dport);
    inet_pton(AF_INET, src, &from.sin_addr);
    inet_pton(AF_INET, dst, &to.sin_addr);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) return false;
    return sendto(fd.get(), payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&to),
                  sizeof(to)) == static_cast<ssize_t>(payload.size());
  });
}

std::uint16_t inetChecksum(const std::uint8_t* data, std::size_t len) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (len % 2) sum += data[len - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// A raw ICMPv4 or ICMPv6 socket in `ns`: receives every ICMP message the host accepts.
Fd icmpSocket(const std::string& ns, bool v6) {
  return inNetns(ns, [&]() -> Fd {
    Fd fd(v6 ? socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6)
             : socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP));
    if (!fd.ok()) ADD_FAILURE() << "raw icmp socket: " << std::strerror(errno);
    return fd;
  });
}

// An ICMPv6 message of `type` (hop limit 255, as neighbour discovery requires) from `ns` to
// dst, with `marker` as its body; the kernel fills in the checksum.
bool sendIcmp6(const std::string& ns, std::uint8_t type, const char* dst,
               const std::string& marker) {
  return inNetns(ns, [&]() -> bool {
    Fd fd(socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
    const int hops = 255;
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops));
    std::string msg(8, '\0');
    msg[0] = static_cast<char>(type);
    msg += marker;
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    inet_pton(AF_INET6, dst, &to.sin6_addr);
    return sendto(fd.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to),
                  sizeof(to)) == static_cast<ssize_t>(msg.size());
  });
}

// From `ns` (a router on the path), "fragmentation needed" (IPv4) or "packet too big"
// (IPv6) to `host`, quoting a TCP segment the host sent from `quoted_src` to
// quoted_dst:quoted_dport, with `marker` after the quoted TCP header.
bool sendPmtuError(const std::string& ns, bool v6, const char* host, const char* quoted_src,
                   const char* quoted_dst, std::uint16_t quoted_dport, const std::string& marker) {
  std::vector<std::uint8_t> msg;
  std::array<std::uint8_t, 8> tcp = {0x9c, 0x40, 0, 0, 0, 0, 0, 0};  // sport 40000
  tcp[2] = quoted_dport >> 8;
  tcp[3] = quoted_dport & 0xff;
  if (!v6) {
    msg = {ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0, 0, 0, 0, 0x05, 0x00};  // next-hop MTU 1280
    std::array<std::uint8_t, 20> ip = {0x45, 0, 0x05, 0xdc, 0, 0, 0x40, 0, 64, IPPROTO_TCP};
    inet_pton(AF_INET, quoted_src, &ip[12]);
    inet_pton(AF_INET, quoted_dst, &ip[16]);
    const std::uint16_t ip_sum = inetChecksum(ip.data(), ip.size());
    ip[10] = ip_sum >> 8;
    ip[11] = ip_sum & 0xff;
    msg.insert(msg.end(), ip.begin(), ip.end());
  } else {
    msg = {ICMP6_PACKET_TOO_BIG, 0, 0, 0, 0, 0, 0x05, 0x00};  // MTU 1280
    std::array<std::uint8_t, 40> ip = {0x60, 0, 0, 0, 0x05, 0xb4, IPPROTO_TCP, 64};
    inet_pton(AF_INET6, quoted_src, &ip[8]);
    inet_pton(AF_INET6, quoted_dst, &ip[24]);
    msg.insert(msg.end(), ip.begin(), ip.end());
  }
  msg.insert(msg.end(), tcp.begin(), tcp.end());
  msg.insert(msg.end(), marker.begin(), marker.end());
  if (!v6) {
    const std::uint16_t sum = inetChecksum(msg.data(), msg.size());
    msg[2] = sum >> 8;
    msg[3] = sum & 0xff;
  }
  return inNetns(ns, [&]() -> bool {
    Fd fd(v6 ? socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6)
             : socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP));
    sockaddr_storage to;
    socklen_t to_len = 0;
    if (!toSockaddr(host, 0, &to, &to_len)) return false;
    return sendto(fd.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), to_len) ==
           static_cast<ssize_t>(msg.size());
  });
}

// An AF_PACKET socket on `ifname` in `ns`, receiving every frame.
Fd packetSink(const std::string& ns, const char* ifname) {
  return inNetns(ns, [&]() -> Fd {
    Fd fd(socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL)));
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    if (!fd.ok() || bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ADD_FAILURE() << "packet socket on " << ifname << ": " << std::strerror(errno);
      return Fd();
    }
    return fd;
  });
}

// Sends one broadcast Ethernet frame of `ethertype` carrying `payload` on `ifname` in `ns`
// through an AF_PACKET socket, optionally with PACKET_QDISC_BYPASS.
bool sendFrame(const std::string& ns, const char* ifname, std::uint16_t ethertype,
               const std::string& payload, bool bypass_qdisc) {
  return inNetns(ns, [&]() -> bool {
    Fd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    const int on = 1;
    if (bypass_qdisc && setsockopt(fd.get(), SOL_PACKET, PACKET_QDISC_BYPASS, &on, sizeof(on))) {
      return false;
    }
    std::string frame(12, '\xff');  // destination broadcast, source ff.. (never mind)
    frame[6] = 0x02;                // locally administered source
    frame += static_cast<char>(ethertype >> 8);
    frame += static_cast<char>(ethertype & 0xff);
    frame += payload;
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(if_nametoindex(ifname));
    to.sll_halen = ETH_ALEN;
    std::memset(to.sll_addr, 0xff, ETH_ALEN);
    return sendto(fd.get(), frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to),
                  sizeof(to)) == static_cast<ssize_t>(frame.size());
  });
}

// An IPv4/UDP packet from 198.18.0.1 to 198.18.0.2:9 with `marker` as its payload, as the IP
// stack would have sent it (so only a filter below the IP stack can stop it).
std::string ipv4UdpPacket(const std::string& marker) {
  std::vector<std::uint8_t> p = {0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, IPPROTO_UDP};
  p.resize(20);
  inet_pton(AF_INET, kA4, &p[12]);
  inet_pton(AF_INET, kB4, &p[16]);
  const std::size_t total = 20 + 8 + marker.size();
  p[2] = total >> 8;
  p[3] = total & 0xff;
  const std::uint16_t sum = inetChecksum(p.data(), 20);
  p[10] = sum >> 8;
  p[11] = sum & 0xff;
  const std::size_t udp_len = 8 + marker.size();
  const std::uint8_t udp[8] = {0x9c,
                               0x40,
                               0,
                               9,
                               static_cast<std::uint8_t>(udp_len >> 8),
                               static_cast<std::uint8_t>(udp_len & 0xff),
                               0,
                               0};
  p.insert(p.end(), udp, udp + 8);
  p.insert(p.end(), marker.begin(), marker.end());
  return std::string(p.begin(), p.end());
}

class ExceptionsNsTest : public FirewallNsTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void isolate(const ContainmentState& state) {
    fw_ = backendNamed(GetParam());
    auto report = apply(*fw_, state);
    ASSERT_TRUE(report.ok()) << report.status();
    report_ = *report;
  }
  void TearDown() override {
    if (fw_) (void)apply(*fw_, ContainmentState{});
    FirewallNsTest::TearDown();
  }
  std::unique_ptr<Firewall> fw_;
  FirewallReport report_;
};

TEST_P(ExceptionsNsTest, DhcpOnlyWithTheLeaseServer) {
  // B holds 198.18.0.2 (a peer) and 198.18.0.3 (the host's DHCP server, from its lease).
  const Fd& server_port = hold(udpSinkOn(b_, 67));
  const Fd& client_port = hold(udpSinkOn(a_, 68));
  const auto out_to = [&](const char* dst, const char* marker) {
    return seen(server_port, marker, [&] { return udpFrom(a_, kA4, 68, dst, 67, marker); });
  };
  const auto in_from = [&](const char* src, const char* marker) {
    return seen(client_port, marker, [&] { return udpFrom(b_, src, 67, kA4, 68, marker); });
  };
  ASSERT_TRUE(out_to(kB4, "before-out")) << "the probe must work before isolation";
  ASSERT_TRUE(in_from(kB4, "before-in")) << "the probe must work before isolation";

  ContainmentState state = isolatedTo(7443);
  state.isolation->dhcp_servers = {prefix(kResponder4)};
  isolate(state);

  EXPECT_FALSE(out_to(kB4, "tunnel-out")) << "68 -> a peer's 67 is a tunnel, not DHCP";
  EXPECT_FALSE(in_from(kB4, "tunnel-in")) << "67 -> 68 from a peer that is not the server";
  EXPECT_TRUE(out_to(kResponder4, "lease-out")) << "the lease server stays reachable";
  EXPECT_TRUE(in_from(kResponder4, "lease-in")) << "the lease server's replies arrive";
}

TEST_P(ExceptionsNsTest, NeighbourDiscoveryLeavesOnlyAsAHostSendsIt) {
  const Fd& icmp6_in_b = hold(icmpSocket(b_, true));
  const auto from_a = [&](std::uint8_t type, const char* marker) {
    return seen(icmp6_in_b, marker, [&] { return sendIcmp6(a_, type, kB6, marker); });
  };
  ASSERT_TRUE(from_a(ND_ROUTER_ADVERT, "ra-before")) << "the probe must work before isolation";
  isolate(isolatedTo(7443));
  EXPECT_FALSE(from_a(ND_ROUTER_ADVERT, "ra-after")) << "an isolated host advertises no routes";
  EXPECT_FALSE(from_a(ND_REDIRECT, "redirect-after")) << "an isolated host redirects nobody";
  EXPECT_TRUE(from_a(ND_NEIGHBOR_ADVERT, "na-after")) << "neighbour advertisements still leave";
  EXPECT_TRUE(from_a(ND_NEIGHBOR_SOLICIT, "ns-after")) << "neighbour solicitations still leave";
}

TEST_P(ExceptionsNsTest, PathMtuErrorsPassOnlyForTheControllerFlow) {
  std::uint16_t ctl_port = 0;
  hold(listenAll(b_, &ctl_port));
  const Fd* icmp_in_a[2] = {&hold(icmpSocket(a_, false)), &hold(icmpSocket(a_, true))};
  // B plays the router on the path; the quoted packet went from A to `dst`:`port`.
  const auto quoting = [&](bool v6, const char* dst, std::uint16_t port,
                           const std::string& marker) {
    const char* host = v6 ? kA6 : kA4;
    return seen(*icmp_in_a[v6], marker,
                [&] { return sendPmtuError(b_, v6, host, host, dst, port, marker); });
  };
  ASSERT_TRUE(quoting(false, kB4, ctl_port, "pmtu4-before")) << "the probe must work before";
  ASSERT_TRUE(quoting(true, kB6, ctl_port, "pmtu6-before")) << "the probe must work before";
  isolate(isolatedTo(ctl_port));
  for (const bool v6 : {false, true}) {
    SCOPED_TRACE(v6 ? "IPv6" : "IPv4");
    const char* ctl = v6 ? kB6 : kB4;
    const char* other = v6 ? kResponder6 : kResponder4;
    EXPECT_TRUE(quoting(v6, ctl, ctl_port, "pmtu-controller")) << "keeps the channel alive";
    EXPECT_FALSE(quoting(v6, ctl, ctl_port + 1, "pmtu-other-port")) << "only the controller port";
    EXPECT_FALSE(quoting(v6, other, ctl_port, "pmtu-other-host")) << "only the controller";
  }
}

TEST_P(ExceptionsNsTest, RawSocketFramesDoNotLeaveTheHost) {
  const Fd& wire = hold(packetSink(b_, "wfw1"));
  const auto frame_arrives = [&](std::uint16_t ethertype, const std::string& marker, bool bypass) {
    const std::string payload = ethertype == ETH_P_IP ? ipv4UdpPacket(marker) : marker;
    return seen(wire, marker, [&] { return sendFrame(a_, "wfw0", ethertype, payload, bypass); });
  };
  ASSERT_TRUE(frame_arrives(0x88b5, "raw-before", false)) << "the probe must work before";
  ASSERT_TRUE(frame_arrives(ETH_P_IP, "ip-before", false)) << "the probe must work before";

  isolate(isolatedTo(7443));
  if (GetParam() == "iptables") {
    // No egress hook in iptables: the receipt must say so rather than pretend.
    EXPECT_TRUE(absl::StrContains(absl::StrJoin(report_.warnings, "; "), "raw (AF_PACKET)"))
        << absl::StrJoin(report_.warnings, "; ");
    return;
  }
  EXPECT_TRUE(report_.warnings.empty()) << absl::StrJoin(report_.warnings, "; ");
  for (const bool bypass : {false, true}) {
    SCOPED_TRACE(bypass ? "PACKET_QDISC_BYPASS" : "through the qdisc");
    EXPECT_FALSE(frame_arrives(0x88b5, absl::StrCat("raw-after-", bypass), bypass));
    EXPECT_FALSE(frame_arrives(ETH_P_IP, absl::StrCat("ip-after-", bypass), bypass));
  }
  // The isolation's own traffic still leaves through the egress chain.
  std::uint16_t ctl_port = 0;
  hold(listenAll(b_, &ctl_port));
  isolate(isolatedTo(ctl_port));
  EXPECT_TRUE(tcpConnects(a_, kB4, ctl_port));
  EXPECT_TRUE(tcpConnects(a_, kB6, ctl_port));
}

INSTANTIATE_TEST_SUITE_P(Backends, ExceptionsNsTest, ::testing::Values("nftables", "iptables"),
                         [](const auto& info) { return info.param; });

// IPv4 and IPv6 are one unit in the iptables backend: an ip6tables-restore that fails leaves
// IPv4 as it was, and the error says it was rolled back. The failing tool is a script bound
// over the real one in a private mount namespace of a forked child.
TEST_F(FirewallNsTest, IptablesRollsBackIpv4WhenIpv6Fails) {
  const std::string ipt_before = saved(a_, "iptables-save");
  const std::string netns = a_;
  const std::string result = runInPrivateMountNamespace([netns]() -> std::string {
    // A tmpfs over /usr/sbin holding the real tools but a failing ip6tables-restore. The
    // tools are symlinks (through /etc/alternatives) to one multi-call binary: resolve them
    // before /usr/sbin is covered.
    std::vector<std::pair<std::string, std::string>> tools;
    for (const char* tool : {"iptables-save", "iptables-restore", "ip6tables-save"}) {
      char resolved[PATH_MAX];
      if (::realpath(absl::StrCat("/usr/sbin/", tool).c_str(), resolved) == nullptr) {
        return absl::StrCat("realpath ", tool, ": ", std::strerror(errno));
      }
      tools.emplace_back(tool, resolved);
    }
    const std::string real = "/run/warden-test-sbin";
    if (::mkdir(real.c_str(), 0700) != 0 && errno != EEXIST) return "mkdir failed";
    if (::mount("/usr/sbin", real.c_str(), nullptr, MS_BIND, nullptr) != 0) {
      return absl::StrCat("bind /usr/sbin: ", std::strerror(errno));
    }
    if (::mount("tmpfs", "/usr/sbin", "tmpfs", 0, "mode=0755") != 0) {
      return absl::StrCat("tmpfs: ", std::strerror(errno));
    }
    for (const auto& [tool, resolved] : tools) {
      if (!absl::StartsWith(resolved, "/usr/sbin/")) return "tool outside /usr/sbin: " + resolved;
      const std::string target = absl::StrCat(real, resolved.substr(9));
      if (::symlink(target.c_str(), absl::StrCat("/usr/sbin/", tool).c_str()) != 0) {
        return absl::StrCat("symlink ", tool, ": ", std::strerror(errno));
      }
    }
    {
      std::ofstream fake("/usr/sbin/ip6tables-restore");
      fake << "#!/bin/sh\necho 'ip6tables-restore: refused by the test' >&2\nexit 1\n";
    }
    ::chmod("/usr/sbin/ip6tables-restore", 0755);
    const int fd = ::open(absl::StrCat("/run/netns/", netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) return "setns failed";
    ::close(fd);
    auto fw = makeIptablesFirewall();
    auto report = fw->apply(isolatedTo(7443));
    if (report.ok()) return "applied although ip6tables-restore failed";
    return std::string(report.status().message());
  });
  EXPECT_TRUE(absl::StrContains(result, "refused by the test")) << result;
  EXPECT_TRUE(absl::StrContains(result, "iptables-restore changes rolled back")) << result;
  EXPECT_FALSE(absl::StrContains(ipt_before, "WARDEN"));
  EXPECT_FALSE(absl::StrContains(saved(a_, "iptables-save"), "WARDEN")) << "IPv4 as it was";
  EXPECT_TRUE(pings(b_, kA4)) << "IPv4 must not be left isolated";
}

}  // namespace
}  // namespace warden::testing
