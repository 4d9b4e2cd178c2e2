// End to end: a receipt always fits the message limit (DESIGN.md "Host actions semantics",
// "The hostile host"). `warden kill-sessions` of 1,000 processes with 4 KiB command lines once
// made a receipt no controller could take, re-sent on every reconnect, blocking every later
// command to the host. Now the agent bounds it before signing: the kill is delivered with its
// lists cut and counted, the processes are dead, the action log verifies with that signed
// receipt in it, and the next command to the host works.
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kHost[] = "host-42";
constexpr int kProcesses = 1000;
constexpr int kCmdlineBytes = 4096;

class ReceiptLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto created =
        WardenDeployment::create(absl::StrFormat("rcl%d", getpid() % 100000), {{kHost, 42}});
    ASSERT_TRUE(created.ok()) << created.status();
    d_ = std::move(*created);
    TestHost& h = d_->host(kHost);
    for (const auto& [file, lines] : std::vector<std::pair<std::string, std::string>>{
             {"/etc/passwd", "mallory:x:1002:1002::/tmp:/bin/bash\n"},
             {"/etc/group", "mallory:x:1002:\n"},
             {"/etc/shadow", "mallory:!:20000::::::\n"}}) {
      auto old = h.readFile(file);
      ASSERT_TRUE(old.ok()) << old.status();
      ASSERT_TRUE(h.writeFile(file, *old + lines).ok());
    }
    ASSERT_TRUE(d_->enroll(kHost).ok());
    ASSERT_TRUE(d_->startAgent(kHost).ok()) << d_->agentLog(kHost);
  }

  int malloryProcesses() {
    auto n = d_->host(kHost).exec({"pgrep", "-c", "-U", "1002"});
    return n.ok() ? std::atoi(n->out.c_str()) : -1;
  }

  std::unique_ptr<WardenDeployment> d_;
};

TEST_F(ReceiptLimitsTest, KillOfThousandLongCommandLinesIsDeliveredBoundedAndHostStaysUsable) {
  TestHost& h = d_->host(kHost);
  // GNU sleep sums its arguments: "sleep 1000 0 0 0 ..." is a 4 KiB command line.
  std::string zeros;
  while (zeros.size() + 11 < kCmdlineBytes) zeros += " 0";
  const std::string script = absl::StrFormat(
      "echo 1002 > /proc/self/loginuid || exit 97; exec setpriv --reuid=1002 --regid=1002 "
      "--clear-groups -- bash -c 'for i in $(seq %d); do sleep 1000%s & done; wait'",
      kProcesses, zeros);
  auto mallory = h.spawn({"sh", "-c", script});
  ASSERT_TRUE(mallory.ok()) << mallory.status();
  const absl::Time end = absl::Now() + absl::Seconds(60);
  while (malloryProcesses() < kProcesses + 1 && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  const int before = malloryProcesses();
  ASSERT_EQ(before, kProcesses + 1) << (*mallory)->output();  // bash and its sleeps
  auto cmdline = h.exec({"sh", "-c",
                         "for p in $(pgrep -U 1002 sleep | head -1); do "
                         "tr '\\0' ' ' < /proc/$p/cmdline | wc -c; done"});
  ASSERT_TRUE(cmdline.ok());
  EXPECT_GE(std::atoi(cmdline->out.c_str()), kCmdlineBytes - 16) << cmdline->out;

  RunResult kill = d_->cliResult({"kill-sessions", kHost, "--user", "mallory"}, absl::Seconds(120));
  ASSERT_EQ(kill.exit_code, 0) << kill.out.substr(0, 2000) << kill.err << d_->agentLog(kHost);
  EXPECT_EQ(malloryProcesses(), 0) << "every process of mallory's is dead";

  // Delivered, cut and counted: "Killed 1001 processes", the listed rows, then the rest counted.
  EXPECT_NE(kill.out.find(absl::StrFormat("Killed %d processes", before)), std::string::npos)
      << kill.out.substr(0, 2000);
  int rows = 0, marked = 0;
  std::uint64_t more = 0;
  for (absl::string_view line : absl::StrSplit(kill.out, '\n', absl::SkipEmpty())) {
    if (line.find("sleep 1000 0 0") != std::string::npos) {
      ++rows;
      marked += line.find("...[truncated: ") != absl::string_view::npos;
      EXPECT_LE(line.size(), 1200u) << "command lines are cut to 1 KiB";
    }
    if (absl::StartsWith(line, "... and ")) {
      std::vector<std::string> words = absl::StrSplit(line, ' ');
      ASSERT_GE(words.size(), 5u);
      EXPECT_EQ(words[4], "processes") << line;
      ASSERT_TRUE(absl::SimpleAtoi(words[2], &more)) << line;
    }
  }
  EXPECT_GT(rows, 100);
  EXPECT_EQ(marked, rows);
  EXPECT_GT(more, 0u) << kill.out.substr(kill.out.size() > 2000 ? kill.out.size() - 2000 : 0);
  // Every process is listed or counted (bash's own command line holds the sleeps' too).
  EXPECT_EQ(static_cast<std::uint64_t>(rows) + more, static_cast<std::uint64_t>(before));
  // What the agent cut, in its own words (the numbers the report quotes).
  const std::string agent_log = d_->agentLog(kHost);
  const auto at = agent_log.find("bounded from ");
  ASSERT_NE(at, std::string::npos) << agent_log;
  std::printf("agent: receipt %s\n", agent_log.substr(at, agent_log.find('\n', at) - at).c_str());

  // The signed receipt that was delivered is the one in the log, and the log verifies.
  const std::string path = d_->controllerHost().dir() + "/receipt-limits.export";
  RunResult exported = d_->cliResult({"audit", "export", "--out", path});
  ASSERT_EQ(exported.exit_code, 0) << exported.out << exported.err;
  RunResult verified =
      d_->cliResult({"audit", "verify", path, "--vkey", d_->dataDir() + "/log.vkey"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_EQ(d_->controllerLog().find("bad-receipt"), std::string::npos) << d_->controllerLog();

  // The host is not blocked: the next command is delivered and answered.
  RunResult isolate = d_->cliResult({"isolate", kHost, "--reason", "after the big kill"});
  EXPECT_EQ(isolate.exit_code, 0) << isolate.out << isolate.err << d_->agentLog(kHost);
  RunResult release = d_->cliResult({"release", kHost});
  EXPECT_EQ(release.exit_code, 0) << release.out << release.err;
}

}  // namespace
}  // namespace warden::testing
