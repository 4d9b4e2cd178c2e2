// How the harness starts a child (run(), Process, startDetached() and runInteractive() in
// process.h): the command is forked and exec'd with its stdio arranged, and, for a test host,
// through a relay that joins the host's namespaces first. Between fork(2) and execve(2) the
// child makes only async-signal-safe calls, the caller may have threads. The child side
// reports its progress (or the errno of the step that failed) over a close-on-exec pipe, so a
// command that cannot be started is an error, not an exit code. Internal to tests/support.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/unique_fd.h"
#include "tests/support/process.h"

namespace warden::testing {

inline constexpr int kPollRounds = 10'000'000;  // upper bound on poll(2) rounds of any loop

enum class Stdio { kPipes, kLogFile, kInherit };

struct LaunchSpec {
  std::vector<std::string> argv;
  NamespaceTarget target;
  Stdio stdio = Stdio::kPipes;
  int log_fd = -1;                 // Stdio::kLogFile
  bool new_session = true;         // setsid(2): own session and process group
  bool detach = false;             // the relay exits as soon as the command started
  bool ignore_interrupts = false;  // the relay ignores SIGINT and SIGQUIT
};

struct Launched {
  pid_t child = -1;  // our direct child: the command, or the relay that started it
  UniqueFd child_pidfd;
  pid_t command = -1;           // in our PID namespace
  pid_t command_host_pid = -1;  // detached: in the host's PID namespace
  UniqueFd command_pidfd;
  UniqueFd stdin_fd;  // Stdio::kPipes: our ends
  UniqueFd stdout_fd;
  UniqueFd stderr_fd;
};

// Starts spec.argv and returns once it runs (its exec succeeded) or failed to start.
absl::StatusOr<Launched> launch(const LaunchSpec& spec);
// Reaps our child `pidfd` (waitid(2) P_PIDFD); blocks at most 10 s.
absl::StatusOr<ExitStatus> reap(int pidfd);
// Kills the child's process group and the command itself, then reaps the child.
void killLaunched(Launched& l);
// "`argv...`", cut at 200 characters, for error messages.
std::string describe(const std::vector<std::string>& argv);
// A poll(2) timeout for what is left of a wait: at least 0, at most a minute.
int pollMs(absl::Duration d);
// Every signal back to its default disposition and none blocked, as a new program expects.
// Async-signal-safe.
void resetSignals();

}  // namespace warden::testing
