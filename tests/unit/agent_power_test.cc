// agent/actions/power.cc with a fake Power: which path a shutdown takes, that nothing happens
// before the receipt is acknowledged (after_ack), and that bad input changes nothing. The real
// Power (reboot(2)) is never used in this process; tests/e2e/shutdown_test.cc proves it inside
// a test host's PID namespace.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "agent/actions/host_actions.h"
#include "agent/actions/power.h"
#include "agent/os/power.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Records every side effect as one string ("sync", "reboot poweroff", "systemctl reboot").
struct PowerLog {
  std::vector<std::string> calls;
};

class FakePower : public Power {
 public:
  FakePower(std::shared_ptr<PowerLog> log, bool systemd, absl::Status orderly_result)
      : log_(std::move(log)), systemd_(systemd), orderly_result_(std::move(orderly_result)) {}
  void sync() override { log_->calls.push_back("sync"); }
  absl::Status reboot(PowerMode mode) override {
    log_->calls.push_back(absl::StrFormat("reboot %s", toString(mode)));
    // The real call does not return on success; a fake that returns looks like a refusal.
    return absl::PermissionDeniedError("fake reboot(2)");
  }
  bool systemdIsInit() override { return systemd_; }
  absl::Status orderlyShutdown(PowerMode mode, absl::Duration timeout) override {
    log_->calls.push_back(absl::StrFormat("systemctl %s", toString(mode)));
    EXPECT_GT(timeout, absl::ZeroDuration());
    return orderly_result_;
  }

 private:
  std::shared_ptr<PowerLog> log_;
  bool systemd_;
  absl::Status orderly_result_;
};

class PowerActionsTest : public ::testing::Test {
 protected:
  std::unique_ptr<PowerActions> actions(bool systemd,
                                        absl::Status orderly_result = absl::OkStatus()) {
    return makePowerActions(std::make_unique<FakePower>(log_, systemd, orderly_result));
  }
  const std::vector<std::string>& calls() const { return log_->calls; }

  std::shared_ptr<PowerLog> log_ = std::make_shared<PowerLog>();
};

TEST_F(PowerActionsTest, NowSyncsThenPowersOffOnlyAfterTheAck) {
  for (bool systemd : {false, true}) {
    log_->calls.clear();
    ActionOutcome outcome = actions(systemd)->shutdown({"mode=poweroff", "now=1"});
    ASSERT_TRUE(outcome.ok) << outcome.message;
    EXPECT_THAT(outcome.message, HasSubstr("sync + reboot(2) LINUX_REBOOT_CMD_POWER_OFF"));
    EXPECT_EQ(outcome.details["mode"], "poweroff");
    EXPECT_EQ(outcome.details["now"], "1");
    EXPECT_EQ(outcome.details["path"], "reboot(2)");
    EXPECT_THAT(calls(), IsEmpty()) << "nothing may happen before the receipt is logged";
    ASSERT_TRUE(outcome.after_ack);
    outcome.after_ack();
    EXPECT_THAT(calls(), ElementsAre("sync", "reboot poweroff"));
  }
}

TEST_F(PowerActionsTest, NowRebootAndHaltUseTheirRebootCommands) {
  ActionOutcome reboot = actions(true)->shutdown({"mode=reboot", "now=1"});
  ASSERT_TRUE(reboot.ok) << reboot.message;
  EXPECT_THAT(reboot.message, HasSubstr("LINUX_REBOOT_CMD_RESTART"));
  ActionOutcome halt = actions(true)->shutdown({"now=1", "mode=halt"});
  ASSERT_TRUE(halt.ok) << halt.message;
  EXPECT_THAT(halt.message, HasSubstr("LINUX_REBOOT_CMD_HALT"));
  EXPECT_THAT(calls(), IsEmpty());
  reboot.after_ack();
  EXPECT_THAT(calls(), ElementsAre("sync", "reboot reboot"));
  log_->calls.clear();
  halt.after_ack();
  EXPECT_THAT(calls(), ElementsAre("sync", "reboot halt"));
}

