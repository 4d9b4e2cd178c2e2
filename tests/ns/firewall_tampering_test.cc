// Tampering with Warden's rules in the real kernel (firewall_namespaces.h): a deleted nftables
// table, an inserted accept rule, a rewritten rule, a removed iptables jump or an ACCEPT placed
// first are seen by verify() and repaired by apply(), as UDP probes prove.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/match.h"
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
  auto fw = makeNftablesFirewall();
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
