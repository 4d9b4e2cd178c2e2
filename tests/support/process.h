// Child processes for tests: run a command to completion with captured output, or keep one
// running in the background with its output in a log file. Commands are always argv vectors
// handed to execve(2), never a shell. A command can be started inside a test host's
// namespaces (see fleet.h): the harness then forks a small relay that joins the host's
// network, mount, UTS and PID namespaces (setns(2) on the host init's pidfd) and forks the
// command, which thereby becomes a process of the host's PID namespace.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::testing {

// Captured output is cut at this size per stream; the rest is read and dropped so the child
// never blocks on a full pipe.
inline constexpr std::size_t kMaxCapturedOutput = 16u << 20;

// How a process ended: exit_code for a normal exit, term_signal (with exit_code = 128 + signal,
// the shell's convention) when a signal ended it.
struct ExitStatus {
  int exit_code = -1;
  int term_signal = 0;

  bool exited() const { return term_signal == 0 && exit_code >= 0; }
  bool signaled() const { return term_signal != 0; }
  bool success() const { return exited() && exit_code == 0; }
  // "exit 3", "signal 2 (Interrupt)".
  std::string toString() const;
  // From a waitid(2) result (si_code, si_status).
  static ExitStatus fromSiginfo(int code, int status);
};

struct RunResult {
  int exit_code = -1;   // 128 + signal when a signal ended it
  int term_signal = 0;  // 0 unless a signal ended it
  std::string out;
  std::string err;
  bool truncated = false;  // out or err hit kMaxCapturedOutput
};

// Where a command runs. Empty (pidfd < 0): the caller's own namespaces. Otherwise the
// namespaces of the process behind `pidfd` (a test host's init).
struct NamespaceTarget {
  int pidfd = -1;
};

// Runs argv to completion (argv[0] is looked up in PATH unless it contains a '/'), feeding
// `input` on stdin and capturing stdout and stderr. The command gets its own session and
// process group; on timeout the whole group is killed with SIGKILL and DeadlineExceeded is
// returned (its message carries the start of the captured output). A command that cannot be
// started (not found, not executable) is an error, not an exit code.
absl::StatusOr<RunResult> run(const std::vector<std::string>& argv,
                              absl::Duration timeout = absl::Seconds(30),
                              const std::string& input = "");
// Same, inside `target`'s namespaces.
absl::StatusOr<RunResult> runIn(const NamespaceTarget& target, const std::vector<std::string>& argv,
                                absl::Duration timeout, const std::string& input);

// A command running in the background. stdin is /dev/null; stdout and stderr go to one log
// file (appended). The destructor kills it (SIGKILL to the command and to its process group)
// and reaps it, so a failing test leaves nothing behind.
class Process {
 public:
  // `log_path` empty: a fresh file under $TMPDIR (or /tmp), removed by the destructor.
  static absl::StatusOr<std::unique_ptr<Process>> start(const std::vector<std::string>& argv,
                                                        std::string log_path = "",
                                                        const NamespaceTarget& target = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // The command's pid in the harness's PID namespace (use it for kill(1) from outside).
  pid_t pid() const { return pid_; }
  // The command's pid as the host sees it (from NSpid in /proc/PID/status); pid() when the
  // command runs in the caller's PID namespace. 0 once it has been reaped.
  pid_t hostPid() const;
  bool running();
  // Sends `sig` to the command (pidfd_send_signal(2), so never to a recycled pid).
  absl::Status signal(int sig);
  // Waits for the command to end; DeadlineExceeded if it is still running after `timeout`.
  absl::StatusOr<ExitStatus> wait(absl::Duration timeout = absl::Seconds(30));
  // Everything the command wrote so far (stdout and stderr interleaved), at most
  // kMaxCapturedOutput bytes.
  std::string output() const;
  const std::string& logPath() const { return log_path_; }

 private:
  Process() = default;
  void kill();

  pid_t pid_ = -1;        // the command
  int pidfd_ = -1;        // the command
  pid_t relay_pid_ = -1;  // our direct child: the command itself, or its relay into a host
  int relay_pidfd_ = -1;
  bool reaped_ = false;
  ExitStatus status_;
  std::string log_path_;
  bool remove_log_ = false;
};

// Starts argv inside `target` as a daemon: it outlives the caller (its relay exits at once,
// so the host's init becomes its parent and reaps it). Returns its pid in the caller's PID
// namespace. Output is appended to `log_path` ("/dev/null" to drop it).
absl::StatusOr<pid_t> startDetached(const NamespaceTarget& target,
                                    const std::vector<std::string>& argv,
                                    const std::string& log_path);

// Runs argv inside `target` with the caller's stdin, stdout and stderr (a terminal stays a
// terminal, so interactive commands work) and waits for it without a time limit. SIGINT and
// SIGQUIT are ignored by the caller meanwhile, as system(3) does.
absl::StatusOr<ExitStatus> runInteractive(const NamespaceTarget& target,
                                          const std::vector<std::string>& argv);

// What the pipe `fd` yields until EOF, until `deadline`, or (with `first_line`) once a newline
// has arrived: a child's "ok\n" or the error it reports instead.
std::string readReply(int fd, absl::Time deadline, bool first_line);

// Looks argv0 up in PATH the way execvp(3) would; returns it unchanged if it has a '/'.
absl::StatusOr<std::string> findExecutable(const std::string& argv0);

// Waits at most `timeout` for the process behind `pidfd` to end (the pidfd becomes readable);
// false if it still runs then.
bool pidfdEnded(int pidfd, absl::Duration timeout);

// pidfd_open(2) and pidfd_send_signal(2) (glibc 2.36's <sys/pidfd.h> is not C++-safe).
int pidfdOpen(pid_t pid, unsigned flags = 0);
int pidfdSendSignal(int pidfd, int sig);

// The start time of a process (field 22 of /proc/PID/stat, in clock ticks since boot), or 0
// if there is no such process or it has ended (a zombie). Pid plus start time names a process
// without the risk of pid reuse.
unsigned long long processStartTime(pid_t pid);

}  // namespace warden::testing
