// TestHost (fleet.h): a test host's network, its init (clone3(2) into new PID, mount and UTS
// namespaces, then warden-test-init), and commands and files inside it.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/status.h"
#include "tests/support/child_launch.h"
#include "tests/support/fleet.h"
#include "tests/support/fleet_plumbing.h"
#include "tests/support/fleet_state.h"

extern char** environ;

namespace warden::testing {
namespace {

constexpr absl::Duration kInitReadyTimeout = absl::Seconds(15);

// clone3(2) arguments (struct clone_args, CLONE_ARGS_SIZE_VER0).
struct CloneArgs {
  std::uint64_t flags;
  std::uint64_t pidfd;
  std::uint64_t child_tid;
  std::uint64_t parent_tid;
  std::uint64_t exit_signal;
  std::uint64_t stack;
  std::uint64_t stack_size;
  std::uint64_t tls;
};

struct InitPlan {
  const char* path;
  char* const* argv;
  int net_fd;
  int ready_fd;
  int log_fd;
  int null_fd;
};

void childWrite(int fd, const char* text) {
  [[maybe_unused]] ssize_t n = ::write(fd, text, std::strlen(text));
}

void childWriteErrno(int fd, const char* what, int err) {
  char digits[16];
  int n = 0;
  for (int v = err; n < 15 && (v > 0 || n == 0); v /= 10)
    digits[n++] = static_cast<char>('0' + v % 10);
  childWrite(fd, "error: ");
  childWrite(fd, what);
  childWrite(fd, " failed, errno ");
  for (int i = n - 1; i >= 0; --i) [[maybe_unused]] ssize_t w = ::write(fd, &digits[i], 1);
  childWrite(fd, "\n");
}

// The first moments of a host's init, between clone3(2) and execve(2): async-signal-safe
// calls only (the caller may have threads).
[[noreturn]] void initChild(const InitPlan& plan) {
  // The init (and with it the host) must not outlive the thread that made it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::setns(plan.net_fd, CLONE_NEWNET) < 0) {
    childWriteErrno(plan.ready_fd, "setns(network)", errno);
    _exit(127);
  }
  const int ready = ::fcntl(plan.ready_fd, F_DUPFD_CLOEXEC, 10);
  const int log = ::fcntl(plan.log_fd, F_DUPFD_CLOEXEC, 10);
  const int null = ::fcntl(plan.null_fd, F_DUPFD_CLOEXEC, 10);
  if (ready < 0 || log < 0 || null < 0 || ::dup2(null, 0) < 0 || ::dup2(log, 1) < 0 ||
      ::dup2(log, 2) < 0 || ::dup2(ready, 3) < 0) {
    childWriteErrno(plan.ready_fd, "dup2", errno);
    _exit(127);
  }
  ::close_range(4, ~0U, 0);
  resetSignals();
  ::execve(plan.path, plan.argv, environ);
  childWriteErrno(3, "execve(warden-test-init)", errno);
  _exit(127);
}

std::string tail(const std::string& path, std::size_t max) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  if (s.size() > max) s = s.substr(s.size() - max);
  return s;
}

}  // namespace

// ---- TestHost -----------------------------------------------------------------------------

TestHost::TestHost(TestFleet* fleet, std::string name, int index)
    : fleet_(fleet),
      name_(std::move(name)),
      index_(index),
      netns_(fleet->netnsPrefix() + name_),
      ipv4_(absl::StrCat("198.18.0.", index)),
      ipv6_(absl::StrCat("2001:db8::", index)),
      dir_(absl::StrCat(fleet->scratchDir(), "/", name_)) {}

TestHost::~TestHost() {
  if (init_pidfd_ >= 0) ::close(init_pidfd_);
}

std::string TestHost::netnsPath() const { return absl::StrCat(kNetnsDir, "/", netns_); }

std::string TestHost::statePath() const {
  return absl::StrCat(fleet_->stateDir(), "/hosts/", name_);
}

absl::Status TestHost::writeState() const {
  return writeAtomically(
      statePath(), absl::StrCat("name=", name_, "\nindex=", index_, "\nnetns=", netns_,
                                "\nipv4=", ipv4_, "\nipv6=", ipv6_, "\ndir=", dir_,
                                "\ninit_pid=", init_pid_, "\ninit_start=", init_start_, "\n"));
}

