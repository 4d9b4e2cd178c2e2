#include "tests/support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "tests/support/child_launch.h"

namespace warden::testing {
namespace {

// After the command ended, how long to keep reading pipes that a background descendant
// still holds open.
constexpr absl::Duration kDrainGrace = absl::Milliseconds(200);

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
  for (UniqueFd* fd : {&l.stdin_fd, &l.stdout_fd, &l.stderr_fd}) {
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
      return errnoStatus(errno, "Failed to poll");
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

std::string readReply(int fd, absl::Time deadline, bool first_line) {
  std::string reply;
  char buf[4096];
  for (int i = 0; i < kPollRounds; ++i) {
    if (first_line && reply.find('\n') != std::string::npos) break;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    struct pollfd p {
      fd, POLLIN, 0
    };
    const int r = ::poll(&p, 1, pollMs(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  return reply;
}

bool pidfdEnded(int pidfd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (int i = 0; i < kPollRounds; ++i) {
    struct pollfd p {
      pidfd, POLLIN, 0
    };
    const int r = ::poll(&p, 1, pollMs(deadline - absl::Now()));
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (absl::Now() >= deadline) return false;
  }
  return false;
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
  UniqueFd log;
  if (log_path.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/warden-process-XXXXXX.log");
    log = UniqueFd(::mkostemps(tmpl.data(), 4, O_CLOEXEC | O_APPEND));
    if (log.get() < 0) return errnoStatus("create", tmpl, errno);
    log_path = tmpl;
    p->remove_log_ = true;
  } else {
    log = UniqueFd(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (log.get() < 0) return errnoStatus("open", log_path, errno);
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
  if (pidfd_ < 0 || pidfdEnded(pidfd_, absl::ZeroDuration())) return 0;
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
  return pidfd_ >= 0 && !pidfdEnded(pidfd_, absl::ZeroDuration());
}

absl::Status Process::signal(int sig) {
  if (reaped_ || pidfd_ < 0) return absl::FailedPreconditionError("the process has ended");
  if (pidfdSendSignal(pidfd_, sig) < 0) {
    return errnoStatus(errno, absl::StrCat("Failed to send signal ", sig, " to pid ", pid_));
  }
  return absl::OkStatus();
}

absl::StatusOr<ExitStatus> Process::wait(absl::Duration timeout) {
  if (reaped_) return status_;
  if (!pidfdEnded(relay_pidfd_, timeout)) {
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
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (log.get() < 0) return errnoStatus("open", log_path, errno);
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
      if (errno != EINTR) return errnoStatus(errno, "Failed to waitid");
    }
    return absl::InternalError("waitid kept being interrupted");
  }();
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGQUIT, &old_quit, nullptr);
  return result;
}

}  // namespace warden::testing
