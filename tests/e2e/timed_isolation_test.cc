// End to end: `warden isolate --for DURATION` ends by itself. The agent keeps the deadline and
// releases when it passes with the controller stopped, reports the release (signed with its
// key) when the controller is back, the controller logs it once and shows the host released,
// and the exported log verifies. A deadline that passed while the agent was down is not put
// back at restore. Bad durations are exit 2 with nothing dispatched.
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/json_lookup.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

class TimedIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto d = WardenDeployment::create(absl::StrFormat("tiso%d", getpid() % 100000),
                                      {{"host-41", 41}, {"host-42", 42}});
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    ASSERT_TRUE(d_->enroll("host-42").ok());
    // Heartbeats every second: the host's health (its rules as the controller expects them) is
    // judged quickly.
    ASSERT_TRUE(d_->startAgent("host-42", {"--heartbeat-interval", "1"}).ok())
        << d_->agentLog("host-42");
    auto server = TcpEchoServer::start(d_->host("host-42"));
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
    ASSERT_TRUE(reachable());
  }

  bool reachable() {
    return tcpConnect(d_->host("host-41"), d_->host("host-42").ipv4(), server_->port(),
                      absl::Milliseconds(500));
  }

  // Waits (bounded) until the host is reachable again.
  bool waitReachable(absl::Duration limit) {
    const absl::Time until = absl::Now() + limit;
    while (absl::Now() < until) {
      if (reachable()) return true;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return reachable();
  }

  int logged(const std::string& type) {
    RunResult r = d_->cliResult({"audit", "show", "--last", "0", "--json"});
    int n = 0;
    for (std::size_t at = 0; (at = r.out.find("\"" + type + "\"", at)) != std::string::npos; ++at) {
      ++n;
    }
    return n;
  }

  // The rules the agent reported after releasing are what the controller expects: over a few
  // heartbeats the host stays healthy, never "tampered".
  void expectHealthy() {
    std::string health;
    for (int i = 0; i < 24; ++i) {
      auto j = d_->hostJson("host-42");
      if (j.ok()) health = jsonString(*j, "health");
      EXPECT_NE(health, "tampered") << (j.ok() ? *j : "");
      absl::SleepFor(absl::Milliseconds(250));
    }
    EXPECT_EQ(health, "healthy");
  }

  std::unique_ptr<WardenDeployment> d_;
  std::unique_ptr<TcpEchoServer> server_;
};

TEST_F(TimedIsolationTest, EndsOnTimeWithTheControllerStoppedAndIsReportedOnReconnect) {
  RunResult iso = d_->cliResult({"isolate", "host-42", "--for", "8s", "--json"});
  ASSERT_EQ(iso.exit_code, 0) << iso.out << iso.err;
  EXPECT_NE(iso.out.find("releases itself at"), std::string::npos) << iso.out;
  const std::string action = jsonString(iso.out, "id");
  ASSERT_FALSE(action.empty()) << iso.out;
  // The deadline the agent set (its clock is this machine's), from the signed receipt.
  const std::int64_t release_at = std::atoll(jsonString(iso.out, "release_at_unix_ms").c_str());
  ASSERT_GT(release_at, 0) << iso.out;
  EXPECT_FALSE(reachable());
  ASSERT_TRUE(d_->stopController().ok());

  // Released by the agent alone at its deadline (bounded: 30 s).
  ASSERT_TRUE(waitReachable(absl::Seconds(30))) << d_->agentLog("host-42");
  EXPECT_GE(absl::ToUnixMillis(absl::Now()), release_at) << "released before its time";
  EXPECT_NE(d_->agentLog("host-42").find("ran out at its deadline"), std::string::npos);

  // The controller hears of it when the agent reconnects, and logs it once.
  ASSERT_TRUE(d_->restartController().ok());
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    auto j = d_->hostJson("host-42");
    seen = j.ok() && j->find("\"containment\": \"none\"") != std::string::npos &&
           logged("agent-release") == 1;
    if (!seen) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(seen) << d_->controllerLog() << d_->agentLog("host-42");
  expectHealthy();
  // Acknowledged: a later reconnection does not send it again.
  ASSERT_TRUE(d_->restartController().ok());
  ASSERT_TRUE(d_->waitConnected("host-42", true).ok());
  expectHealthy();
  EXPECT_EQ(logged("agent-release"), 1);
  EXPECT_TRUE(reachable());

  // In the host's timeline, tied to its isolation.
  const std::string timeline = d_->controllerHost().dir() + "/host-42.jsonl";
  RunResult t = d_->cliResult(
      {"timeline", "export", "--host", "host-42", "--format", "jsonl", "--out", timeline});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  auto text = d_->controllerHost().readFile(timeline);
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("warden:action:agent-release"), std::string::npos) << *text;
  EXPECT_NE(text->find(action), std::string::npos) << *text;

  const std::string log = d_->controllerHost().dir() + "/log.json";
  ASSERT_EQ(d_->cliResult({"audit", "export", "--out", log}).exit_code, 0);
  RunResult verified = d_->cliResult({"audit", "verify", log});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