absl::Status TestHost::setUpNetwork() {
  const std::string lan = fleet_->lanNetns();
  const std::string peer = absl::StrCat("vh", index_);
  absl::Status s = ip({"netns", "add", netns_});
  if (!s.ok()) return s;
  // A fixed MAC per index: a host powered on again by boot() keeps its "NIC", so its peers'
  // neighbour caches stay right, as after a real reboot.
  const std::string mac = absl::StrFormat("02:00:c6:12:00:%02x", index_);
  s = ip({"-n", netns_, "link", "add", kHostInterface, "address", mac, "type", "veth", "peer",
          "name", peer, "netns", lan});
  if (!s.ok()) return s;
  s = ip({"-n", lan, "link", "set", peer, "master", kLanBridge, "up"});
  if (!s.ok()) return s;
  return ip({"-n", netns_, "-batch", "-"},
            absl::StrCat("link set lo up\n", "addr add ", ipv4_, "/", kIpv4PrefixLength, " dev ",
                         kHostInterface, "\n", "addr add ", ipv6_, "/", kIpv6PrefixLength, " dev ",
                         kHostInterface, " nodad\n", "link set ", kHostInterface, " up\n"));
}

absl::Status TestHost::startInit() {
  absl::StatusOr<std::string> path = initPath(fleet_->options_);
  if (!path.ok()) return path.status();
  absl::Status s = makeDirs(absl::StrCat(fleetDir(), "/logs"));
  if (!s.ok()) return s;
  const std::string log_path = fleetDir() + "/init.log";
  const int net_fd = ::open(netnsPath().c_str(), O_RDONLY | O_CLOEXEC);
  if (net_fd < 0) return errnoStatus("open", netnsPath(), errno);
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  int ready[2] = {-1, -1};
  const bool fds_ok = log_fd >= 0 && null_fd >= 0 && ::pipe2(ready, O_CLOEXEC) == 0;
  const int fds_errno = errno;
  auto closeAll = [&] {
    for (int fd : {net_fd, log_fd, null_fd, ready[0], ready[1]}) {
      if (fd >= 0) ::close(fd);
    }
  };
  if (!fds_ok) {
    closeAll();
    return errnoStatus(fds_errno, absl::StrCat("Failed to prepare the init of ", name_));
  }
  const std::vector<std::string> args = {*path,      "--hostname", name_, "--fleet-dir",
                                         fleetDir(), "--ready-fd", "3"};
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const InitPlan plan{path->c_str(), argv.data(), net_fd, ready[1], log_fd, null_fd};

  int pidfd = -1;
  CloneArgs clone_args{};
  clone_args.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_PIDFD;
  clone_args.pidfd = reinterpret_cast<std::uintptr_t>(&pidfd);
  clone_args.exit_signal = SIGCHLD;
  const long pid = ::syscall(SYS_clone3, &clone_args, sizeof(clone_args));
  if (pid == 0) initChild(plan);
  const int clone_errno = errno;
  ::close(ready[1]);
  ready[1] = -1;
  if (pid < 0) {
    closeAll();
    return errnoStatus(clone_errno, absl::StrCat("Failed to clone3 the init of ", name_));
  }

  // Wait for "ok" (or an error line, or EOF if it died).
  const std::string reply =
      readReply(ready[0], absl::Now() + kInitReadyTimeout, /*first_line=*/true);
  closeAll();
  if (reply != "ok\n") {
    pidfdSendSignal(pidfd, SIGKILL);
    siginfo_t info{};
    if (pidfdEnded(pidfd, kDeathTimeout)) {
      ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED);
    }
    ::close(pidfd);
    return absl::InternalError(absl::StrCat(
        "The init of host ", name_,
        " did not start: ", reply.empty() ? "no reply" : absl::StripTrailingAsciiWhitespace(reply),
        "; ", log_path, ": ", tail(log_path, 2000)));
  }
  if (init_pidfd_ >= 0) ::close(init_pidfd_);
  init_pidfd_ = pidfd;
  init_pid_ = static_cast<pid_t>(pid);
  init_start_ = processStartTime(init_pid_);
  init_is_child_ = true;
  init_exit_.reset();
  ::unlink((statePath() + ".exit").c_str());
  return writeState();
}

absl::Status TestHost::killInit() {
  if (init_pidfd_ < 0) return absl::OkStatus();
  absl::Status status;
  if (!init_exit_.has_value()) {
    pidfdSendSignal(init_pidfd_, SIGKILL);
    // The init ends only after every process of its PID namespace has (pid_namespaces(7)).
    if (!pidfdEnded(init_pidfd_, kDeathTimeout)) {
      status = absl::DeadlineExceededError(
          absl::StrCat("The init of host ", name_, " (pid ", init_pid_, ") survived SIGKILL"));
    } else if (init_is_child_) {
      (void)initExitStatus();
    }
  }
  ::close(init_pidfd_);
  init_pidfd_ = -1;
  return status;
}

