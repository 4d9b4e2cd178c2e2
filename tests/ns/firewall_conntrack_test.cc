// The connection tracker against the real kernel (firewall_namespaces.h): isolating a host
// deletes the tracked flows of everyone but the controller and loopback.
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

using ::warden::linux_os::makeConnectionTracker;
using ::warden::linux_os::makeNftablesFirewall;

TEST_F(FirewallNsTest, ConntrackFlushDeletesAllButAllowedFlows) {
  addPreexistingRules();  // keepme's ct rule turns connection tracking on in A
  std::uint16_t a_port = 0, ctl_port = 0, lo_port = 0;
  hold(listenAll(a_, &a_port));
  hold(listenAll(b_, &ctl_port));
  hold(listenAll(a_, &lo_port));
  ASSERT_TRUE(tcpConnects(b_, kA4, a_port, "", &hold(Fd())));
  ASSERT_TRUE(tcpConnects(b_, kA6, a_port, "", &hold(Fd())));
  ASSERT_TRUE(tcpConnects(a_, kB4, ctl_port, "", &hold(Fd())));
  ASSERT_TRUE(tcpConnects(a_, "127.0.0.1", lo_port, "", &hold(Fd())));
  ASSERT_EQ(conntrackLines(a_, a_port), 2) << "the attacker's flows are tracked";
  ASSERT_EQ(conntrackLines(a_, ctl_port), 1);
  ASSERT_EQ(conntrackLines(a_, lo_port), 1);

  const ContainmentState state = isolatedTo(ctl_port);
  auto fw = makeNftablesFirewall();
  ASSERT_TRUE(apply(*fw, state).ok());
  auto tracker = makeConnectionTracker();
  auto deleted = inNetns(a_, [&] { return tracker->flushExcept(*state.isolation); });
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_GE(*deleted, 2);
  EXPECT_EQ(conntrackLines(a_, a_port), 0) << "the attacker's flows are gone";
  EXPECT_EQ(conntrackLines(a_, ctl_port), 1) << "the controller flow is kept";
  EXPECT_EQ(conntrackLines(a_, lo_port), 1) << "loopback is kept";

  // Nothing tracked in B at all: zero, not an error.
  auto none = inNetns(b_, [&] { return tracker->flushExcept(*state.isolation); });
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);
  EXPECT_TRUE(apply(*fw, ContainmentState{}).ok());
}
}  // namespace
}  // namespace warden::testing
