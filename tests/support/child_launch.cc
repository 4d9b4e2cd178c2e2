#include "tests/support/child_launch.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

extern char** environ;

namespace warden::testing {
namespace {

// The report pipe carries fixed-size records from the child side to the parent: the
// command's pid (when a relay starts it inside a host) or the errno of a failed step.
enum ReportKind : std::int32_t {
  kCommandPid = 1,
  kFailedSetup = 2,
  kFailedSetns = 3,
  kFailedFork = 4,
  kFailedExec = 5,
  kCommandHostPid = 6,  // a detached command's pid in the host's PID namespace
};
struct Report {
  std::int32_t kind;
  std::int32_t value;
};

// Fixed descriptor slots in the child after it has arranged its stdio.
constexpr int kReportFd = 3;
constexpr int kNamespaceFd = 4;
// How long the child side may take to exec (or report why it could not).
constexpr absl::Duration kStartTimeout = absl::Seconds(10);
constexpr absl::Duration kReapTimeout = absl::Seconds(10);

// Everything the child needs, prepared before fork(2): after it, the child of a
// multi-threaded process may only make async-signal-safe calls.
struct ChildPlan {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int in_fd = -1;  // -1: keep the inherited descriptor
  int out_fd = -1;
  int err_fd = -1;
  int report_fd = -1;
  int ns_pidfd = -1;
  bool new_session = true;
  bool detach = false;
  bool ignore_interrupts = false;
};

void writeReport(int fd, std::int32_t kind, std::int32_t value) {
  const Report report{kind, value};
  // A record is smaller than PIPE_BUF, so the write is atomic; if it fails there is no one
  // left to tell.
  [[maybe_unused]] ssize_t n = ::write(fd, &report, sizeof(report));
}

[[noreturn]] void failChild(std::int32_t kind) {
  writeReport(kReportFd, kind, errno);
  _exit(127);
}

[[noreturn]] void execCommand(const ChildPlan& plan) {
  resetSignals();
  ::execve(plan.path, plan.argv, plan.envp);
  failChild(kFailedExec);
}

// Moves `fd` out of the way of the slots 0..kNamespaceFd.
int lift(int fd) { return fd < 0 ? -1 : ::fcntl(fd, F_DUPFD_CLOEXEC, 10); }

[[noreturn]] void childMain(const ChildPlan& plan) {
  // Lift every descriptor above the fixed slots before filling any slot, so that filling
  // one never closes another (the caller's pidfd may well be descriptor 3).
  const int report = lift(plan.report_fd);
  const int in = lift(plan.in_fd);
  const int out = lift(plan.out_fd);
  const int err = lift(plan.err_fd);
  const int ns = lift(plan.ns_pidfd);
  if (report < 0 || ::dup3(report, kReportFd, O_CLOEXEC) < 0) _exit(127);
  resetSignals();
  if (plan.new_session && ::setsid() < 0) failChild(kFailedSetup);
  if ((plan.in_fd >= 0 && in < 0) || (plan.out_fd >= 0 && out < 0) ||
      (plan.err_fd >= 0 && err < 0) || (plan.ns_pidfd >= 0 && ns < 0)) {
    failChild(kFailedSetup);
  }
  if ((in >= 0 && ::dup2(in, 0) < 0) || (out >= 0 && ::dup2(out, 1) < 0) ||
      (err >= 0 && ::dup2(err, 2) < 0)) {
    failChild(kFailedSetup);
  }
  if (ns >= 0 && ::dup3(ns, kNamespaceFd, O_CLOEXEC) < 0) failChild(kFailedSetup);
  ::close_range(ns >= 0 ? kNamespaceFd + 1 : kNamespaceFd, ~0U, 0);
  if (ns < 0) execCommand(plan);

  // The relay: join the host's namespaces; joining its PID namespace only takes effect for
  // children (setns(2)), so the command is forked from here.
  if (::setns(kNamespaceFd, CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID) < 0) {
    failChild(kFailedSetns);
  }
  ::close(kNamespaceFd);
  if (::chdir("/") < 0) failChild(kFailedSetup);
  const pid_t command = ::_Fork();
  if (command < 0) failChild(kFailedFork);
  if (command == 0) {
    if (!plan.detach) execCommand(plan);
    // Fork once more and leave: an orphan is adopted by the init of its parent's PID
    // namespace, so the host's init (not the real one) becomes the daemon's parent.
    const pid_t daemon = ::_Fork();
    if (daemon < 0) failChild(kFailedFork);
    if (daemon == 0) {
      if (::setsid() < 0) failChild(kFailedSetup);
      execCommand(plan);
    }
    writeReport(kReportFd, kCommandHostPid, daemon);
    _exit(0);
  }
  if (plan.detach) {
    ::close(kReportFd);
    for (int i = 0; i < kPollRounds; ++i) {
      if (::waitpid(command, nullptr, 0) == command || errno != EINTR) break;
    }
    _exit(0);
  }
  writeReport(kReportFd, kCommandPid, command);
  ::close(kReportFd);
  // Let the command alone hold the stdio pipes, so they reach EOF when it is done.
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::close(devnull);
  }
  if (plan.ignore_interrupts) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGINT, &ignore, nullptr);
    ::sigaction(SIGQUIT, &ignore, nullptr);
  }
  int status = 0;
  for (int i = 0; i < kPollRounds; ++i) {
    const pid_t r = ::waitpid(command, &status, 0);
    if (r == command) break;
    if (r < 0 && errno != EINTR) _exit(127);
  }
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  // Mirror the command's death, so our parent sees what ended it.
  const struct rlimit no_core { 0, 0 };
  ::setrlimit(RLIMIT_CORE, &no_core);
  ::signal(sig, SIG_DFL);
  ::kill(::getpid(), sig);
  _exit(128 + sig);
}

