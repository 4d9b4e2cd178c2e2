#include "tests/support/fleet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace warden::testing {
namespace {

constexpr char kDefaultStateRoot[] = "/run/warden-testfleet";
constexpr char kDefaultScratchRoot[] = "/tmp/warden-testfleet";
constexpr char kNetnsDir[] = "/run/netns";
constexpr std::size_t kMaxLabelLength = 24;
constexpr std::size_t kMaxHostNameLength = 32;
constexpr absl::Duration kInitReadyTimeout = absl::Seconds(15);
constexpr absl::Duration kDeathTimeout = absl::Seconds(10);
constexpr absl::Duration kPlumbingTimeout = absl::Seconds(20);
constexpr int kMaxDirEntries = 1'000'000;  // bound on any directory scan
constexpr int kMaxEchoClients = 64;

// ---- small utilities ----------------------------------------------------------------------

bool validLabel(const std::string& label) {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

bool validHostName(const std::string& name) {
  if (name.empty() || name.size() > kMaxHostNameLength || name == "lan") return false;
  if (name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

FleetOptions resolve(FleetOptions o) {
  if (o.state_root.empty()) o.state_root = envOr("WARDEN_TESTFLEET_STATE_DIR", kDefaultStateRoot);
  if (o.scratch_root.empty()) {
    o.scratch_root = envOr("WARDEN_TESTFLEET_SCRATCH_DIR", kDefaultScratchRoot);
  }
  while (o.state_root.size() > 1 && o.state_root.back() == '/') o.state_root.pop_back();
  while (o.scratch_root.size() > 1 && o.scratch_root.back() == '/') o.scratch_root.pop_back();
  return o;
}

bool isExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

absl::StatusOr<std::string> initPath(const FleetOptions& o) {
  std::vector<std::string> candidates;
  if (!o.init_path.empty()) {
    candidates.push_back(o.init_path);
  } else {
    if (const char* env = std::getenv("WARDEN_TEST_INIT"); env != nullptr && *env != '\0') {
      candidates.push_back(env);
    }
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back((self.parent_path() / "warden-test-init").string());
#ifdef WARDEN_BIN_DIR
    candidates.push_back(std::string(WARDEN_BIN_DIR) + "/warden-test-init");
#endif
  }
  for (const std::string& c : candidates) {
    if (isExecutableFile(c)) return c;
  }
  std::string tried;
  for (const std::string& c : candidates) absl::StrAppend(&tried, tried.empty() ? "" : ", ", c);
  return absl::NotFoundError(
      absl::StrCat("warden-test-init not found (build it; tried: ", tried, ")"));
}

absl::StatusOr<std::map<std::string, std::string>> readKeyValues(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errnoStatus(errno, absl::StrCat("open ", path));
  std::map<std::string, std::string> kv;
  std::string line;
  for (int i = 0; i < 1000 && std::getline(in, line); ++i) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

long long numberOr(const std::map<std::string, std::string>& kv, const std::string& key,
                   long long fallback) {
  auto it = kv.find(key);
  long long v = 0;
  if (it == kv.end() || !absl::SimpleAtoi(it->second, &v)) return fallback;
  return v;
}

absl::Status writeAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    out.flush();
    if (!out) return errnoStatus(errno, absl::StrCat("write ", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) < 0) {
    return errnoStatus(errno, absl::StrCat("rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::Status makeDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("Failed to create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

// rm -rf that never crosses into another file system (a loop device a test mounted there).
absl::Status removeTree(const std::string& path) {
  if (path.empty() || path == "/") return absl::InvalidArgumentError("refusing to remove /");
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0 && errno == ENOENT) return absl::OkStatus();
  absl::StatusOr<RunResult> r =
      run({"rm", "-rf", "--one-file-system", "--", path}, absl::Seconds(60));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("Failed to remove ", path, ": ", r->err));
  }
  return absl::OkStatus();
}

absl::Status ip(const std::vector<std::string>& args, const std::string& input = "") {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<RunResult> r = run(argv, kPlumbingTimeout, input);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    std::string cmd;
    for (const std::string& a : argv) absl::StrAppend(&cmd, cmd.empty() ? "" : " ", a);
    return absl::InternalError(absl::StrCat("`", cmd, "` failed (", r->exit_code,
                                            "): ", absl::StripTrailingAsciiWhitespace(r->err)));
  }
  return absl::OkStatus();
}

std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  for (int i = 0; i < kMaxDirEntries; ++i) {
    const struct dirent* e = ::readdir(d);
    if (e == nullptr) break;
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool alive(pid_t pid, unsigned long long start) {
  return pid > 0 && start != 0 && processStartTime(pid) == start;
}

// A pidfd for pid if it is still the process that started at `start` (0: any).
int openVerified(pid_t pid, unsigned long long start) {
  if (pid <= 0 || pid == ::getpid()) return -1;
  const int fd = pidfdOpen(pid, 0);
  if (fd < 0) return -1;
  // Checked after opening: if it matches now, the pidfd refers to that very process.
  const unsigned long long now = processStartTime(pid);
  if (now == 0 || (start != 0 && now != start)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool pidfdEnded(int pidfd, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (int i = 0; i < 100000; ++i) {
    struct pollfd p {
      pidfd, POLLIN, 0
    };
    const absl::Duration left = deadline - absl::Now();
    const int ms =
        left <= absl::ZeroDuration() ? 0 : static_cast<int>(absl::ToInt64Milliseconds(left) + 1);
    const int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
    if (r == 0 && absl::Now() >= deadline) return false;
  }
  return false;
}

// Processes whose network namespace is the one bound at `netns_path`.
std::vector<pid_t> pidsInNetns(const std::string& netns_path) {
  std::vector<pid_t> pids;
  struct stat target {};
  if (::stat(netns_path.c_str(), &target) < 0) return pids;
  for (const std::string& entry : listDir("/proc")) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry, &pid) || pid <= 0) continue;
    struct stat st {};
    if (::stat(absl::StrCat("/proc/", pid, "/ns/net").c_str(), &st) == 0 &&
        st.st_ino == target.st_ino && st.st_dev == target.st_dev) {
      pids.push_back(pid);
    }
  }
  return pids;
}

// SIGKILLs every pidfd, then waits for each to end.
absl::Status killAll(std::vector<int>& pidfds, const std::string& what) {
  for (int fd : pidfds) pidfdSendSignal(fd, SIGKILL);
  absl::Status status;
  for (int fd : pidfds) {
    if (!pidfdEnded(fd, kDeathTimeout) && status.ok()) {
      status = absl::DeadlineExceededError(absl::StrCat(what, " still alive after SIGKILL"));
    }
    ::close(fd);
  }
  pidfds.clear();
  return status;
}

void keepFirst(absl::Status& into, const absl::Status& s) {
  if (into.ok() && !s.ok()) into = s;
}

std::string ownerLine() {
  return absl::StrCat("owner_pid=", ::getpid(), "\nowner_start=", processStartTime(::getpid()),
                      "\n");
}

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
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  sigemptyset(&action.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &action, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
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

absl::Status parseAddress(const std::string& addr, std::uint16_t port, sockaddr_storage* ss,
                          socklen_t* len) {
  *ss = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (::inet_pton(AF_INET, addr.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return absl::OkStatus();
  }
  if (::inet_pton(AF_INET6, addr.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", addr));
}

// Connects a non-blocking socket made in `from` to addr:port; on kConnected *fd_out owns it.
ConnectOutcome connectFrom(const TestHost& from, const std::string& addr, std::uint16_t port,
                           absl::Duration timeout, int* fd_out) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!parseAddress(addr, port, &ss, &len).ok()) return ConnectOutcome::kError;
  absl::StatusOr<int> fd = socketInHost(from, ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK);
  if (!fd.ok()) return ConnectOutcome::kError;
  int err = 0;
  if (::connect(*fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    err = errno;
    if (err == EINPROGRESS) {
      err = ETIMEDOUT;
      struct pollfd p {
        *fd, POLLOUT, 0
      };
      const absl::Time deadline = absl::Now() + timeout;
      for (int i = 0; i < 100000; ++i) {
        const absl::Duration left = deadline - absl::Now();
        const int ms = left <= absl::ZeroDuration()
                           ? 0
                           : static_cast<int>(absl::ToInt64Milliseconds(left) + 1);
        const int r = ::poll(&p, 1, ms);
        if (r > 0) {
          socklen_t elen = sizeof(err);
          if (::getsockopt(*fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) err = errno;
          break;
        }
        if ((r < 0 && errno != EINTR) || absl::Now() >= deadline) break;
      }
    }
  }
  if (err != 0) {
    ::close(*fd);
    switch (err) {
      case ECONNREFUSED:
        return ConnectOutcome::kRefused;
      case ETIMEDOUT:
        return ConnectOutcome::kTimedOut;
      case EHOSTUNREACH:
      case ENETUNREACH:
      case EACCES:
      case EPERM:
        return ConnectOutcome::kUnreachable;
      default:
        return ConnectOutcome::kError;
    }
  }
  *fd_out = *fd;
  return ConnectOutcome::kConnected;
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
  if (net_fd < 0) return errnoStatus(errno, absl::StrCat("open ", netnsPath()));
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
    return errnoStatus(fds_errno, absl::StrCat("prepare the init of ", name_));
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
    return errnoStatus(clone_errno, absl::StrCat("clone3 the init of ", name_));
  }

  // Wait for "ok" (or an error line, or EOF if it died).
  std::string reply;
  const absl::Time deadline = absl::Now() + kInitReadyTimeout;
  for (int i = 0; i < 100000 && reply.find('\n') == std::string::npos; ++i) {
    struct pollfd p {
      ready[0], POLLIN, 0
    };
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    const int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left) + 1));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    char buf[512];
    const ssize_t n = ::read(ready[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
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

// ---- TestFleet ----------------------------------------------------------------------------

TestFleet::TestFleet(std::string label, FleetOptions options, bool owner)
    : label_(std::move(label)), options_(std::move(options)), owner_(owner) {}

std::string TestFleet::stateDir() const { return absl::StrCat(options_.state_root, "/", label_); }
std::string TestFleet::scratchDir() const {
  return absl::StrCat(options_.scratch_root, "/", label_);
}

absl::Status TestFleet::writeState() const {
  return writeAtomically(
      stateDir() + "/fleet",
      absl::StrCat("label=", label_, "\n", ownerLine(), "keeper=", options_.keeper ? 1 : 0,
                   "\nlan_netns=", lanNetns(), "\nscratch_dir=", scratchDir(), "\n"));
}

absl::StatusOr<std::unique_ptr<TestFleet>> TestFleet::create(std::string label,
                                                             FleetOptions options) {
  if (!validLabel(label)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad fleet label '", label, "' (1-24 of A-Z a-z 0-9 _)"));
  }
  options = resolve(std::move(options));
  for (const char* overlaid : {"/etc", "/run"}) {
    if (options.scratch_root == overlaid ||
        absl::StartsWith(options.scratch_root, absl::StrCat(overlaid, "/"))) {
      return absl::InvalidArgumentError(absl::StrCat("scratch root ", options.scratch_root,
                                                     " is under ", overlaid,
                                                     ", which test hosts overlay"));
    }
  }
  if (::geteuid() != 0) {
    return absl::PermissionDeniedError("test fleets need root (namespaces, ip netns)");
  }
  std::unique_ptr<TestFleet> fleet(new TestFleet(label, options, /*owner=*/true));
  absl::StatusOr<std::map<std::string, std::string>> previous =
      readKeyValues(fleet->stateDir() + "/fleet");
  if (previous.ok()) {
    const pid_t owner = static_cast<pid_t>(numberOr(*previous, "owner_pid", 0));
    if (alive(owner, static_cast<unsigned long long>(numberOr(*previous, "owner_start", 0)))) {
      return absl::AlreadyExistsError(absl::StrCat("fleet '", label, "' is in use by pid ", owner,
                                                   " (warden-testfleet down --label ", label,
                                                   " or scripts/fleet-clean to remove it)"));
    }
  }
  // Whatever a crashed run with this label left behind.
  absl::Status s = sweep(label, options);
  if (!s.ok()) return s;
  s = makeDirs(options.state_root);
  if (!s.ok()) return s;
  // mkdir is the claim: of two processes racing for one label, one gets EEXIST.
  if (::mkdir(fleet->stateDir().c_str(), 0755) < 0) {
    return errnoStatus(errno, absl::StrCat("claim ", fleet->stateDir()));
  }
  for (const std::string& dir : {fleet->stateDir() + "/hosts", fleet->scratchDir()}) {
    s = makeDirs(dir);
    if (!s.ok()) return s;
  }
  s = fleet->writeState();
  if (!s.ok()) return s;
  const std::string lan = fleet->lanNetns();
  s = ip({"netns", "add", lan});
  if (!s.ok()) return s;
  // No STP and no multicast snooping: ports forward at once and IPv6 neighbour discovery
  // is flooded like everything else.
  s = ip({"-n", lan, "-batch", "-"}, absl::StrCat("link set lo up\n", "link add ", kLanBridge,
                                                  " type bridge stp_state 0 mcast_snooping 0\n",
                                                  "link set ", kLanBridge, " up\n"));
  if (!s.ok()) return s;
  return fleet;
}

absl::StatusOr<std::unique_ptr<TestFleet>> TestFleet::attach(std::string label,
                                                             FleetOptions options) {
  if (!validLabel(label))
    return absl::InvalidArgumentError(absl::StrCat("bad fleet label '", label, "'"));
  options = resolve(std::move(options));
  std::unique_ptr<TestFleet> fleet(new TestFleet(label, options, /*owner=*/false));
  absl::StatusOr<std::map<std::string, std::string>> state =
      readKeyValues(fleet->stateDir() + "/fleet");
  if (!state.ok()) {
    return absl::NotFoundError(
        absl::StrCat("no fleet labelled '", label, "' under ", options.state_root));
  }
  for (const std::string& file : listDir(fleet->stateDir() + "/hosts")) {
    if (file.find('.') != std::string::npos) continue;  // NAME.exit, NAME.tmp
    absl::StatusOr<std::map<std::string, std::string>> kv =
        readKeyValues(fleet->stateDir() + "/hosts/" + file);
    if (!kv.ok()) continue;
    const int index = static_cast<int>(numberOr(*kv, "index", 0));
    if (!validHostName(file) || index < 1 || index > kMaxHostIndex) continue;
    std::unique_ptr<TestHost> host(new TestHost(fleet.get(), file, index));
    host->init_pid_ = static_cast<pid_t>(numberOr(*kv, "init_pid", 0));
    host->init_start_ = static_cast<unsigned long long>(numberOr(*kv, "init_start", 0));
    host->init_pidfd_ = openVerified(host->init_pid_, host->init_start_);
    if (host->init_pidfd_ < 0 && host->init_start_ == 0) host->init_pid_ = 0;
    fleet->hosts_[file] = std::move(host);
  }
  return fleet;
}

absl::Status TestFleet::sweep(const std::string& label, FleetOptions options) {
  if (!validLabel(label))
    return absl::InvalidArgumentError(absl::StrCat("bad fleet label '", label, "'"));
  options = resolve(std::move(options));
  const std::string state_dir = absl::StrCat(options.state_root, "/", label);
  absl::Status status;
  // Inits first: each takes its whole PID namespace with it.
  std::vector<int> pidfds;
  for (const std::string& file : listDir(state_dir + "/hosts")) {
    if (file.find('.') != std::string::npos) continue;
    absl::StatusOr<std::map<std::string, std::string>> kv =
        readKeyValues(absl::StrCat(state_dir, "/hosts/", file));
    if (!kv.ok()) continue;
    const int fd = openVerified(static_cast<pid_t>(numberOr(*kv, "init_pid", 0)),
                                static_cast<unsigned long long>(numberOr(*kv, "init_start", 0)));
    if (fd >= 0) pidfds.push_back(fd);
  }
  keepFirst(status, killAll(pidfds, absl::StrCat("an init of fleet ", label)));
  // Then anything else still inside the fleet's network namespaces, and the namespaces.
  const std::string prefix = absl::StrCat("wt-", label, "-");
  std::vector<std::string> namespaces;
  for (const std::string& name : listDir(kNetnsDir)) {
    if (absl::StartsWith(name, prefix)) namespaces.push_back(name);
  }
  for (const std::string& name : namespaces) {
    for (pid_t pid : pidsInNetns(absl::StrCat(kNetnsDir, "/", name))) {
      const int fd = openVerified(pid, 0);
      if (fd >= 0) pidfds.push_back(fd);
    }
  }
  keepFirst(status, killAll(pidfds, absl::StrCat("a process of fleet ", label)));
  for (const std::string& name : namespaces) keepFirst(status, ip({"netns", "del", name}));
  keepFirst(status, removeTree(absl::StrCat(options.scratch_root, "/", label)));
  keepFirst(status, removeTree(state_dir));
  return status;
}

std::vector<FleetSummary> TestFleet::list(FleetOptions options) {
  options = resolve(std::move(options));
  std::vector<FleetSummary> fleets;
  for (const std::string& label : listDir(options.state_root)) {
    absl::StatusOr<std::map<std::string, std::string>> kv =
        readKeyValues(absl::StrCat(options.state_root, "/", label, "/fleet"));
    if (!kv.ok() || !validLabel(label)) continue;
    FleetSummary f;
    f.label = label;
    f.owner_pid = static_cast<pid_t>(numberOr(*kv, "owner_pid", 0));
    f.owner_alive =
        alive(f.owner_pid, static_cast<unsigned long long>(numberOr(*kv, "owner_start", 0)));
    f.keeper = numberOr(*kv, "keeper", 0) == 1;
    for (const std::string& file :
         listDir(absl::StrCat(options.state_root, "/", label, "/hosts"))) {
      if (file.find('.') == std::string::npos) f.hosts.push_back(file);
    }
    fleets.push_back(std::move(f));
  }
  return fleets;
}

TestFleet::~TestFleet() {
  if (!owner_) return;
  absl::Status s = destroy();
  if (!s.ok()) {
    std::fprintf(stderr, "warden test fleet %s: teardown incomplete: %s\n", label_.c_str(),
                 std::string(s.message()).c_str());
  }
}

absl::StatusOr<TestHost*> TestFleet::addHost(std::string name, int index) {
  if (!owner_) {
    return absl::FailedPreconditionError("only the fleet's owning process can add hosts");
  }
  if (destroyed_) return absl::FailedPreconditionError("the fleet was destroyed");
  if (!validHostName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad host name '", name, "' (1-32 of a-z 0-9 -, not 'lan')"));
  }
  if (index < 1 || index > kMaxHostIndex) {
    return absl::InvalidArgumentError(absl::StrCat("host index ", index, " not in 1-254"));
  }
  if (hosts_.count(name) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("host ", name, " exists"));
  }
  for (const auto& [other, h] : hosts_) {
    if (h->index() == index) {
      return absl::AlreadyExistsError(absl::StrCat("index ", index, " is taken by ", other));
    }
  }
  std::unique_ptr<TestHost> host(new TestHost(this, name, index));
  TestHost* raw = host.get();
  // Registered (and recorded) before anything exists, so a failure half-way is cleaned up.
  hosts_[name] = std::move(host);
  absl::Status s = makeDirs(raw->fleetDir());
  if (s.ok()) s = raw->writeState();
  if (s.ok()) s = raw->setUpNetwork();
  if (s.ok()) s = raw->startInit();
  if (!s.ok()) {
    (void)removeHost(name);
    return s;
  }
  return raw;
}

TestHost* TestFleet::host(const std::string& name) const {
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : it->second.get();
}

std::vector<TestHost*> TestFleet::hosts() const {
  std::vector<TestHost*> all;
  for (const auto& [name, h] : hosts_) all.push_back(h.get());
  std::sort(all.begin(), all.end(),
            [](const TestHost* a, const TestHost* b) { return a->index() < b->index(); });
  return all;
}

absl::Status TestFleet::removeHost(const std::string& name) {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) return absl::NotFoundError(absl::StrCat("no host ", name));
  TestHost& h = *it->second;
  absl::Status status;
  if (owner_) {
    keepFirst(status, h.killInit());
  } else if (h.init_pidfd_ >= 0) {
    std::vector<int> fds = {h.init_pidfd_};
    h.init_pidfd_ = -1;
    keepFirst(status, killAll(fds, absl::StrCat("the init of ", name)));
  }
  std::vector<int> pidfds;
  for (pid_t pid : pidsInNetns(h.netnsPath())) {
    const int fd = openVerified(pid, 0);
    if (fd >= 0) pidfds.push_back(fd);
  }
  keepFirst(status, killAll(pidfds, absl::StrCat("a process of ", name)));
  // Deleting the lan end first removes the pair at once; a deleted namespace's devices go
  // away asynchronously and would block the name vhINDEX for a moment.
  (void)ip({"-n", lanNetns(), "link", "del", absl::StrCat("vh", h.index())});
  struct stat st {};
  if (::stat(h.netnsPath().c_str(), &st) == 0) keepFirst(status, ip({"netns", "del", h.netns()}));
  keepFirst(status, removeTree(h.dir()));
  ::unlink(h.statePath().c_str());
  ::unlink((h.statePath() + ".exit").c_str());
  hosts_.erase(it);
  return status;
}

absl::Status TestFleet::destroy() {
  if (destroyed_) return absl::OkStatus();
  absl::Status status;
  for (auto& [name, h] : hosts_) {
    if (owner_) keepFirst(status, h->killInit());
  }
  keepFirst(status, sweep(label_, options_));
  hosts_.clear();
  destroyed_ = true;
  return status;
}

// ---- probes -------------------------------------------------------------------------------

absl::StatusOr<int> socketInHost(const TestHost& host, int domain, int type, int protocol) {
  int fd = -1;
  int err = 0;
  const char* step = "";
  const std::string path = host.netnsPath();
  try {
    // setns(2) changes only the calling thread's network namespace; the socket keeps the
    // namespace it was made in.
    std::thread maker([&] {
      const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0) {
        err = errno;
        step = "open the network namespace";
        return;
      }
      if (::setns(ns, CLONE_NEWNET) < 0) {
        err = errno;
        step = "setns(network)";
      } else {
        fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
        if (fd < 0) {
          err = errno;
          step = "create a socket";
        }
      }
      ::close(ns);
    });
    maker.join();
  } catch (const std::system_error& e) {
    return absl::InternalError(absl::StrCat("Failed to start a thread: ", e.what()));
  }
  if (fd < 0) return errnoStatus(err, absl::StrCat(step, " in ", host.name()));
  return fd;
}

const char* toString(ConnectOutcome outcome) {
  switch (outcome) {
    case ConnectOutcome::kConnected:
      return "connected";
    case ConnectOutcome::kRefused:
      return "refused";
    case ConnectOutcome::kTimedOut:
      return "timed out";
    case ConnectOutcome::kUnreachable:
      return "unreachable";
    case ConnectOutcome::kError:
      break;
  }
  return "error";
}

ConnectOutcome tcpProbe(const TestHost& from, const std::string& addr, std::uint16_t port,
                        absl::Duration timeout) {
  int fd = -1;
  const ConnectOutcome outcome = connectFrom(from, addr, port, timeout, &fd);
  if (fd >= 0) ::close(fd);
  return outcome;
}

bool tcpConnect(const TestHost& from, const std::string& addr, std::uint16_t port,
                absl::Duration timeout) {
  return tcpProbe(from, addr, port, timeout) == ConnectOutcome::kConnected;
}

bool ping(const TestHost& from, const std::string& addr, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int attempts = std::max<int>(1, static_cast<int>(absl::ToInt64Seconds(timeout)) + 1);
  for (int i = 0; i < attempts; ++i) {
    absl::StatusOr<RunResult> r =
        from.exec({"ping", "-n", "-q", "-c1", "-W1", addr}, absl::Seconds(5));
    if (r.ok() && r->exit_code == 0) return true;
    if (!r.ok() || absl::Now() + absl::Seconds(1) > deadline) return false;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<TcpEchoServer>> TcpEchoServer::start(const TestHost& host,
                                                                    const std::string& addr,
                                                                    std::uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (addr.empty()) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_any;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  } else {
    absl::Status s = parseAddress(addr, port, &ss, &len);
    if (!s.ok()) return s;
  }
  absl::StatusOr<int> fd = socketInHost(host, ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<TcpEchoServer> server(new TcpEchoServer());
  server->listen_fd_ = *fd;
  const int on = 1;
  const int off = 0;
  ::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (addr.empty()) ::setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  if (::bind(*fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    return errnoStatus(errno, absl::StrCat("bind [", addr, "]:", port, " in ", host.name()));
  }
  if (::listen(*fd, kMaxEchoClients) < 0) return errnoStatus(errno, "listen");
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) < 0) {
    return errnoStatus(errno, "getsockname");
  }
  server->port_ =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  server->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (server->wake_fd_ < 0) return errnoStatus(errno, "eventfd");
  try {
    server->thread_ = std::thread([s = server.get()] { s->serve(); });
  } catch (const std::system_error& e) {
    return absl::InternalError(absl::StrCat("Failed to start a thread: ", e.what()));
  }
  return server;
}

TcpEchoServer::~TcpEchoServer() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void TcpEchoServer::serve() {
  std::vector<int> clients;
  char buf[16384];
  // Ends when the destructor wakes it; the bound only guards against a runaway loop.
  for (long round = 0; round < (1L << 40) && !stop_; ++round) {
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (int c : clients) fds.push_back({c, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    if (fds[0].revents != 0) break;
    std::vector<int> keep;
    for (std::size_t i = 2; i < fds.size(); ++i) {
      const int c = fds[i].fd;
      if (fds[i].revents == 0) {
        keep.push_back(c);
        continue;
      }
      const ssize_t n = ::read(c, buf, sizeof(buf));
      if (n > 0) {
        // Best effort: echo lines are small, so the send buffer has room.
        [[maybe_unused]] ssize_t sent = ::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
        keep.push_back(c);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        keep.push_back(c);
      } else {
        ::close(c);
      }
    }
    if (fds[1].revents != 0) {
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) {
        ++accepted_;
        if (keep.size() < kMaxEchoClients) {
          keep.push_back(c);
        } else {
          ::close(c);
        }
      }
    }
    clients = std::move(keep);
  }
  for (int c : clients) ::close(c);
}

absl::StatusOr<std::unique_ptr<TcpConnection>> TcpConnection::open(const TestHost& from,
                                                                   const std::string& addr,
                                                                   std::uint16_t port,
                                                                   absl::Duration timeout) {
  int fd = -1;
  const ConnectOutcome outcome = connectFrom(from, addr, port, timeout, &fd);
  if (outcome != ConnectOutcome::kConnected) {
    return absl::UnavailableError(absl::StrCat("TCP connect from ", from.name(), " to [", addr,
                                               "]:", port, ": ", toString(outcome)));
  }
  std::unique_ptr<TcpConnection> c(new TcpConnection());
  c->fd_ = fd;
  return c;
}

TcpConnection::~TcpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool TcpConnection::echoes(const std::string& line, absl::Duration timeout) {
  const std::string wanted = line + "\n";
  if (::send(fd_, wanted.data(), wanted.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
      static_cast<ssize_t>(wanted.size())) {
    return false;
  }
  const absl::Time deadline = absl::Now() + timeout;
  char buf[16384];
  for (int i = 0; i < 100000; ++i) {
    const std::size_t at = received_.find(wanted);
    if (at != std::string::npos) {
      received_.erase(0, at + wanted.size());
      return true;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    struct pollfd p {
      fd_, POLLIN, 0
    };
    const int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left) + 1));
    if (r < 0 && errno != EINTR) return false;
    if (r <= 0) continue;
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      received_.append(buf, static_cast<std::size_t>(n));
      if (received_.size() > kMaxCapturedOutput) received_.erase(0, received_.size() / 2);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      return false;  // closed or reset
    }
  }
  return false;
}

// ---- privileges ---------------------------------------------------------------------------

absl::Status checkPrivileges(const FleetOptions& options) {
  if (::geteuid() != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("test hosts need root (running as uid ", ::geteuid(), ")"));
  }
  static const absl::Status namespaces = [] {
    const pid_t pid = ::fork();
    if (pid < 0) return errnoStatus(errno, "fork");
    if (pid == 0) {
      _exit(::unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS) == 0
                ? 0
                : errno & 0xff);
    }
    int wstatus = 0;
    for (int i = 0; i < 1000; ++i) {
      if (::waitpid(pid, &wstatus, 0) == pid || errno != EINTR) break;
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
      return errnoStatus(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : EINVAL,
                         "unshare network, mount, PID and UTS namespaces");
    }
    return absl::OkStatus();
  }();
  if (!namespaces.ok()) return namespaces;
  if (absl::StatusOr<std::string> p = findExecutable("ip"); !p.ok()) return p.status();
  if (absl::StatusOr<std::string> p = initPath(options); !p.ok()) return p.status();
  return absl::OkStatus();
}

bool privilegesRequired() { return envOr("WARDEN_REQUIRE_PRIVILEGED", "") == "1"; }

}  // namespace warden::testing
