// Tampering with Warden's rules in the real kernel (firewall_namespaces.h): a deleted nftables
// table, an inserted accept rule, a rewritten rule, a removed iptables jump or an ACCEPT placed
// first are seen by verify() and repaired by apply(), as UDP probes prove. With the owned copy
// (the default where the kernel has table owners), `nft flush ruleset` and `nft delete table`
// by root leave isolation in force with no gap; without it (forced here, as an older kernel
// gets it) the plain table alone is watched and repaired.
#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/firewall_linux.h"
#include "gtest/gtest.h"
#include "tests/ns/firewall_namespaces.h"

namespace warden::testing {
namespace {

using ::warden::linux_os::makeIptablesFirewall;
using ::warden::linux_os::makeNetfilterWatch;
using ::warden::linux_os::makeNftablesFirewall;

TEST_F(FirewallNsTest, NftablesTamperingIsSeenAndRepaired) {
  const ContainmentState state = isolatedTo(7443);
  // The path without an owned copy: every change to the plain table is the whole story.
  auto fw = makeNftablesFirewall({.owned_table = false});
  std::uint16_t udp_port = 0;
  const Fd& sink = hold(udpSink(a_, &udp_port));
  auto watch = inNetns(a_, [] { return makeNetfilterWatch(); });
  ASSERT_TRUE(watch.ok()) << watch.status();

  ASSERT_TRUE(apply(*fw, state).ok());
  // apply() itself is a change; drain it, then all is quiet.
  auto changed = (*watch)->waitForChange(absl::Seconds(2));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  changed = (*watch)->waitForChange(absl::Milliseconds(200));
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);

  // Deleting the table: the watch wakes up and verify() notices.
  ASSERT_EQ(inNs(a_, {"nft", "delete", "table", "inet", "warden"}).code, 0);
  changed = (*watch)->waitForChange(absl::Seconds(5));
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_FALSE(verify(*fw, state).ok());
  EXPECT_TRUE(udpArrives(b_, kA4, udp_port, sink)) << "the table is really gone";

  ASSERT_TRUE(apply(*fw, state).ok());
  EXPECT_TRUE(verify(*fw, state).ok());
  EXPECT_FALSE(udpArrives(b_, kA4, udp_port, sink));

  // An extra rule, and a rule rewritten in place under its old comment.
  ASSERT_EQ(inNs(a_, {"nft", "insert", "rule", "inet", "warden", "input", "accept"}).code, 0);
  EXPECT_FALSE(verify(*fw, state).ok());
  ASSERT_TRUE(apply(*fw, state).ok());
  const CmdResult listing = inNs(a_, {"nft", "-a", "list", "chain", "inet", "warden", "input"});
  std::string handle;
  for (absl::string_view line : absl::StrSplit(listing.out, '\n')) {
    if (absl::StrContains(line, "\"warden:lo-in\"")) {
      handle = std::string(line.substr(line.rfind(' ') + 1));
    }
  }
  ASSERT_FALSE(handle.empty()) << listing.out;
  const CmdResult replaced = inNs(a_, {"nft", "-f", "-"},
                                  absl::StrCat("replace rule inet warden input handle ", handle,
                                               " accept comment \"warden:lo-in\"\n"));
  ASSERT_EQ(replaced.code, 0) << replaced.err;
  const absl::Status st = verify(*fw, state);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "modified")) << st;
  EXPECT_TRUE(udpArrives(b_, kA6, udp_port, sink)) << "the rewritten rule lets everything in";

  // An element added to a block set.
  ASSERT_TRUE(apply(*fw, state).ok());
  ASSERT_EQ(
      inNs(a_, {"nft", "add", "element", "inet", "warden", "blocked4", "{ 198.19.1.1 }"}).code, 0);
  EXPECT_FALSE(verify(*fw, state).ok());
  EXPECT_TRUE(apply(*fw, ContainmentState{}).ok());
}

// Every NETLINK_NETFILTER socket of this process is close-on-exec (the owner socket among them).
bool netfilterSocketsAreCloseOnExec(std::string* detail) {
  bool all = true;
  int seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = -1;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &fd)) continue;
    int domain = 0, protocol = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || domain != AF_NETLINK) continue;
    len = sizeof(int);
    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) != 0 ||
        protocol != NETLINK_NETFILTER) {
      continue;
    }
    ++seen;
    if ((fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0) {
      all = false;
      absl::StrAppend(detail, "fd ", fd, " is inherited by children; ");
    }
  }
  if (seen == 0) absl::StrAppend(detail, "no netfilter socket found");
  return all && seen > 0;
}