TEST_F(TimedIsolationTest, ADeadlinePassedWhileTheAgentWasDownIsNotPutBack) {
  RunResult iso = d_->cliResult({"isolate", "host-42", "--for", "10s", "--json"});
  ASSERT_EQ(iso.exit_code, 0) << iso.out << iso.err;
  const std::int64_t release_at = std::atoll(jsonString(iso.out, "release_at_unix_ms").c_str());
  ASSERT_GT(release_at, 0) << iso.out;
  ASSERT_TRUE(d_->killAgent("host-42", SIGKILL).ok());
  EXPECT_FALSE(reachable()) << "the rules outlive the agent";
  absl::SleepFor(absl::FromUnixMillis(release_at + 1000) - absl::Now());
  EXPECT_FALSE(reachable()) << "nobody released it yet";
  ASSERT_TRUE(d_->startAgent("host-42", {"--heartbeat-interval", "1"}).ok())
      << d_->agentLog("host-42");
  EXPECT_TRUE(waitReachable(absl::Seconds(10))) << d_->agentLog("host-42");
  bool seen = false;
  for (int i = 0; i < 50 && !seen; ++i) {
    seen = logged("agent-release") == 1;
    if (!seen) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(seen) << d_->controllerLog();
  // The controller ran all along: it now expects the rules the agent reported after releasing.
  expectHealthy();
}

TEST_F(TimedIsolationTest, APlainIsolationOrAReleaseClearsTheDeadline) {
  // isolate --for, then `then` before its deadline: past the deadline the host is still
  // isolated and no timed release was made.
  const auto deadlineDoesNotHold = [&](const std::vector<std::vector<std::string>>& then) {
    RunResult timed = d_->cliResult({"isolate", "host-42", "--for", "15s", "--json"});
    ASSERT_EQ(timed.exit_code, 0) << timed.out << timed.err;
    const std::int64_t release_at = std::atoll(jsonString(timed.out, "release_at_unix_ms").c_str());
    ASSERT_GT(release_at, 0) << timed.out;
    for (const auto& args : then) ASSERT_EQ(d_->cliResult(args).exit_code, 0);
    ASSERT_LT(absl::ToUnixMillis(absl::Now()), release_at) << "too slow to test this";
    absl::SleepFor(absl::FromUnixMillis(release_at + 3000) - absl::Now());
    EXPECT_FALSE(reachable()) << d_->agentLog("host-42");
    EXPECT_EQ(logged("agent-release"), 0);
  };
  deadlineDoesNotHold({{"isolate", "host-42"}});
  ASSERT_EQ(d_->cliResult({"release", "host-42"}).exit_code, 0);
  EXPECT_TRUE(reachable());
  deadlineDoesNotHold({{"release", "host-42"}, {"isolate", "host-42"}});
}

TEST_F(TimedIsolationTest, BadDurationsAreRefusedBeforeDispatch) {
  for (const char* bad : {"0s", "-5m", "500ms", "31d", "soon"}) {
    RunResult r = d_->cliResult({"isolate", "host-42", "--for", bad});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.out << r.err;
  }
  RunResult actions = d_->cliResult({"actions", "--json"});
  ASSERT_EQ(actions.exit_code, 0) << actions.err;
  EXPECT_EQ(actions.out.find("isolate"), std::string::npos) << actions.out;
  EXPECT_TRUE(reachable());
}

}  // namespace
}  // namespace warden::testing
