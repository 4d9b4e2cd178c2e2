// End to end: `warden block ADDR --all` drops traffic between every host and the blocked
// address (both directions, IPv4 and IPv6), reaches hosts that enroll later, survives
// isolate/release, and `unblock --all` lifts it.
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

TEST(BlockTest, FleetWideBlockCoversEveryHostIncludingLateJoinersAndUnblockLiftsIt) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created = WardenDeployment::create(
      absl::StrFormat("blk%d", getpid() % 100000),
      {{"host-41", 41}, {"host-42", 42}, {"host-43", 43}, {"host-44", 44}, {"attacker", 66}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  const std::vector<std::string> fleet = {"host-41", "host-42", "host-43"};
  for (const auto& h : fleet) {
    ASSERT_TRUE(d.enroll(h).ok());
    ASSERT_TRUE(d.startAgent(h).ok());
  }
  TestHost& attacker = d.host("attacker");
  auto attacker_server = TcpEchoServer::start(attacker);
  ASSERT_TRUE(attacker_server.ok());
  std::map<std::string, std::unique_ptr<TcpEchoServer>> servers;
  for (const auto& h : {"host-41", "host-42", "host-43", "host-44"}) {
    auto s = TcpEchoServer::start(d.host(h));
    ASSERT_TRUE(s.ok());
    servers[h] = std::move(*s);
  }
  auto reachable = [&](const std::string& h, const std::string& family) {
    TestHost& host = d.host(h);
    const bool v4 = family == "v4";
    const bool in =
        tcpConnect(attacker, v4 ? host.ipv4() : host.ipv6(), servers[h]->port(), absl::Seconds(1));
    const bool out = tcpConnect(host, v4 ? attacker.ipv4() : attacker.ipv6(),
                                (*attacker_server)->port(), absl::Seconds(1));
    EXPECT_EQ(in, out) << h << " " << family << ": blocks must cut both directions";
    return in || out;
  };
  for (const auto& h : fleet) {
    ASSERT_TRUE(reachable(h, "v4"));
    ASSERT_TRUE(reachable(h, "v6"));
  }

  auto r = d.cli({"block", attacker.ipv4(), attacker.ipv6(), "--all", "--reason", "C2 server"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
  for (const auto& h : fleet) {
    EXPECT_FALSE(reachable(h, "v4")) << h;
    EXPECT_FALSE(reachable(h, "v6")) << h;
  }
  // Not isolation: the hosts still talk to each other.
  EXPECT_TRUE(tcpConnect(d.host("host-41"), d.host("host-42").ipv4(), servers["host-42"]->port()));
  auto listed = d.cli({"blocks"});
  ASSERT_TRUE(listed.ok());
  EXPECT_NE(listed->out.find(attacker.ipv6()), std::string::npos) << listed->out;

  // A host enrolled afterwards gets the block on its first connection.
  ASSERT_TRUE(reachable("host-44", "v4"));
  ASSERT_TRUE(d.enroll("host-44").ok());
  ASSERT_TRUE(d.startAgent("host-44").ok());
  bool blocked = false;
  for (int i = 0; i < 50 && !blocked; ++i) {
    blocked = !reachable("host-44", "v4");
    if (!blocked) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(blocked) << d.agentLog("host-44");
  EXPECT_FALSE(reachable("host-44", "v6"));

  // Isolating and releasing a host keeps its blocks.
  ASSERT_EQ(d.cli({"isolate", "host-42"})->exit_code, 0);
  ASSERT_EQ(d.cli({"release", "host-42"})->exit_code, 0);
  EXPECT_FALSE(reachable("host-42", "v4"));
  EXPECT_TRUE(tcpConnect(d.host("host-41"), d.host("host-42").ipv4(), servers["host-42"]->port()));

  auto u = d.cli({"unblock", attacker.ipv4(), attacker.ipv6(), "--all"});
  ASSERT_TRUE(u.ok());
  ASSERT_EQ(u->exit_code, 0) << u->out << u->err;
  for (const auto& h : {"host-41", "host-42", "host-43", "host-44"}) {
    EXPECT_TRUE(reachable(h, "v4")) << h;
    EXPECT_TRUE(reachable(h, "v6")) << h;
  }
  auto none = d.cli({"blocks"});
  ASSERT_TRUE(none.ok());
  EXPECT_NE(none->out.find("No fleet-wide blocks"), std::string::npos) << none->out;
}

TEST(BlockTest, BadBlocksAreRefusedBeforeDispatch) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("blb%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(d.startAgent("host-42").ok());
  struct Case {
    std::vector<std::string> args;
    const char* why;
  };
  for (const Case& c : std::vector<Case>{
           {{"block", "198.18.0.1", "--all"}, "controller's address"},
           {{"block", "198.18.0.0/16", "--host", "host-42"}, "controller's address"},
           {{"block", "198.18.0.66/40", "--all"}, "invalid prefix length"},
           {{"block", "198.18.0.66"}, "--host HOST"},
           {{"block", "198.18.0.66", "--all", "--host", "host-42"}, "not both"},
           {{"block", "198.18.0.66", "--host", "host-99"}, "unknown host"},
       }) {
    auto r = d.cli(c.args);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 2) << c.why;
    EXPECT_NE(r->err.find(c.why), std::string::npos) << r->err;
  }
  auto actions = d.cli({"actions", "--json"});
  ASSERT_TRUE(actions.ok());
  EXPECT_EQ(actions->out.find("\"kind\": \"block\""), std::string::npos) << actions->out;
}

}  // namespace
}  // namespace warden::testing
