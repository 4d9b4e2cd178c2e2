// Both packet-filter backends (nftables, iptables) against the real kernel in two network
// namespaces (firewall_namespaces.h): isolation lets only the controller and the allow entries
// through, blocked prefixes are dropped without isolation, release restores everything and
// leaves other software's rules alone; and the factory picks a backend.
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "agent/firewall_rules.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/firewall_linux.h"
#include "gtest/gtest.h"
#include "tests/ns/firewall_namespaces.h"

namespace warden::testing {
namespace {

using ::warden::linux_os::makeFirewall;
using ::warden::linux_os::makeIptablesFirewall;
using ::warden::linux_os::makeNftablesFirewall;

std::unique_ptr<Firewall> backendNamed(const std::string& name) {
  return name == "nftables" ? makeNftablesFirewall() : makeIptablesFirewall();
}

class BackendNsTest : public FirewallNsTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(BackendNsTest, IsolationLetsOnlyControllerAndAllowEntriesThrough) {
  addPreexistingRules();
  const std::string keepme_before = nftList(a_, "keepme");
  const std::string ipt_before = saved(a_, "iptables-save");
  const std::string ip6t_before = saved(a_, "ip6tables-save");

  std::uint16_t a_port = 0, a_allow_port = 0, ctl_port = 0, b_other_port = 0;
  hold(listenAll(a_, &a_port));
  hold(listenAll(a_, &a_allow_port));
  hold(listenAll(b_, &ctl_port));
  hold(listenAll(b_, &b_other_port));

  ASSERT_TRUE(pings(b_, kA4));
  ASSERT_TRUE(pings(b_, kA6));
  ASSERT_TRUE(tcpConnects(b_, kA4, a_port));
  ASSERT_TRUE(tcpConnects(b_, kA6, a_port));

  ContainmentState state;
  IsolationPolicy iso;
  iso.controller_addresses = {prefix(kB4), prefix(kB6)};
  iso.controller_port = ctl_port;
  iso.allow = {*AllowEntry::parse(kResponder4),
               *AllowEntry::parse(absl::StrCat("[", kResponder6, "]:", a_allow_port))};
  state.isolation = iso;

  auto fw = backendNamed(GetParam());
  auto report = apply(*fw, state);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->backend, GetParam());
  EXPECT_EQ(report->prior_digest.size(), 64u);
  EXPECT_EQ(report->installed_digest.size(), 64u);
  if (GetParam() == "nftables") {
    EXPECT_EQ(report->applied, buildNftScript(state, {"lo", "wfw0"}, /*owned_copy=*/true));
    EXPECT_TRUE(report->warnings.empty()) << report->warnings.front();
  }
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);

  // Nothing gets in or out...
  EXPECT_FALSE(pings(b_, kA4)) << "ping B->A v4 should be dropped";
  EXPECT_FALSE(pings(b_, kA6)) << "ping B->A v6 should be dropped";
  EXPECT_FALSE(pings(a_, kB4)) << "ping A->B v4 should be dropped";
  EXPECT_FALSE(pings(a_, kB6)) << "ping A->B v6 should be dropped";
  EXPECT_FALSE(tcpConnects(b_, kA4, a_port));
  EXPECT_FALSE(tcpConnects(b_, kA6, a_port));
  EXPECT_FALSE(tcpConnects(a_, kB4, b_other_port)) << "only the controller port is open";
  EXPECT_FALSE(tcpConnects(a_, kB6, b_other_port)) << "only the controller port is open";
  // ...except the controller...
  EXPECT_TRUE(tcpConnects(a_, kB4, ctl_port));
  EXPECT_TRUE(tcpConnects(a_, kB6, ctl_port));
  EXPECT_FALSE(tcpConnects(b_, kA4, a_port, kB4)) << "the controller address gets no more";
  // ...and the allow entries: 198.18.0.3 entirely, [2001:db8::3] only on a_allow_port.
  EXPECT_TRUE(pings(b_, kA4, kResponder4));
  EXPECT_TRUE(tcpConnects(b_, kA4, a_port, kResponder4));
  EXPECT_TRUE(tcpConnects(a_, kResponder4, b_other_port));
  EXPECT_TRUE(tcpConnects(b_, kA6, a_allow_port, kResponder6));
  EXPECT_FALSE(tcpConnects(b_, kA6, a_port, kResponder6)) << "allow entry is port-scoped";
  EXPECT_FALSE(pings(b_, kA6, kResponder6)) << "allow entry with a port admits TCP/UDP only";
  EXPECT_FALSE(tcpConnects(b_, kA4, a_allow_port, kB4)) << "allow entry is address-scoped";

