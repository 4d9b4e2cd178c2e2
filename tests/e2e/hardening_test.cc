// End to end: the agent runs confined (DESIGN "The hostile host") and everything still works.
// The agent process is under its seccomp filter with no_new_privs; isolation, sessions and a
// triage collection (which runs the host's own tools as children, inheriting the filter) all
// succeed without a single denied call; and only the address that completed TLS as the
// controller is pinned into the isolation rules.
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

std::string statusLine(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, field + ":")) return line;
  }
  return "";
}

TEST(HardeningTest, TheAgentRunsUnderItsFilterAndEveryActionStillWorks) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto d = WardenDeployment::create(absl::StrFormat("hrd%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(d.ok()) << d.status();
  WardenDeployment& w = **d;
  ASSERT_TRUE(w.enroll("host-42").ok());
  ASSERT_TRUE(w.startAgent("host-42").ok()) << w.agentLog("host-42");

  const pid_t agent = w.agentPid("host-42");
  ASSERT_GT(agent, 0);
  EXPECT_EQ(statusLine(agent, "Seccomp"), "Seccomp:\t2") << "filter mode";
  EXPECT_EQ(statusLine(agent, "NoNewPrivs"), "NoNewPrivs:\t1");

  RunResult iso = w.cliResult({"isolate", "host-42"});
  ASSERT_EQ(iso.exit_code, 0) << iso.out << iso.err << w.agentLog("host-42");
  // The controller's address as the TLS connection saw it, and no other address, is open.
  auto rules = w.host("host-42").exec({"nft", "list", "table", "inet", "warden"});
  ASSERT_TRUE(rules.ok());
  EXPECT_TRUE(absl::StrContains(rules->out, "controller-out 198.18.0.1:7443")) << rules->out;
  std::size_t controller_rules = 0;
  for (std::size_t p = rules->out.find("warden:controller-out"); p != std::string::npos;
       p = rules->out.find("warden:controller-out", p + 1)) {
    ++controller_rules;
  }
  EXPECT_EQ(controller_rules, 1u) << rules->out;
  // Root on the host flushes the whole ruleset: the agent's owned copy keeps the host
  // isolated at once (no gap), and the agent puts the plain table back by itself.
  TestHost& host = w.host("host-42");
  auto echo = TcpEchoServer::start(host);
  ASSERT_TRUE(echo.ok()) << echo.status();
  EXPECT_EQ(tcpProbe(w.controllerHost(), host.ipv4(), (*echo)->port(), absl::Seconds(1)),
            ConnectOutcome::kTimedOut);
  auto flush = host.exec({"nft", "flush", "ruleset"});
  ASSERT_TRUE(flush.ok());
  ASSERT_EQ(flush->exit_code, 0) << flush->err;
  EXPECT_EQ(tcpProbe(w.controllerHost(), host.ipv4(), (*echo)->port(), absl::Seconds(1)),
            ConnectOutcome::kTimedOut)
      << "the flush opened a gap";
  bool restored = false;
  for (int i = 0; i < 50 && !restored; ++i) {
    auto tables = host.exec({"nft", "list", "tables"});
    restored = tables.ok() && absl::StrContains(tables->out, "table inet warden\n");
    if (!restored) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(restored) << "the agent did not re-apply the plain table" << w.agentLog("host-42");
  EXPECT_EQ((*echo)->accepted(), 0);

  auto netdev = w.host("host-42").exec({"nft", "list", "table", "netdev", "warden"});
  ASSERT_TRUE(netdev.ok());
  EXPECT_TRUE(absl::StrContains(netdev->out, "hook egress")) << netdev->out << netdev->err;

  RunResult sessions = w.cliResult({"sessions", "host-42"});
  EXPECT_EQ(sessions.exit_code, 0) << sessions.out << sessions.err;
  auto collect = w.cli({"collect", "host-42", "--json"}, absl::Seconds(300));
  ASSERT_TRUE(collect.ok());
  EXPECT_EQ(collect->exit_code, 0) << collect->out << collect->err;
  RunResult release = w.cliResult({"release", "host-42"});
  EXPECT_EQ(release.exit_code, 0) << release.out << release.err;

  const std::string log = w.agentLog("host-42");
  EXPECT_FALSE(absl::StrContains(log, "seccomp: denied")) << log;
  EXPECT_EQ(statusLine(agent, "Seccomp"), "Seccomp:\t2") << "the same agent, still filtered";
}

}  // namespace
}  // namespace warden::testing