TEST_F(FirewallNsTest, OwnedTableHoldsIsolationWhenRootFlushesTheRuleset) {
  const ContainmentState state = isolatedTo(7443);
  auto fw = makeNftablesFirewall();
  std::uint16_t udp_port = 0;
  const Fd& sink = hold(udpSink(a_, &udp_port));
  ASSERT_TRUE(udpArrives(b_, kA4, udp_port, sink)) << "the probe must work before isolation";
  auto report = apply(*fw, state);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_TRUE(report->warnings.empty()) << report->warnings.front();
  EXPECT_TRUE(absl::StrContains(nftList(a_, "warden_owned"), "flags owner"));
  std::string detail;
  EXPECT_TRUE(netfilterSocketsAreCloseOnExec(&detail)) << detail;

  // Root flushes everything: the owned copy stays, and the very next probe is dropped.
  const CmdResult flush = inNs(a_, {"nft", "flush", "ruleset"});
  ASSERT_EQ(flush.code, 0) << flush.err;
  EXPECT_FALSE(udpArrives(b_, kA4, udp_port, sink)) << "isolation must hold with no gap";
  EXPECT_FALSE(udpArrives(b_, kA6, udp_port, sink)) << "isolation must hold with no gap";
  const CmdResult tables = inNs(a_, {"nft", "list", "tables"});
  EXPECT_TRUE(absl::StrContains(tables.out, "table inet warden_owned")) << tables.out;
  EXPECT_FALSE(absl::StrContains(tables.out, "table inet warden\n")) << tables.out;
  // verify() sees the plain table gone, so the agent's watch re-applies it.
  EXPECT_FALSE(verify(*fw, state).ok());

  // Nobody but the owner may delete or change the owned copy.
  const CmdResult del = inNs(a_, {"nft", "delete", "table", "inet", "warden_owned"});
  EXPECT_NE(del.code, 0) << "root deleted the owned table";
  const CmdResult add =
      inNs(a_, {"nft", "insert", "rule", "inet", "warden_owned", "input", "accept"});
  EXPECT_NE(add.code, 0) << "root changed the owned table";
  EXPECT_FALSE(udpArrives(b_, kA4, udp_port, sink));

  ASSERT_TRUE(apply(*fw, state).ok());
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);
  // Release removes both copies.
  ASSERT_TRUE(apply(*fw, ContainmentState{}).ok());
  EXPECT_TRUE(verify(*fw, ContainmentState{}).ok());
  EXPECT_FALSE(absl::StrContains(inNs(a_, {"nft", "list", "tables"}).out, "warden"));
  EXPECT_TRUE(udpArrives(b_, kA4, udp_port, sink));
}

TEST_F(FirewallNsTest, IptablesTamperingIsSeenAndRepaired) {
  const ContainmentState state = isolatedTo(7443);
  auto fw = makeIptablesFirewall();
  std::uint16_t udp_port = 0;
  const Fd& sink = hold(udpSink(a_, &udp_port));
  ASSERT_TRUE(apply(*fw, state).ok());
  ASSERT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);
  EXPECT_FALSE(udpArrives(b_, kA4, udp_port, sink));

  // Jump removed.
  ASSERT_EQ(inNs(a_, {"iptables", "-D", "INPUT", "-j", "WARDEN-INPUT"}).code, 0);
  EXPECT_FALSE(verify(*fw, state).ok());
  EXPECT_TRUE(udpArrives(b_, kA4, udp_port, sink)) << "the jump is really gone";
  ASSERT_TRUE(apply(*fw, state).ok());
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);
  EXPECT_FALSE(udpArrives(b_, kA4, udp_port, sink));

  // Someone else's ACCEPT put in front of the jump: repaired, their rule kept behind ours.
  ASSERT_EQ(inNs(a_, {"ip6tables", "-I", "INPUT", "1", "-j", "ACCEPT"}).code, 0);
  EXPECT_TRUE(udpArrives(b_, kA6, udp_port, sink)) << "the ACCEPT really comes first";
  const absl::Status st = verify(*fw, state);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "first rule")) << st;
  ASSERT_TRUE(apply(*fw, state).ok());
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);
  const std::string ip6t = saved(a_, "ip6tables-save");
  EXPECT_TRUE(absl::StrContains(ip6t, "-A INPUT -j WARDEN-INPUT\n-A INPUT -j ACCEPT\n")) << ip6t;
  EXPECT_FALSE(udpArrives(b_, kA6, udp_port, sink));

  // A rule of ours rewritten.
  ASSERT_EQ(inNs(a_, {"iptables", "-R", "WARDEN-INPUT", "1", "-j", "ACCEPT"}).code, 0);
  EXPECT_FALSE(verify(*fw, state).ok());

  // Clearing also works from a damaged state.
  ASSERT_TRUE(apply(*fw, ContainmentState{}).ok());
  EXPECT_TRUE(verify(*fw, ContainmentState{}).ok());
  EXPECT_FALSE(absl::StrContains(saved(a_, "iptables-save"), "WARDEN"));
  EXPECT_FALSE(absl::StrContains(saved(a_, "ip6tables-save"), "WARDEN"));
  EXPECT_TRUE(absl::StrContains(saved(a_, "ip6tables-save"), "-A INPUT -j ACCEPT"));
}
}  // namespace
}  // namespace warden::testing
