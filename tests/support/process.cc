#include "tests/support/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

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
// After the command ended, how long to keep reading pipes that a background descendant
// still holds open.
constexpr absl::Duration kDrainGrace = absl::Milliseconds(200);
constexpr absl::Duration kReapTimeout = absl::Seconds(10);
constexpr int kPollRounds = 10'000'000;  // upper bound on poll(2) rounds of any loop

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

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct Launched {
  pid_t child = -1;  // our direct child: the command, or the relay that started it
  Fd child_pidfd;
  pid_t command = -1;           // in our PID namespace
  pid_t command_host_pid = -1;  // detached: in the host's PID namespace
  Fd command_pidfd;
  Fd stdin_fd;  // Stdio::kPipes: our ends
  Fd stdout_fd;
  Fd stderr_fd;
};

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
      return errnoStatus(report.value, absl::StrCat("set up the child for ", what));
    case kFailedSetns:
      return errnoStatus(report.value,
                         absl::StrCat("enter the host's namespaces (setns) for ", what));
    case kFailedFork:
      return errnoStatus(report.value, absl::StrCat("fork inside the host for ", what));
    default:
      return errnoStatus(report.value, absl::StrCat("exec ", what));
  }
}

int pollMs(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d) + 1, 60'000));
}

// Waits until the process behind `pidfd` has ended (pidfd becomes readable).
bool waitReadable(int fd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (int i = 0; i < kPollRounds; ++i) {
    struct pollfd p {
      fd, POLLIN, 0
    };
    const int r = ::poll(&p, 1, pollMs(deadline - absl::Now()));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (absl::Now() >= deadline) return false;
  }
  return false;
}

// Reaps our child `pidfd` (waitid(2) P_PIDFD); blocks at most kReapTimeout.
absl::StatusOr<ExitStatus> reap(int pidfd) {
  if (!waitReadable(pidfd, kReapTimeout)) {
    return absl::DeadlineExceededError("child did not end after SIGKILL");
  }
  siginfo_t info{};
  for (int i = 0; i < 1000; ++i) {
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED) == 0) {
      return ExitStatus::fromSiginfo(info.si_code, info.si_status);
    }
    if (errno != EINTR) return errnoStatus(errno, "waitid");
  }
  return absl::InternalError("waitid kept being interrupted");
}