bool TestHost::up() const {
  if (init_pidfd_ < 0 || init_exit_.has_value()) return false;
  return !pidfdEnded(init_pidfd_, absl::ZeroDuration());
}

std::optional<ExitStatus> TestHost::initExitStatus() {
  if (init_exit_.has_value()) return init_exit_;
  if (init_pidfd_ >= 0 && init_is_child_) {
    siginfo_t info{};
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(init_pidfd_), &info,
                 WEXITED | WNOHANG) == 0 &&
        info.si_pid != 0) {
      init_exit_ = ExitStatus::fromSiginfo(info.si_code, info.si_status);
      // For attached fleets and `warden-testfleet`; best effort.
      (void)writeAtomically(statePath() + ".exit",
                            absl::StrCat("init_pid=", init_pid_, "\ninit_start=", init_start_,
                                         "\nexit_code=", init_exit_->exit_code,
                                         "\nterm_signal=", init_exit_->term_signal, "\n"));
    }
    return init_exit_;
  }
  absl::StatusOr<std::map<std::string, std::string>> kv = readKeyValues(statePath() + ".exit");
  if (kv.ok() && numberOr(*kv, "init_pid", -1) == init_pid_ &&
      numberOr(*kv, "init_start", -1) == static_cast<long long>(init_start_)) {
    ExitStatus s;
    s.exit_code = static_cast<int>(numberOr(*kv, "exit_code", -1));
    s.term_signal = static_cast<int>(numberOr(*kv, "term_signal", 0));
    init_exit_ = s;
  }
  return init_exit_;
}

absl::StatusOr<ExitStatus> TestHost::waitForInitExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  if (init_pidfd_ >= 0 && !init_exit_.has_value() && !pidfdEnded(init_pidfd_, timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "The init of host ", name_, " still runs after ", absl::FormatDuration(timeout)));
  }
  for (int i = 0; i < 100000; ++i) {
    if (std::optional<ExitStatus> s = initExitStatus(); s.has_value()) return *s;
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::UnavailableError(
      absl::StrCat("The init of host ", name_, " ended, but how was not recorded"));
}

absl::Status TestHost::boot() {
  if (!fleet_->owner_) {
    return absl::FailedPreconditionError("only the fleet's owning process can boot a host");
  }
  if (up()) return absl::FailedPreconditionError(absl::StrCat("host ", name_, " is up"));
  absl::Status s = killInit();
  if (!s.ok()) return s;
  (void)ip({"-n", fleet_->lanNetns(), "link", "del", absl::StrCat("vh", index_)});
  s = ip({"netns", "del", netns_});
  if (!s.ok()) return s;
  for (const char* d : {"run.upper", "run.work"}) {
    s = removeTree(absl::StrCat(fleetDir(), "/", d));
    if (!s.ok()) return s;
  }
  s = setUpNetwork();
  if (!s.ok()) return s;
  return startInit();
}

absl::StatusOr<RunResult> TestHost::exec(const std::vector<std::string>& argv,
                                         absl::Duration timeout, const std::string& input) const {
  if (!up()) return absl::FailedPreconditionError(absl::StrCat("host ", name_, " is down"));
  return runIn(target(), argv, timeout, input);
}

absl::StatusOr<std::unique_ptr<Process>> TestHost::spawn(const std::vector<std::string>& argv,
                                                         std::string log_path) const {
  if (!up()) return absl::FailedPreconditionError(absl::StrCat("host ", name_, " is down"));
  if (log_path.empty()) {
    std::string base =
        argv.empty() ? "process" : std::filesystem::path(argv[0]).filename().string();
    log_path = absl::StrCat(fleetDir(), "/logs/", log_counter_.fetch_add(1), "-", base, ".log");
  }
  return Process::start(argv, log_path, target());
}

absl::StatusOr<std::string> TestHost::readFile(const std::string& path) const {
  absl::StatusOr<RunResult> r = exec({"cat", "--", path});
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::NotFoundError(absl::StrCat("Failed to read ", path, " on ", name_, ": ",
                                            absl::StripTrailingAsciiWhitespace(r->err)));
  }
  return r->out;
}

absl::Status TestHost::writeFile(const std::string& path, const std::string& content) const {
  absl::StatusOr<RunResult> r =
      exec({"dd", "of=" + path, "status=none"}, absl::Seconds(30), content);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("Failed to write ", path, " on ", name_, ": ",
                                            absl::StripTrailingAsciiWhitespace(r->err)));
  }
  return absl::OkStatus();
}

}  // namespace warden::testing