absl::Status childFailure(const Report& report, const std::string& what) {
  switch (report.kind) {
    case kFailedSetup:
      return errnoStatus(report.value, absl::StrCat("Failed to set up the child for ", what));
    case kFailedSetns:
      return errnoStatus(report.value,
                         absl::StrCat("Failed to enter the host's namespaces (setns) for ", what));
    case kFailedFork:
      return errnoStatus(report.value, absl::StrCat("Failed to fork inside the host for ", what));
    default:
      return errnoStatus("exec", what, report.value);
  }
}

// The pid of the host process `host_pid` in our PID namespace: the process in the same PID
// namespace as the process behind `pidfd` whose innermost NSpid is host_pid. 0 if none.
pid_t outerPid(int pidfd, pid_t host_pid) {
  std::ifstream fdinfo(absl::StrCat("/proc/self/fdinfo/", pidfd));
  std::string line;
  long init = 0;
  for (int i = 0; i < 100 && std::getline(fdinfo, line); ++i) {
    if (line.rfind("Pid:", 0) == 0) init = std::strtol(line.c_str() + 4, nullptr, 10);
  }
  struct stat ns {};
  if (init <= 0 || ::stat(absl::StrCat("/proc/", init, "/ns/pid").c_str(), &ns) < 0) return 0;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return 0;
  pid_t found = 0;
  for (int i = 0; i < 1'000'000 && found == 0; ++i) {
    const struct dirent* e = ::readdir(proc);
    if (e == nullptr) break;
    const long pid = std::strtol(e->d_name, nullptr, 10);
    struct stat st {};
    if (pid <= 0 || ::stat(absl::StrCat("/proc/", pid, "/ns/pid").c_str(), &st) < 0 ||
        st.st_ino != ns.st_ino || st.st_dev != ns.st_dev) {
      continue;
    }
    std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
    for (int j = 0; j < 100 && std::getline(status, line); ++j) {
      if (line.rfind("NSpid:", 0) != 0) continue;
      std::vector<std::string> ids = absl::StrSplit(line.substr(6), '\t', absl::SkipEmpty());
      if (!ids.empty() && std::strtol(ids.back().c_str(), nullptr, 10) == host_pid) {
        found = static_cast<pid_t>(pid);
      }
      break;
    }
  }
  ::closedir(proc);
  return found;
}

}  // namespace

void resetSignals() {
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

int pollMs(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d) + 1, 60'000));
}

// Reaps our child `pidfd` (waitid(2) P_PIDFD); blocks at most kReapTimeout.
absl::StatusOr<ExitStatus> reap(int pidfd) {
  if (!pidfdEnded(pidfd, kReapTimeout)) {
    return absl::DeadlineExceededError("child did not end after SIGKILL");
  }
  siginfo_t info{};
  for (int i = 0; i < 1000; ++i) {
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) == 0) {
      return ExitStatus::fromSiginfo(info.si_code, info.si_status);
    }
    if (errno != EINTR) return errnoStatus(errno, "Failed to waitid");
  }
  return absl::InternalError("waitid kept being interrupted");
}

std::string describe(const std::vector<std::string>& argv) {
  std::string s = absl::StrJoin(argv, " ");
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return absl::StrCat("`", s, "`");
}