std::string describe(const std::vector<std::string>& argv) {
  std::string s = absl::StrJoin(argv, " ");
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return absl::StrCat("`", s, "`");
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

absl::StatusOr<Launched> launch(const LaunchSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("empty argv");
  absl::StatusOr<std::string> path = findExecutable(spec.argv[0]);
  if (!path.ok()) return path.status();
  std::vector<char*> argv;
  argv.reserve(spec.argv.size() + 1);
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  int report_pipe[2];
  if (::pipe2(report_pipe, O_CLOEXEC) < 0) return errnoStatus(errno, "create a pipe");
  Fd report_read(report_pipe[0]);
  Fd report_write(report_pipe[1]);

  Launched launched;
  Fd child_in, child_out, child_err;
  if (spec.stdio == Stdio::kPipes) {
    int in[2], out[2], err[2];
    // stdin is a socket pair so writing to a command that quit early is EPIPE from send(2)
    // with MSG_NOSIGNAL, not a SIGPIPE for the whole test.
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0) {
      return errnoStatus(errno, "create a socket pair");
    }
    launched.stdin_fd = Fd(in[0]);
    child_in = Fd(in[1]);
    if (::pipe2(out, O_CLOEXEC) < 0) return errnoStatus(errno, "create a pipe");
    launched.stdout_fd = Fd(out[0]);
    child_out = Fd(out[1]);
    if (::pipe2(err, O_CLOEXEC) < 0) return errnoStatus(errno, "create a pipe");
    launched.stderr_fd = Fd(err[0]);
    child_err = Fd(err[1]);
  } else if (spec.stdio == Stdio::kLogFile) {
    child_in = Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (child_in.get() < 0) return errnoStatus(errno, "open /dev/null");
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
  if (pid < 0) return errnoStatus(errno, "fork");
  if (pid == 0) childMain(plan);
  launched.child = pid;
  launched.child_pidfd = Fd(pidfdOpen(pid, 0));
  const int pidfd_errno = errno;
  report_write.reset();
  child_in.reset();
  child_out.reset();
  child_err.reset();
  if (launched.child_pidfd.get() < 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return errnoStatus(pidfd_errno, "pidfd_open");
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
                       : errnoStatus(errno, "poll");
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
  launched.command_pidfd = Fd(pidfdOpen(launched.command, 0));
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

void appendBounded(std::string& to, const char* data, std::size_t n, bool& truncated) {
  const std::size_t room = kMaxCapturedOutput - std::min(kMaxCapturedOutput, to.size());
  if (n > room) truncated = true;
  to.append(data, std::min(n, room));
}

absl::StatusOr<RunResult> collect(Launched& l, const std::vector<std::string>& argv,
                                  absl::Duration timeout, const std::string& input) {
  RunResult result;
  const absl::Time deadline = absl::Now() + timeout;
  absl::Time drain_deadline = absl::InfiniteFuture();
  std::size_t written = 0;
  if (input.empty()) l.stdin_fd.reset();
  for (Fd* fd : {&l.stdin_fd, &l.stdout_fd, &l.stderr_fd}) {
    if (fd->get() >= 0) ::fcntl(fd->get(), F_SETFL, O_NONBLOCK);
  }
  bool ended = false;
  char buf[65536];
  for (int round = 0; round < kPollRounds; ++round) {
    if (ended && l.stdout_fd.get() < 0 && l.stderr_fd.get() < 0) break;
    const absl::Time now = absl::Now();
    if (!ended && now >= deadline) {
      killLaunched(l);
      return absl::DeadlineExceededError(absl::StrCat(
          describe(argv), " did not finish within ", absl::FormatDuration(timeout),
          "; stdout: ", result.out.substr(0, 512), "; stderr: ", result.err.substr(0, 512)));
    }
    if (ended && now >= drain_deadline) break;
    struct pollfd fds[4];
    int n = 0;
    int out_i = -1, err_i = -1, in_i = -1, pid_i = -1;
    if (l.stdout_fd.get() >= 0) {
      out_i = n;
      fds[n++] = {l.stdout_fd.get(), POLLIN, 0};
    }
    if (l.stderr_fd.get() >= 0) {
      err_i = n;
      fds[n++] = {l.stderr_fd.get(), POLLIN, 0};
    }
    if (l.stdin_fd.get() >= 0) {
      in_i = n;
      fds[n++] = {l.stdin_fd.get(), POLLOUT, 0};
    }
    if (!ended) {
      pid_i = n;
      fds[n++] = {l.child_pidfd.get(), POLLIN, 0};
    }
    const int r = ::poll(fds, n, pollMs((ended ? drain_deadline : deadline) - now));
    if (r < 0 && errno != EINTR) {
      killLaunched(l);
      return errnoStatus(errno, "poll");
    }
    if (r <= 0) continue;
    for (auto [index, fd, to] : {std::tuple{out_i, &l.stdout_fd, &result.out},
                                 std::tuple{err_i, &l.stderr_fd, &result.err}}) {
      if (index < 0 || fds[index].revents == 0) continue;
      const ssize_t got = ::read(fd->get(), buf, sizeof(buf));
      if (got > 0) {
        appendBounded(*to, buf, static_cast<std::size_t>(got), result.truncated);
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        fd->reset();
      }
    }
    if (in_i >= 0 && fds[in_i].revents != 0) {
      const ssize_t sent = ::send(l.stdin_fd.get(), input.data() + written, input.size() - written,
                                  MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) written += static_cast<std::size_t>(sent);
      if ((sent < 0 && errno != EINTR && errno != EAGAIN) || written == input.size()) {
        l.stdin_fd.reset();  // EOF for the command (or it stopped reading: EPIPE)
      }
    }
    if (pid_i >= 0 && fds[pid_i].revents != 0) {
      ended = true;
      drain_deadline = absl::Now() + kDrainGrace;
      l.stdin_fd.reset();
    }
  }
  absl::StatusOr<ExitStatus> status = reap(l.child_pidfd.get());
  if (!status.ok()) {
    killLaunched(l);
    return status.status();
  }
  result.exit_code = status->exit_code;
  result.term_signal = status->term_signal;
  return result;
}

}  // namespace

std::string ExitStatus::toString() const {
  if (term_signal != 0)
    return absl::StrCat("signal ", term_signal, " (", strsignal(term_signal), ")");
  return absl::StrCat("exit ", exit_code);
}

ExitStatus ExitStatus::fromSiginfo(int code, int status) {
  // Not named si_code/si_status: <signal.h> defines those as macros.
  ExitStatus s;
  if (code == CLD_EXITED) {
    s.exit_code = status;
  } else {
    s.term_signal = status;
    s.exit_code = 128 + status;
  }
  return s;
}

absl::Status errnoStatus(int err, const std::string& what) {
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat("Failed to ", what, ": ", strerror(err)));
}

int pidfdOpen(pid_t pid, unsigned flags) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, flags));
}

int pidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

unsigned long long processStartTime(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!in || !std::getline(in, line)) return 0;
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 1), ' ', absl::SkipEmpty());
  // Fields after the command name start at field 3 (state); starttime is field 22.
  constexpr std::size_t kStartTimeIndex = 22 - 3;
  if (fields.size() <= kStartTimeIndex) return 0;
  if (fields[0] == "Z" || fields[0] == "X") return 0;  // dead, merely not reaped yet
  return std::strtoull(fields[kStartTimeIndex].c_str(), nullptr, 10);
}

absl::StatusOr<std::string> findExecutable(const std::string& argv0) {
  if (argv0.empty()) return absl::InvalidArgumentError("empty command name");
  if (argv0.find('/') != std::string::npos) return argv0;
  const char* env_path = std::getenv("PATH");
  // Test plumbing (ip, nsenter) lives in sbin, which a non-login PATH may lack.
  std::string search =
      absl::StrCat(env_path != nullptr ? env_path : "",
                   ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  for (absl::string_view dir : absl::StrSplit(search, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", argv0);
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return absl::NotFoundError(absl::StrCat("Failed to find ", argv0, " in PATH (", search, ")"));
}

absl::StatusOr<RunResult> run(const std::vector<std::string>& argv, absl::Duration timeout,
                              const std::string& input) {
  return runIn(NamespaceTarget{}, argv, timeout, input);
}

absl::StatusOr<RunResult> runIn(const NamespaceTarget& target, const std::vector<std::string>& argv,
                                absl::Duration timeout, const std::string& input) {
  LaunchSpec spec;
  spec.argv = argv;
  spec.target = target;
  absl::StatusOr<Launched> launched = launch(spec);
  if (!launched.ok()) return launched.status();
  return collect(*launched, argv, timeout, input);
}

absl::StatusOr<std::unique_ptr<Process>> Process::start(const std::vector<std::string>& argv,
                                                        std::string log_path,
                                                        const NamespaceTarget& target) {
  std::unique_ptr<Process> p(new Process());
  Fd log;
  if (log_path.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/warden-process-XXXXXX.log");
    log = Fd(::mkostemps(tmpl.data(), 4, O_CLOEXEC | O_APPEND));
    if (log.get() < 0) return errnoStatus(errno, absl::StrCat("create ", tmpl));
    log_path = tmpl;
    p->remove_log_ = true;
  } else {
    log = Fd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (log.get() < 0) return errnoStatus(errno, absl::StrCat("open ", log_path));
  }
  p->log_path_ = log_path;
  LaunchSpec spec;
  spec.argv = argv;
  spec.target = target;
  spec.stdio = Stdio::kLogFile;
  spec.log_fd = log.get();
  absl::StatusOr<Launched> launched = launch(spec);
  if (!launched.ok()) return launched.status();
  p->relay_pid_ = launched->child;
  p->relay_pidfd_ = launched->child_pidfd.release();
  p->pid_ = launched->command;
  p->pidfd_ = launched->command_pidfd.release();
  return p;
}

Process::~Process() {
  kill();
  if (pidfd_ >= 0) ::close(pidfd_);
  if (relay_pidfd_ >= 0) ::close(relay_pidfd_);
  if (remove_log_) ::unlink(log_path_.c_str());
}

void Process::kill() {
  if (reaped_ || relay_pidfd_ < 0) return;
  ::kill(-relay_pid_, SIGKILL);  // unreaped, so the process group id is still ours
  if (pidfd_ >= 0) pidfdSendSignal(pidfd_, SIGKILL);
  pidfdSendSignal(relay_pidfd_, SIGKILL);
  absl::StatusOr<ExitStatus> s = reap(relay_pidfd_);
  if (s.ok()) status_ = *s;
  reaped_ = true;
}

pid_t Process::hostPid() const {
  if (pidfd_ < 0 || waitReadable(pidfd_, absl::ZeroDuration())) return 0;
  std::ifstream in(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  for (int i = 0; i < 1000 && std::getline(in, line); ++i) {
    if (line.rfind("NSpid:", 0) != 0) continue;
    std::vector<std::string> ids = absl::StrSplit(line.substr(6), '\t', absl::SkipEmpty());
    if (ids.empty()) return 0;
    return static_cast<pid_t>(std::strtol(ids.back().c_str(), nullptr, 10));
  }
  return 0;
}

bool Process::running() {
  if (reaped_) return false;
  return pidfd_ >= 0 && !waitReadable(pidfd_, absl::ZeroDuration());
}

absl::Status Process::signal(int sig) {
  if (reaped_ || pidfd_ < 0) return absl::FailedPreconditionError("the process has ended");
  if (pidfdSendSignal(pidfd_, sig) < 0) {
    return errnoStatus(errno, absl::StrCat("send signal ", sig, " to pid ", pid_));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExitStatus> Process::wait(absl::Duration timeout) {
  if (reaped_) return status_;
  if (!waitReadable(relay_pidfd_, timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("pid ", pid_, " still running after ", absl::FormatDuration(timeout)));
  }
  absl::StatusOr<ExitStatus> s = reap(relay_pidfd_);
  if (!s.ok()) return s.status();
  status_ = *s;
  reaped_ = true;
  return status_;
}

std::string Process::output() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::string data(kMaxCapturedOutput, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  return data;
}

absl::StatusOr<pid_t> startDetached(const NamespaceTarget& target,
                                    const std::vector<std::string>& argv,
                                    const std::string& log_path) {
  if (target.pidfd < 0) return absl::InvalidArgumentError("startDetached needs a host");
  Fd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log.get() < 0) return errnoStatus(errno, absl::StrCat("open ", log_path));
  LaunchSpec spec;
  spec.argv = argv;
  spec.target = target;
  spec.stdio = Stdio::kLogFile;
  spec.log_fd = log.get();
  spec.detach = true;
  absl::StatusOr<Launched> launched = launch(spec);
  if (!launched.ok()) return launched.status();
  absl::StatusOr<ExitStatus> relay = reap(launched->child_pidfd.get());
  if (!relay.ok()) return relay.status();
  return launched->command;
}

absl::StatusOr<ExitStatus> runInteractive(const NamespaceTarget& target,
                                          const std::vector<std::string>& argv) {
  LaunchSpec spec;
  spec.argv = argv;
  spec.target = target;
  spec.stdio = Stdio::kInherit;
  spec.new_session = false;
  spec.ignore_interrupts = true;
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  ::sigaction(SIGINT, &ignore, &old_int);
  ::sigaction(SIGQUIT, &ignore, &old_quit);
  absl::StatusOr<ExitStatus> result = [&]() -> absl::StatusOr<ExitStatus> {
    absl::StatusOr<Launched> launched = launch(spec);
    if (!launched.ok()) return launched.status();
    siginfo_t info{};
    for (int i = 0; i < kPollRounds; ++i) {
      if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(launched->child_pidfd.get()),
                   &info, WEXITED) == 0) {
        return ExitStatus::fromSiginfo(info.si_code, info.si_status);
      }
      if (errno != EINTR) return errnoStatus(errno, "waitid");
    }
    return absl::InternalError("waitid kept being interrupted");
  }();
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGQUIT, &old_quit, nullptr);
  return result;
}

}  // namespace warden::testing