  EXPECT_EQ(nftList(a_, "keepme"), keepme_before);

  // Re-applying the same state in place keeps everything as it was.
  auto again = apply(*fw, state);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->installed_digest, report->installed_digest);

  auto cleared = apply(*fw, ContainmentState{});
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_TRUE(verify(*fw, ContainmentState{}).ok());
  EXPECT_FALSE(wardenTablePresent(a_));
  EXPECT_EQ(nftList(a_, "keepme"), keepme_before);
  EXPECT_EQ(saved(a_, "iptables-save"), ipt_before);
  EXPECT_EQ(saved(a_, "ip6tables-save"), ip6t_before);
  EXPECT_TRUE(pings(b_, kA4));
  EXPECT_TRUE(pings(b_, kA6));
  EXPECT_TRUE(tcpConnects(b_, kA4, a_port));
  EXPECT_TRUE(tcpConnects(b_, kA6, a_port));

  // Clearing twice is harmless.
  EXPECT_TRUE(apply(*fw, ContainmentState{}).ok());
}

TEST_P(BackendNsTest, BlockedPrefixesAreDroppedWithoutIsolation) {
  std::uint16_t a_port = 0;
  hold(listenAll(a_, &a_port));
  ContainmentState state;
  state.blocked = {prefix(kResponder4), prefix(kResponder6)};
  auto fw = backendNamed(GetParam());
  auto report = apply(*fw, state);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);

  EXPECT_TRUE(pings(b_, kA4, kB4));
  EXPECT_TRUE(pings(b_, kA6, kB6));
  EXPECT_TRUE(tcpConnects(b_, kA4, a_port, kB4));
  EXPECT_FALSE(pings(b_, kA4, kResponder4));
  EXPECT_FALSE(pings(b_, kA6, kResponder6));
  EXPECT_FALSE(tcpConnects(b_, kA4, a_port, kResponder4));
  EXPECT_FALSE(tcpConnects(b_, kA6, a_port, kResponder6));
  EXPECT_FALSE(tcpConnects(a_, kResponder4, a_port)) << "blocked as destination too";

  ASSERT_TRUE(apply(*fw, ContainmentState{}).ok());
  EXPECT_TRUE(pings(b_, kA4, kResponder4));
  EXPECT_TRUE(pings(b_, kA6, kResponder6));
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendNsTest, ::testing::Values("nftables", "iptables"),
                         [](const auto& info) { return info.param; });

TEST_F(FirewallNsTest, FactoryPicksABackend) {
  auto fw = inNetns(a_, [] { return makeFirewall("auto"); });
  ASSERT_TRUE(fw.ok()) << fw.status();
  EXPECT_EQ((*fw)->backend(), "nftables");
  auto ipt = makeFirewall("iptables");
  ASSERT_TRUE(ipt.ok());
  EXPECT_EQ((*ipt)->backend(), "iptables");
  EXPECT_EQ(makeFirewall("pf").status().code(), absl::StatusCode::kInvalidArgument);
  auto digest = inNetns(a_, [&] { return (*fw)->rulesetDigest(); });
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->size(), 64u);
}
}  // namespace
}  // namespace warden::testing
