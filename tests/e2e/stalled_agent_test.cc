// End to end: one host that stops reading (its agent SIGSTOPped) never delays containment of
// the others (each agent stream has its own bounded writer queue), and the controller notices
// the silence: `warden hosts` shows the host unresponsive within 15 s, and healthy again, with
// the queued command carried out, once the agent runs again.
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

// Polls `warden hosts --json` until the host's health is `want`; how long that took, or
// nullopt at `timeout` (then *last holds the host's last entry).
std::optional<absl::Duration> waitHealth(WardenDeployment& d, const std::string& host,
                                         const std::string& want, absl::Duration timeout,
                                         std::string* last) {
  const absl::Time start = absl::Now();
  while (absl::Now() - start < timeout) {
    auto j = d.hostJson(host);
    if (j.ok()) {
      *last = *j;
      if (jsonString(*j, "health") == want) return absl::Now() - start;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  return std::nullopt;
}

TEST(StalledAgentTest, AStoppedAgentDelaysNoOneAndTurnsUnresponsiveThenHealthyAgain) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created = WardenDeployment::create(
      absl::StrFormat("stl%d", getpid() % 100000),
      {{"host-41", 41}, {"host-42", 42}, {"host-43", 43}, {"attacker", 66}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  for (const auto& h : {"host-41", "host-42", "host-43"}) {
    ASSERT_TRUE(d.enroll(h).ok());
    ASSERT_TRUE(d.startAgent(h).ok()) << d.agentLog(h);
  }
  std::string last;
  for (const auto& h : {"host-41", "host-42", "host-43"}) {
    ASSERT_TRUE(waitHealth(d, h, "healthy", absl::Seconds(15), &last)) << last;
  }
  EXPECT_EQ(jsonNumber(last, "heartbeat_interval_ms"), "3000") << last;
  EXPECT_NE(jsonNumber(last, "last_heartbeat_unix_ms"), "0") << last;
  RunResult table = d.cliResult({"hosts"});
  EXPECT_TRUE(absl::StrContains(table.out, "HEALTH")) << table.out;
  EXPECT_TRUE(absl::StrContains(table.out, "healthy")) << table.out;

  TestHost& attacker = d.host("attacker");
  auto attacker_server = TcpEchoServer::start(attacker);
  ASSERT_TRUE(attacker_server.ok());
  auto reaches = [&](const std::string& h) {
    return tcpConnect(d.host(h), attacker.ipv4(), (*attacker_server)->port(), absl::Seconds(1));
  };
  ASSERT_TRUE(reaches("host-41"));
  ASSERT_TRUE(reaches("host-42"));

  const pid_t stalled = d.agentPid("host-43");
  ASSERT_GT(stalled, 0);
  ASSERT_EQ(::kill(stalled, SIGSTOP), 0);
  const absl::Time stopped_at = absl::Now();

  // The fleet-wide block goes to all three; the stopped host cannot answer, so the CLI does
  // not wait for receipts and the test watches the two others' traffic instead.
  const absl::Time block_at = absl::Now();
  RunResult block =
      d.cliResult({"block", attacker.ipv4(), "--all", "--no-wait", "--reason", "C2 server"});
  EXPECT_EQ(block.exit_code, 4) << block.out << block.err;
  bool both_blocked = false;
  while (!both_blocked && absl::Now() - block_at < absl::Seconds(30)) {
    both_blocked = !reaches("host-41") && !reaches("host-42");
    if (!both_blocked) absl::SleepFor(absl::Milliseconds(100));
  }
  const absl::Duration block_took = absl::Now() - block_at;
  EXPECT_TRUE(both_blocked) << d.controllerLog();
  std::printf("block --all with a stopped host: the two others blocked after %.2f s\n",
              absl::ToDoubleSeconds(block_took));

  auto unresponsive = waitHealth(d, "host-43", "unresponsive",
                                 absl::Seconds(15) - (absl::Now() - stopped_at), &last);
  ASSERT_TRUE(unresponsive) << last << d.controllerLog();
  std::printf("stopped agent unresponsive %.2f s after SIGSTOP\n",
              absl::ToDoubleSeconds(absl::Now() - stopped_at));
  EXPECT_TRUE(absl::StrContains(jsonString(last, "health_detail"), "no valid heartbeat")) << last;
  for (const auto& h : {"host-41", "host-42"}) {
    auto j = d.hostJson(h);
    ASSERT_TRUE(j.ok());
    EXPECT_EQ(jsonString(*j, "health"), "healthy") << *j;
  }
  // The watcher that logs changes looks twice a second.
  bool logged = false;
  for (int i = 0; i < 50 && !logged; ++i) {
    logged = absl::StrContains(d.controllerLog(), "host host-43: health healthy -> unresponsive");
    if (!logged) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(logged) << d.controllerLog();

  ASSERT_EQ(::kill(stalled, SIGCONT), 0);
  const absl::Time continued_at = absl::Now();
  ASSERT_TRUE(waitHealth(d, "host-43", "healthy", absl::Seconds(30), &last))
      << last << d.agentLog("host-43");
  std::printf("agent healthy again %.2f s after SIGCONT\n",
              absl::ToDoubleSeconds(absl::Now() - continued_at));
  // The block queued for it while it was stopped is carried out.
  bool blocked = false;
  for (int i = 0; i < 100 && !blocked; ++i) {
    blocked = !reaches("host-43");
    if (!blocked) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(blocked) << d.agentLog("host-43");
}

}  // namespace
}  // namespace warden::testing
