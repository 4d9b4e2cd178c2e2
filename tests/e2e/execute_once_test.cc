// End to end: a command is executed once, across a crash too. The agent dies after acting on a
// command and before answering it (WARDEN_FAULT_INJECT=exit-before-receipt:KIND, the point a
// real crash hurts most: the side effect happened, nobody knows). Restarted, it is delivered
// the command again and answers `interrupted` with what the host shows now, instead of running
// it a second time blind; the CLI exits 1 and the audit log still verifies.
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

class ExecuteOnceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto d = WardenDeployment::create(absl::StrFormat("once%d", getpid() % 100000),
                                      {{"host-41", 41}, {"host-42", 42}});
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    ASSERT_TRUE(d_->enroll("host-42").ok());
  }
  void TearDown() override { d_.reset(); }

  RunResult warden(const std::vector<std::string>& args) { return d_->cliResult(args); }

  // Starts the agent so that it dies after acting on `kind` and before its receipt; sends the
  // command and returns its action id once the agent is gone.
  std::string crashDuring(const std::vector<std::string>& command, const std::string& kind) {
    EXPECT_TRUE(
        d_->startAgent("host-42", {}, {"env", "WARDEN_FAULT_INJECT=exit-before-receipt:" + kind})
            .ok())
        << d_->agentLog("host-42");
    std::vector<std::string> args = command;
    args.insert(args.end(), {"--no-wait", "--json"});
    RunResult sent = warden(args);
    EXPECT_EQ(sent.exit_code, 4) << sent.out << sent.err;
    EXPECT_TRUE(d_->waitConnected("host-42", false).ok()) << d_->agentLog("host-42");
    return jsonString(sent.out, "id");
  }

  // Polls `warden action ID --json` (bounded) until the action is over; returns the last answer.
  RunResult waitOver(const std::string& id) {
    RunResult r;
    for (int i = 0; i < 100; ++i) {
      r = warden({"action", id, "--json"});
      const std::string state = jsonString(r.out, "state");
      if (state != "queued" && state != "delivered" && !state.empty()) break;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return r;
  }

  std::unique_ptr<WardenDeployment> d_;
};

TEST_F(ExecuteOnceTest, IsolateCutShortBeforeItsReceiptIsAnsweredInterruptedNotRunAgain) {
  const std::string id = crashDuring({"isolate", "host-42"}, "isolate");
  ASSERT_FALSE(id.empty());
  // The isolation took effect before the crash, and the restarted agent restores it.
  ASSERT_TRUE(d_->startAgent("host-42").ok()) << d_->agentLog("host-42");
  RunResult over = waitOver(id);
  EXPECT_EQ(jsonString(over.out, "state"), "interrupted") << over.out;
  EXPECT_EQ(jsonString(over.out, "now_isolated"), "yes") << over.out;
  EXPECT_NE(over.out.find("not run again"), std::string::npos) << over.out;
  EXPECT_NE(over.out.find("\"receipt_verified\": true"), std::string::npos) << over.out;
  EXPECT_EQ(warden({"action", id}).exit_code, 1);
  EXPECT_NE(d_->agentLog("host-42").find("was interrupted by an agent restart"), std::string::npos)
      << d_->agentLog("host-42");
  // An interrupted isolate changes nothing the registry believes; a new one is done normally.
  RunResult again = warden({"isolate", "host-42", "--json"});
  EXPECT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_EQ(jsonString(again.out, "state"), "succeeded") << again.out;
}

TEST_F(ExecuteOnceTest, ReleaseCutShortIsAnsweredWithTheHostsStateAndTheLogVerifies) {
  ASSERT_TRUE(d_->startAgent("host-42").ok()) << d_->agentLog("host-42");
  ASSERT_EQ(warden({"isolate", "host-42"}).exit_code, 0);
  ASSERT_TRUE(d_->killAgent("host-42", SIGTERM).ok());
  const std::string id = crashDuring({"release", "host-42"}, "release");
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(d_->startAgent("host-42").ok()) << d_->agentLog("host-42");
  RunResult over = waitOver(id);
  EXPECT_EQ(jsonString(over.out, "state"), "interrupted") << over.out;
  EXPECT_EQ(jsonString(over.out, "now_isolated"), "no") << over.out;
  // The interrupted receipt is an ordinary signed, logged answer: the log verifies offline.
  const std::string path = d_->controllerHost().dir() + "/export";
  RunResult exported = warden({"audit", "export", "--out", path});
  ASSERT_EQ(exported.exit_code, 0) << exported.out << exported.err;
  RunResult verified = warden({"audit", "verify", path, "--vkey", d_->dataDir() + "/log.vkey"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

}  // namespace
}  // namespace warden::testing