absl::StatusOr<Launched> launch(const LaunchSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("empty argv");
  absl::StatusOr<std::string> path = findExecutable(spec.argv[0]);
  if (!path.ok()) return path.status();
  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) < 0) return errnoStatus(errno, "Failed to create a pipe");
  UniqueFd report_read(report_pipe[0]);
  UniqueFd report_write(report_pipe[1]);

  Launched launched;
  UniqueFd child_in, child_out, child_err;
  if (spec.stdio == Stdio::kPipes) {
    int in[2], out[2], err[2];
    // stdin is a socket pair so writing to a command that quit early is EPIPE from send(2)
    // with MSG_NOSIGNAL, not a SIGPIPE for the whole test.
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0) {
      return errnoStatus(errno, "Failed to create a socket pair");
    }
    launched.stdin_fd = UniqueFd(in[0]);
    child_in = UniqueFd(in[1]);
    if (::pipe2(out, O_CLOEXEC) < 0) return errnoStatus(errno, "Failed to create a pipe");
    launched.stdout_fd = UniqueFd(out[0]);
    child_out = UniqueFd(out[1]);
    if (::pipe2(err, O_CLOEXEC) < 0) return errnoStatus(errno, "Failed to create a pipe");
    launched.stderr_fd = UniqueFd(err[0]);
    child_err = UniqueFd(err[1]);
  } else if (spec.stdio == Stdio::kLogFile) {
    child_in = UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (child_in.get() < 0) return errnoStatus(errno, "Failed to open /dev/null");
  }

  ChildPlan plan;
  plan.path = path->c_str();
  plan.argv = argv.data();
  plan.envp = environ;
  plan.in_fd = child_in.get();
  plan.out_fd = spec.stdio == Stdio::kLogFile ? spec.log_fd : child_out.get();
  plan.err_fd = spec.stdio == Stdio::kLogFile ? spec.log_fd : child_err.get();
  plan.report_fd = report_write.get();
  plan.ns_pidfd = spec.target.pidfd;
  plan.new_session = spec.new_session;
  plan.detach = spec.detach;
  plan.ignore_interrupts = spec.ignore_interrupts;

  const pid_t pid = ::fork();
  if (pid < 0) return errnoStatus(errno, "Failed to fork");
  if (pid == 0) childMain(plan);
  launched.child = pid;
  launched.child_pidfd = UniqueFd(pidfdOpen(pid, 0));
  const int pidfd_errno = errno;
  report_write.reset();
  child_in.reset();
  child_out.reset();
  child_err.reset();
  if (launched.child_pidfd.get() < 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return errnoStatus(pidfd_errno, "Failed to pidfd_open");
  }

  // Read the child's reports until the pipe closes: that happens at a successful exec(2)
  // (the pipe is close-on-exec) or when the child gave up.
  absl::Status failure;
  const absl::Time deadline = absl::Now() + kStartTimeout;
  Report report{};
  std::size_t have = 0;
  bool eof = false;
  for (int i = 0; i < kPollRounds && !eof; ++i) {
    struct pollfd p {
      report_read.get(), POLLIN, 0
    };
    const int r = ::poll(&p, 1, pollMs(deadline - absl::Now()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      failure = r == 0 ? absl::DeadlineExceededError(
                             absl::StrCat("starting ", describe(spec.argv), " timed out"))
                       : errnoStatus(errno, "Failed to poll");
      break;
    }
    const ssize_t n =
        ::read(report_read.get(), reinterpret_cast<char*>(&report) + have, sizeof(report) - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = true;
      break;
    }
    have += static_cast<std::size_t>(n);
    if (have < sizeof(report)) continue;
    have = 0;
    if (report.kind == kCommandPid) {
      launched.command = report.value;
    } else if (report.kind == kCommandHostPid) {
      launched.command_host_pid = report.value;
    } else if (failure.ok()) {
      failure = childFailure(report, describe(spec.argv));
    }
  }
  if (failure.ok() && spec.detach && launched.command_host_pid > 0) {
    launched.command = outerPid(spec.target.pidfd, launched.command_host_pid);
    if (launched.command <= 0) {
      failure =
          absl::NotFoundError(absl::StrCat(describe(spec.argv), " started but ended at once"));
    }
  }
  if (failure.ok() && spec.target.pidfd >= 0 && launched.command <= 0) {
    failure = absl::InternalError(
        absl::StrCat("the relay for ", describe(spec.argv), " did not report the command"));
  }
  if (!failure.ok()) {
    pidfdSendSignal(launched.child_pidfd.get(), SIGKILL);
    (void)reap(launched.child_pidfd.get());
    return failure;
  }
  if (spec.target.pidfd < 0) launched.command = pid;
  launched.command_pidfd = UniqueFd(pidfdOpen(launched.command, 0));
  // ESRCH: the command already ended; signals to it are then moot.
  return launched;
}

// Kills the child's process group and the command itself, then reaps the child.
void killLaunched(Launched& l) {
  ::kill(-l.child, SIGKILL);  // the child is unreaped, so its pgid can't be recycled
  if (l.command_pidfd.get() >= 0) {
    pidfdSendSignal(l.command_pidfd.get(), SIGKILL);
  }
  pidfdSendSignal(l.child_pidfd.get(), SIGKILL);
  (void)reap(l.child_pidfd.get());
}

}  // namespace warden::testing