TEST_F(PowerActionsTest, WithoutNowSystemdGetsTheOrderlyPath) {
  for (const char* mode : {"poweroff", "reboot", "halt"}) {
    log_->calls.clear();
    ActionOutcome outcome =
        actions(/*systemd=*/true)->shutdown({absl::StrFormat("mode=%s", mode), "now=0"});
    ASSERT_TRUE(outcome.ok) << outcome.message;
    EXPECT_THAT(outcome.message, HasSubstr(absl::StrFormat("systemctl %s", mode)));
    EXPECT_EQ(outcome.details["path"], "systemctl");
    EXPECT_THAT(calls(), IsEmpty());
    outcome.after_ack();
    EXPECT_THAT(calls(), ElementsAre(absl::StrFormat("systemctl %s", mode)));
  }
}

TEST_F(PowerActionsTest, WithoutNowAnotherInitGetsSyncAndReboot) {
  ActionOutcome outcome = actions(/*systemd=*/false)->shutdown({"mode=reboot", "now=0"});
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_THAT(outcome.message, HasSubstr("LINUX_REBOOT_CMD_RESTART"));
  EXPECT_THAT(outcome.message, HasSubstr("init is not systemd"));
  EXPECT_EQ(outcome.details["path"], "reboot(2)");
  EXPECT_THAT(calls(), IsEmpty());
  outcome.after_ack();
  EXPECT_THAT(calls(), ElementsAre("sync", "reboot reboot"));
}

TEST_F(PowerActionsTest, FailedSystemctlFallsBackToSyncAndReboot) {
  ActionOutcome outcome =
      actions(/*systemd=*/true, absl::DeadlineExceededError("systemctl hung"))->shutdown({});
  ASSERT_TRUE(outcome.ok) << outcome.message;
  outcome.after_ack();
  EXPECT_THAT(calls(), ElementsAre("systemctl poweroff", "sync", "reboot poweroff"));
}

TEST_F(PowerActionsTest, DefaultsArePowerOffAndNotNow) {
  ActionOutcome outcome = actions(/*systemd=*/false)->shutdown({});
  ASSERT_TRUE(outcome.ok) << outcome.message;
  EXPECT_EQ(outcome.details["mode"], "poweroff");
  EXPECT_EQ(outcome.details["now"], "0");
  EXPECT_THAT(outcome.message, HasSubstr("powering off"));
}

TEST_F(PowerActionsTest, AfterAckOutlivesTheActions) {
  ActionOutcome outcome = actions(false)->shutdown({"mode=halt", "now=1"});
  ASSERT_TRUE(outcome.ok);
  outcome.after_ack();  // the PowerActions is gone; the Power it shared is not
  EXPECT_THAT(calls(), ElementsAre("sync", "reboot halt"));
}

TEST_F(PowerActionsTest, BadInputIsInvalidArgumentAndDoesNothing) {
  const std::vector<std::vector<std::string>> bad = {
      {"mode=suspend"},
      {"mode="},
      {"now=yes"},
      {"now=1", "now=0"},
      {"mode=poweroff", "mode=reboot"},
      {"wipe=1"},
      {"mode"},
      {"MODE=poweroff"},
      {"now=1", "x=y"},
      {"mode=reboot now=1"},
  };
  for (const auto& args : bad) {
    for (bool systemd : {false, true}) {
      ActionOutcome outcome = actions(systemd)->shutdown(args);
      EXPECT_FALSE(outcome.ok) << args.front();
      EXPECT_EQ(outcome.details[kErrorDetail], kInvalidArgument) << args.front();
      EXPECT_THAT(outcome.message, HasSubstr("shutdown"));
      EXPECT_FALSE(outcome.after_ack) << args.front();
    }
  }
  EXPECT_THAT(calls(), IsEmpty());
}

}  // namespace
}  // namespace warden
