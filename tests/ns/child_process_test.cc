// The agent's one child-process runner (agent/os/linux/child_process.h) against real children:
// a descriptor the parent holds without O_CLOEXEC never reaches the child (it lists its own
// /proc/self/fd), the child's environment is exactly the fixed one whatever the agent's own
// holds, a child outliving its deadline is killed together with its process group, output past
// the cap is cut (or ends the run) while the total it wrote is still known, and stdin input
// reaches the child. Needs no privileges.
#include "agent/os/linux/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace warden::linux_os {
namespace {

std::vector<std::string> lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(ChildProcessTest, ParentDescriptorsWithoutCloexecDoNotReachTheChild) {
  // One descriptor without O_CLOEXEC, as a library or another thread of the agent might leave.
  const int leaked = ::open("/etc/hostname", O_RDONLY);
  ASSERT_GE(leaked, 0);
  ASSERT_GE(::dup2(leaked, 200), 0);
  ::close(leaked);
  ASSERT_EQ(::fcntl(200, F_GETFD) & FD_CLOEXEC, 0);

  // The child lists its own descriptors: ls -l /proc/self/fd, which shows the directory ls
  // itself is reading as one more.
  ChildSpec spec;
  spec.argv = {"/bin/ls", "-l", "/proc/self/fd"};
  auto run = runChild(spec);
  ::close(200);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->err;
  std::set<std::string> fds;
  for (const std::string& l : lines(run->out)) {
    const std::size_t arrow = l.find(" -> ");
    if (arrow == std::string::npos) continue;  // "total 0"
    const std::string name =
        l.substr(l.rfind(' ', arrow - 1) + 1, arrow - l.rfind(' ', arrow - 1) - 1);
    const std::string target = l.substr(arrow + 4);
    EXPECT_NE(target, "/etc/hostname") << run->out;
    if (target.starts_with("/proc/") && target.ends_with("/fd")) continue;  // ls's own listing
    fds.insert(name);
  }
  EXPECT_EQ(fds, (std::set<std::string>{"0", "1", "2"})) << run->out;
}

TEST(ChildProcessTest, TheEnvironmentIsExactlyTheFixedOne) {
  ASSERT_EQ(::setenv("WARDEN_TEST_SECRET", "must-not-leak", 1), 0);
  ASSERT_EQ(::setenv("LD_PRELOAD", "/nonexistent.so", 1), 0);
  ChildSpec spec;
  spec.argv = {"/usr/bin/env"};
  auto run = runChild(spec);
  ::unsetenv("WARDEN_TEST_SECRET");
  ::unsetenv("LD_PRELOAD");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0) << run->err;
  EXPECT_EQ(lines(run->out), childEnvironment());
  EXPECT_EQ(childEnvironment(), (std::vector<std::string>{"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                                          "LC_ALL=C", "SYSTEMD_PAGER="}));
}

TEST(ChildProcessTest, AChildOutlivingTheDeadlineIsKilledWithItsProcessGroup) {
  // Orphans come to this process, so the grandchild's end can be waited for and seen.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  ChildSpec spec;
  // A grandchild in the background (it keeps no pipe open: its output goes to /dev/null), and
  // the child itself waiting forever.
  spec.argv = {"/bin/sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!; exec sleep 1000"};
  spec.timeout = absl::Milliseconds(500);
  const absl::Time start = absl::Now();
  auto run = runChild(spec);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->timed_out);
  EXPECT_EQ(run->exit_code, 128 + SIGKILL);
  EXPECT_NE(run->killed.find("did not finish within 500ms"), std::string::npos) << run->killed;
  EXPECT_LT(took, absl::Seconds(5));

  pid_t grandchild = 0;
  ASSERT_TRUE(absl::SimpleAtoi(lines(run->out).at(0), &grandchild)) << run->out;
  int status = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 500 && reaped == 0; ++i) {
    reaped = ::waitpid(grandchild, &status, WNOHANG);
    if (reaped == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (reaped == 0) ::kill(grandchild, SIGKILL);  // do not leave it behind
  ASSERT_EQ(reaped, grandchild) << "the grandchild in the child's process group is still running";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  // runTool says the same as an error.
  auto tool = runTool({"/bin/sleep", "1000"}, "", absl::Milliseconds(200));
  EXPECT_EQ(tool.status().code(), absl::StatusCode::kDeadlineExceeded) << tool.status();
}

TEST(ChildProcessTest, OutputPastTheCapIsCutAndItsTotalStillKnown) {
  ChildSpec spec;
  spec.argv = {"/bin/sh", "-c", "head -c 300000 /dev/zero; echo done >&2"};
  spec.max_stdout = 1000;
  spec.overflow = ChildSpec::Overflow::kCut;
  auto run = runChild(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->exit_code, 0);
  EXPECT_EQ(run->out, std::string(1000, '\0'));
  EXPECT_EQ(run->stdout_bytes, 300000u);
  EXPECT_TRUE(run->stdout_cut);
  EXPECT_EQ(run->err, "done\n");
  EXPECT_TRUE(run->killed.empty()) << run->killed;

  // The same stream into a sink.
  std::string sunk;
  spec.on_stdout = [&](std::string_view piece) {
    sunk.append(piece);
    return true;
  };
  run = runChild(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(sunk.size(), 1000u);
  EXPECT_TRUE(run->out.empty());
  EXPECT_EQ(run->stdout_bytes, 300000u);

  // kKill: past the cap, the run ends.
  spec.on_stdout = nullptr;
  spec.overflow = ChildSpec::Overflow::kKill;
  spec.argv = {"/bin/sh", "-c", "exec head -c 300000 /dev/zero"};
  run = runChild(spec);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_TRUE(run->stdout_cut);
  EXPECT_NE(run->killed.find("wrote more than 1000 bytes"), std::string::npos) << run->killed;
  EXPECT_LE(run->out.size(), 1000u);
}

TEST(ChildProcessTest, InputReachesTheChildAndAMissingProgramIsAnError) {
  const std::string input(200000, 'x');
  auto tool = runTool({"/usr/bin/wc", "-c"}, input, absl::Seconds(10));
  ASSERT_TRUE(tool.ok()) << tool.status();
  EXPECT_EQ(tool->exit_code, 0);
  EXPECT_EQ(tool->out, "200000\n");

  auto missing = runTool({"/nonexistent/tool"}, "", absl::Seconds(10));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  EXPECT_NE(missing.status().message().find("Failed to run /nonexistent/tool"), std::string::npos)
      << missing.status();
}

}  // namespace
}  // namespace warden::linux_os
