// End to end: how `warden image` moves the bytes (image_deployment.h). On a terminal it draws
// the transfer; killed part way (the agent, or the controller), a transfer resumes from what
// the controller holds and completes with the right hash.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/e2e/image_deployment.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

// On a terminal, `warden image` draws the transfer: percentage, bytes, rate and time left.
TEST_F(ImageTest, ProgressOnATerminal) {
  ASSERT_NO_FATAL_FAILURE(attach(16 << 20, 3));
  // script(1) gives the CLI a pseudo-terminal; its output is what the operator would see.
  const std::string command = absl::StrFormat("%s --profile %s image host-42 %s --rate 8",
                                              wardenBinary("warden"), d_->profile(), loop_.device);
  auto r = d_->controllerHost().exec({"script", "-qfec", command, "/dev/null"}, absl::Seconds(120));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
  EXPECT_NE(r->out.find("MB/s"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("ETA "), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("/ 16.0 MiB"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("sha256 " + loop_.sha256), std::string::npos) << r->out;
}

// The agent is killed part way through a rate-limited transfer and started again: the image
// completes with the right hash, resumed from what the controller held, and nothing beyond the
// chunk in flight crossed the network twice.
TEST_F(ImageTest, KilledAgentResumesWhereTheControllerStands) {
  ASSERT_NO_FATAL_FAILURE(attach(32 << 20, 7));
  std::unique_ptr<Process> cli_process;
  ASSERT_NO_FATAL_FAILURE(startSlowImage(cli_process));
  ASSERT_TRUE(d_->killAgent("host-42", SIGKILL).ok());
  ASSERT_TRUE(d_->startAgent("host-42").ok());
  auto ended = cli_process->wait(absl::Seconds(120));
  ASSERT_TRUE(ended.ok()) << ended.status();
  const std::string out = cli_process->output();
  ASSERT_EQ(ended->exit_code, 0) << out << d_->agentLog("host-42") << d_->controllerLog();
  const std::string id = jsonString(out, "evidence_ids");
  EXPECT_EQ(jsonString(out, id + ".controller_sha256"), loop_.sha256) << out;
  const std::string resumed = jsonString(out, id + ".resumed_from");
  EXPECT_NE(resumed, "0") << "it resumed where the controller stood: " << out;
  EXPECT_FALSE(resumed.empty()) << out;

  RunResult show = cli({"evidence", "show", id, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  const std::uint64_t size = 32 << 20;
  const std::uint64_t wire = std::stoull("0" + jsonNumber(show.out, "wire_bytes"));
  EXPECT_GE(std::stoi("0" + jsonNumber(show.out, "streams")), 2) << show.out;
  EXPECT_GE(wire, size) << show.out;
  EXPECT_LE(wire, size + (1 << 20)) << "re-sent more than the chunk in flight: " << show.out;
  EXPECT_EQ(cli({"evidence", "verify", id}).exit_code, 0);
}

// The controller restarts in the middle of a transfer: the agent finds where the new process
// stands and finishes; the operator follows the action with `warden action`.
TEST_F(ImageTest, ControllerRestartMidTransferResumes) {
  ASSERT_NO_FATAL_FAILURE(attach(32 << 20, 11));
  std::unique_ptr<Process> cli_process;
  ASSERT_NO_FATAL_FAILURE(startSlowImage(cli_process));
  ASSERT_TRUE(d_->restartController().ok()) << d_->controllerLog();
  (void)cli_process->wait(absl::Seconds(30));
  // The action, from the controller's list.
  std::string action_id;
  for (int i = 0; i < 100 && action_id.empty(); ++i) {
    RunResult actions = cli({"actions", "--host", "host-42", "--json"});
    action_id = jsonString(jsonObjectWith(actions.out, "kind", "image"), "id");
    if (action_id.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(action_id.empty());
  std::string state, shown;
  for (int i = 0; i < 600 && (state.empty() || state == "queued" || state == "delivered"); ++i) {
    RunResult a = cli({"action", action_id, "--json"});
    state = jsonString(a.out, "state");
    shown = a.out;
    if (state == "queued" || state == "delivered") absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(state, "succeeded") << shown << d_->agentLog("host-42") << d_->controllerLog();
  const std::string id = action_id + "-1";
  EXPECT_EQ(jsonString(shown, id + ".controller_sha256"), loop_.sha256) << shown;
  EXPECT_NE(jsonString(shown, id + ".resumed_from"), "0") << shown;
  EXPECT_EQ(cli({"evidence", "verify", id}).exit_code, 0);
}
}  // namespace
}  // namespace warden::testing
