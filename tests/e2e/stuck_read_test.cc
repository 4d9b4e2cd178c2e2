// A hostile process whose executable never finishes reading: /bin/sleep served by a FUSE file
// system (warden-test-eiofs) whose last MiB, past the program, is never answered. Hashing it for
// the kill's evidence sleeps in the kernel for ever, and no signal can wake the reading thread. The
// kill must still finish (the read is given up and the receipt says so) and kill the process; and
// an isolate sent while the kill waits on that read must not wait behind it: its receipt comes
// back first, because containment has a worker of its own.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/json_lookup.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

std::int64_t finishedAt(WardenDeployment& d, const std::string& action_id) {
  RunResult r = d.cliResult({"action", action_id, "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string t = jsonString(r.out, "finished_unix_ms");
  return t.empty() ? -1 : std::stoll(t);
}

TEST(StuckReadTest, AKillWhoseEvidenceHangsFinishesAndNeverHoldsContainment) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("stk%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  TestHost& h = d.host("host-42");

  std::ifstream sleep_bin("/bin/sleep", std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(sleep_bin)),
                      std::istreambuf_iterator<char>());
  ASSERT_FALSE(content.empty());
  // Past the ELF's end: exec never reads it, a hash does. The part that hangs starts 8 MiB
  // further, beyond any readahead of the pages exec maps.
  const std::size_t hang_at = content.size() + (8 << 20);
  content.append((8 << 20) + (1 << 20), '\0');
  const std::string content_path = h.dir() + "/hostile.content";
  std::ofstream(content_path, std::ios::binary) << content;
  const std::string mnt = h.dir() + "/hostile";
  std::filesystem::create_directories(mnt);
  auto fs = h.spawn({wardenBinary("warden-test-eiofs"), mnt, content_path,
                     absl::StrFormat("hang:%d:%d", hang_at, 1 << 20)});
  ASSERT_TRUE(fs.ok()) << fs.status();
  for (int i = 0; i < 100 && (*fs)->output().find("ready") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_NE((*fs)->output().find("ready"), std::string::npos) << (*fs)->output();
  auto victim = h.spawn({mnt + "/disk.img", "600"});
  ASSERT_TRUE(victim.ok()) << victim.status();
  const pid_t pid = (*victim)->hostPid();

  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(d.startAgent("host-42").ok()) << d.agentLog("host-42");

  std::optional<RunResult> kill;
  std::thread killer([&] {
    kill = d.cliResult({"kill-sessions", "host-42", "--pid", std::to_string(pid), "--json"},
                       absl::Seconds(120));
  });
  // The agent is hashing the executable and has reached the part that never answers.
  for (int i = 0; i < 300 && (*fs)->output().find("hung read") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const bool hung = (*fs)->output().find("hung read") != std::string::npos;
  RunResult isolate = d.cliResult({"isolate", "host-42", "--json"}, absl::Seconds(60));
  killer.join();
  ASSERT_TRUE(hung) << (*fs)->output() << d.agentLog("host-42");
  ASSERT_TRUE(kill.has_value());

  EXPECT_EQ(isolate.exit_code, 0) << isolate.out << isolate.err;
  EXPECT_EQ(kill->exit_code, 0) << kill->out << kill->err << d.agentLog("host-42");
  // What the kill could not read is said, not waited for; the rest is recorded.
  EXPECT_TRUE(absl::StrContains(kill->out, "did not finish within 2s")) << kill->out;
  EXPECT_TRUE(absl::StrContains(kill->out, "disk.img")) << kill->out;
  auto ended = (*victim)->wait(absl::Seconds(20));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->term_signal, SIGKILL);

  // Sent while the kill waited on the hung read, the isolate was answered before it.
  const std::int64_t isolated = finishedAt(d, jsonString(isolate.out, "id"));
  const std::int64_t killed = finishedAt(d, jsonString(kill->out, "id"));
  EXPECT_GT(isolated, 0);
  EXPECT_LT(isolated, killed) << isolate.out << kill->out;

  RunResult release = d.cliResult({"release", "host-42"});
  EXPECT_EQ(release.exit_code, 0) << release.out << release.err;
  (void)(*fs)->signal(SIGTERM);
  (void)(*fs)->wait(absl::Seconds(20));
}

}  // namespace
}  // namespace warden::testing
