// End to end: `warden shutdown HOST [--reboot|--halt] [--now] --yes` on a namespace test fleet.
// The agent runs inside host-42's PID namespace, so its reboot(2) ends that host's init (SIGINT
// for power off and halt, SIGHUP for restart; see reboot(2)) and nothing else. Proven here: the
// receipt is logged before the host goes down, isolation and account locks survive a reboot
// (`warden-agent restore` at boot), and without --yes nothing is dispatched.
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

constexpr absl::Duration kDownTimeout = absl::Seconds(20);

int countOf(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

class ShutdownTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto d = WardenDeployment::create(absl::StrFormat("shut%d", getpid() % 100000),
                                      {{"host-41", 41}, {"host-42", 42}});
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    ASSERT_TRUE(d_->enroll("host-42").ok());
    ASSERT_TRUE(d_->startAgent("host-42").ok());
  }
  void TearDown() override { d_.reset(); }

  RunResult warden(const std::vector<std::string>& args) { return d_->cliResult(args); }
  TestHost& peer() { return d_->host("host-41"); }
  TestHost& target() { return d_->host("host-42"); }

  // Runs the shutdown, expects exit 0 and returns the action id from the JSON answer.
  std::string shutDown(const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"shutdown", "host-42"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("--json");
    RunResult r = warden(args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\nagent log:\n" << d_->agentLog("host-42");
    EXPECT_EQ(jsonString(r.out, "state"), "succeeded") << r.out;
    return jsonString(r.out, "id");
  }

  // The host's init ended with `sig`, i.e. through reboot(2) inside its PID namespace.
  void expectWentDownWith(int sig) {
    auto status = target().waitForInitExit(kDownTimeout);
    ASSERT_TRUE(status.ok()) << status.status() << "\nagent log:\n" << d_->agentLog("host-42");
    EXPECT_EQ(status->term_signal, sig) << status->toString();
    EXPECT_FALSE(target().up());
    // The agent had the controller's acknowledgement of the receipt before it went down.
    EXPECT_EQ(d_->agentLog("host-42").find("no acknowledgement"), std::string::npos)
        << d_->agentLog("host-42");
  }

  // The controller logged the receipt: the action succeeded with a verified receipt.
  void expectReceiptLogged(const std::string& id) {
    ASSERT_FALSE(id.empty());
    RunResult one = warden({"action", id, "--json"});
    ASSERT_EQ(one.exit_code, 0) << one.err;
    EXPECT_EQ(jsonString(one.out, "kind"), "shutdown") << one.out;
    EXPECT_EQ(jsonString(one.out, "state"), "succeeded") << one.out;
    EXPECT_NE(one.out.find("\"receipt_verified\": true"), std::string::npos) << one.out;
    RunResult all = warden({"actions", "--host", "host-42", "--json"});
    ASSERT_EQ(all.exit_code, 0) << all.err;
    const Json action = jsonObjectWith(all.out, "id", id);
    ASSERT_TRUE(action.is_object()) << all.out;
    EXPECT_EQ(jsonString(action, "state"), "succeeded") << all.out;
  }

  std::unique_ptr<WardenDeployment> d_;
};

TEST_F(ShutdownTest, NowPowersOffAfterTheReceiptIsLogged) {
  ASSERT_TRUE(target().up());
  const std::string id = shutDown({"--now", "--yes"});
  expectWentDownWith(SIGINT);
  expectReceiptLogged(id);
}

TEST_F(ShutdownTest, RebootNowRestarts) {
  const std::string id = shutDown({"--reboot", "--now", "--yes"});
  expectWentDownWith(SIGHUP);
  expectReceiptLogged(id);
}

TEST_F(ShutdownTest, HaltNowHalts) {
  const std::string id = shutDown({"--halt", "--now", "--yes"});
  expectWentDownWith(SIGINT);  // LINUX_REBOOT_CMD_HALT, like POWER_OFF, is SIGINT in a PID ns
  expectReceiptLogged(id);
}

TEST_F(ShutdownTest, WithoutNowAnInitOtherThanSystemdGetsSyncAndReboot) {
  // The test host's PID 1 is warden-test-init, not systemd (even where the real host's
  // /run/systemd/system shows through), so the orderly path is the direct syscall.
  const std::string id = shutDown({"--yes"});
  expectWentDownWith(SIGINT);
  expectReceiptLogged(id);
  RunResult one = warden({"action", id, "--json"});
  EXPECT_NE(one.out.find("init is not systemd"), std::string::npos) << one.out;
}

TEST_F(ShutdownTest, IsolationAndAccountLocksSurviveAReboot) {
  // A lock in /etc/shadow (as lock-accounts leaves it) before the reboot.
  auto shadow = target().readFile("/etc/shadow");
  ASSERT_TRUE(shadow.ok()) << shadow.status();
  const std::string locked = "wardenshutdowntest:!$6$salt$hash:19000:0:99999:7::1:\n";
  ASSERT_TRUE(target().writeFile("/etc/shadow", *shadow + locked).ok());

  RunResult iso = warden({"isolate", "host-42"});
  ASSERT_EQ(iso.exit_code, 0) << iso.out << iso.err;
  const std::string id = shutDown({"--reboot", "--now", "--yes"});
  expectWentDownWith(SIGHUP);
  expectReceiptLogged(id);

  // Power on again: a fresh network namespace with no rules, then the boot-time restore.
  ASSERT_TRUE(target().boot().ok());
  auto server = TcpEchoServer::start(target());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::uint16_t port = (*server)->port();
  ASSERT_TRUE(tcpConnect(peer(), target().ipv4(), port)) << "fresh boot, no rules yet";
  auto restore = target().exec(
      {wardenBinary("warden-agent"), "restore", "--state-dir", d_->agentStateDir("host-42")});
  ASSERT_TRUE(restore.ok()) << restore.status();
  EXPECT_EQ(restore->exit_code, 0) << restore->out << restore->err;
  EXPECT_NE(restore->out.find("restored"), std::string::npos) << restore->out;
  EXPECT_NE(tcpProbe(peer(), target().ipv4(), port, absl::Seconds(2)), ConnectOutcome::kConnected);
  EXPECT_NE(tcpProbe(peer(), target().ipv6(), port, absl::Seconds(2)), ConnectOutcome::kConnected);
  EXPECT_EQ((*server)->accepted(), 1);  // only the probe before restore

  auto after = target().readFile("/etc/shadow");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(after->find(locked), std::string::npos) << *after;
}

TEST_F(ShutdownTest, WithoutYesNothingIsDispatched) {
  const int before = countOf(warden({"actions", "--json"}).out, "\"id\":");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"shutdown", "host-42", "--now"},
        std::vector<std::string>{"shutdown", "host-42", "--reboot"},
        std::vector<std::string>{"shutdown", "host-42"}}) {
    RunResult r = warden(args);
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("--yes"), std::string::npos) << r.err;
  }
  EXPECT_EQ(countOf(warden({"actions", "--json"}).out, "\"id\":"), before);
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_TRUE(target().up());
  EXPECT_FALSE(target().initExitStatus().has_value());
}

}  // namespace
}  // namespace warden::testing
