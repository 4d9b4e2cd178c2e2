// warden-testfleet: the test fleet (tests/support/fleet.h) for scripts.
//
//   warden-testfleet [--state-dir DIR] [--scratch-dir DIR] COMMAND
//     up --label L [--ttl SECONDS] HOST=INDEX...   make a fleet that outlives the command
//     show --label L                                one line per host
//     exec --label L HOST -- ARGV...                run ARGV inside HOST, stdio passed through
//     spawn --label L HOST --log FILE -- ARGV...    start ARGV inside HOST in the background
//     down --label L [--force]                      tear it down (exit 0 if nothing is there)
//     list                                          every recorded fleet
//
// `up` forks a keeper daemon (own session) that creates the fleet, so it is the parent of
// the hosts' inits and records how each one ends (STATE/L/hosts/HOST.exit), then waits for
// `down` (SIGTERM), or --ttl, and tears the fleet down. Host lines, as printed by up and show:
//   NAME INDEX NETNS IPV4 IPV6 INIT_PID DIR
// exec exits with the command's status (a command killed by a signal kills exec with it).
// spawn prints the command's pid (in the caller's PID namespace); the host's init reaps it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/fleet.h"
#include "tests/support/process.h"

namespace {

using warden::testing::ExitStatus;
using warden::testing::FleetOptions;
using warden::testing::pidfdOpen;
using warden::testing::pidfdSendSignal;
using warden::testing::readReply;
using warden::testing::TestFleet;
using warden::testing::TestHost;

constexpr absl::Duration kUpTimeout = absl::Seconds(120);
constexpr absl::Duration kKeeperStopTimeout = absl::Seconds(30);

int fail(const std::string& message) {
  std::fprintf(stderr, "warden-testfleet: %s\n", message.c_str());
  return 1;
}

int fail(const absl::Status& status) { return fail(std::string(status.message())); }

std::string hostLine(const TestHost& h) {
  return absl::StrCat(h.name(), " ", h.index(), " ", h.netns(), " ", h.ipv4(), " ", h.ipv6(), " ",
                      h.initPid(), " ", h.dir(), "\n");
}

void writeAll(int fd, const std::string& text) {
  std::size_t done = 0;
  for (int i = 0; i < 10000 && done < text.size(); ++i) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<std::size_t>(n);
  }
}

// The keeper: creates the fleet, reports to `report_fd`, then waits for SIGTERM (or the TTL).
[[noreturn]] void keep(const std::string& label, const FleetOptions& options,
                       const std::vector<std::pair<std::string, int>>& hosts, long ttl_seconds,
                       int report_fd) {
  ::setsid();
  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, 0);
    ::dup2(null_fd, 1);
    ::dup2(null_fd, 2);
  }
  sigset_t wanted;
  sigemptyset(&wanted);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&wanted, sig);
  ::sigprocmask(SIG_BLOCK, &wanted, nullptr);

  FleetOptions keeper_options = options;
  keeper_options.keeper = true;
  absl::StatusOr<std::unique_ptr<TestFleet>> fleet = TestFleet::create(label, keeper_options);
  if (!fleet.ok()) {
    writeAll(report_fd, absl::StrCat("error: ", fleet.status().message(), "\n"));
    _exit(1);
  }
  const int log_fd = ::open(((*fleet)->stateDir() + "/keeper.log").c_str(),
                            O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd >= 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
  }
  std::string lines;
  for (const auto& [name, index] : hosts) {
    absl::StatusOr<TestHost*> h = (*fleet)->addHost(name, index);
    if (!h.ok()) {
      writeAll(report_fd, absl::StrCat("error: ", h.status().message(), "\n"));
      fleet->reset();
      _exit(1);
    }
    lines += hostLine(**h);
  }
  writeAll(report_fd, lines + "ok\n");
  ::close(report_fd);

  const absl::Time end = absl::Now() + absl::Seconds(ttl_seconds);
  for (int round = 0; round < 100'000'000 && absl::Now() < end; ++round) {
    const struct timespec tick { 1, 0 };
    const int sig = ::sigtimedwait(&wanted, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      std::fprintf(stderr, "keeper: %s, tearing down\n", strsignal(sig));
      break;
    }
    // SIGCHLD or a tick: record how any init ended (TestHost writes HOST.exit).
    for (TestHost* h : (*fleet)->hosts()) (void)h->initExitStatus();
  }
  fleet->reset();
  _exit(0);
}

int up(const std::string& label, const FleetOptions& options, const std::vector<std::string>& specs,
       long ttl_seconds) {
  std::vector<std::pair<std::string, int>> hosts;
  for (const std::string& spec : specs) {
    const std::size_t eq = spec.find('=');
    int index = 0;
    if (eq == std::string::npos || !absl::SimpleAtoi(spec.substr(eq + 1), &index)) {
      return fail(absl::StrCat("bad host '", spec, "', expected NAME=INDEX"));
    }
    hosts.emplace_back(spec.substr(0, eq), index);
  }
  int report[2];
  if (::pipe2(report, O_CLOEXEC) < 0) return fail(absl::StrCat("pipe: ", strerror(errno)));
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return fail(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    ::close(report[0]);
    keep(label, options, hosts, ttl_seconds, report[1]);
  }
  ::close(report[1]);
  const std::string reply = readReply(report[0], absl::Now() + kUpTimeout, /*first_line=*/false);
  ::close(report[0]);
  const std::size_t ok = reply.rfind("ok\n");
  if (ok == std::string::npos || ok + 3 != reply.size()) {
    return fail(reply.empty() ? "the keeper did not report" : reply.substr(0, reply.size() - 1));
  }
  std::fputs(reply.substr(0, ok).c_str(), stdout);
  return 0;
}

int down(const std::string& label, const FleetOptions& options, bool force) {
  std::vector<warden::testing::FleetSummary> all = TestFleet::list(options);
  for (const auto& f : all) {
    if (f.label != label || !f.owner_alive) continue;
    if (!f.keeper && !force) {
      return fail(absl::StrCat("fleet ", label, " is owned by running pid ", f.owner_pid,
                               " (a test?); use --force to tear it down anyway"));
    }
    if (f.keeper) {
      const int fd = pidfdOpen(f.owner_pid, 0);
      if (fd >= 0) {
        pidfdSendSignal(fd, SIGTERM);
        struct pollfd p {
          fd, POLLIN, 0
        };
        if (::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kKeeperStopTimeout))) <= 0) {
          pidfdSendSignal(fd, SIGKILL);
        }
        ::close(fd);
      }
    }
  }
  // Whatever the keeper left (or everything, if there was none).
  const absl::Status s = TestFleet::sweep(label, options);
  if (!s.ok()) return fail(s);
  return 0;
}

TestHost* findHost(TestFleet& fleet, const std::string& name, int* code) {
  TestHost* h = fleet.host(name);
  if (h == nullptr) {
    *code = fail(absl::StrCat("fleet ", fleet.label(), " has no host ", name));
  } else if (!h->up()) {
    *code = fail(absl::StrCat("host ", name, " is down"));
    h = nullptr;
  }
  return h;
}

[[noreturn]] void exitLike(const ExitStatus& status) {
  std::fflush(nullptr);
  if (status.signaled()) {
    ::signal(status.term_signal, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, status.term_signal);
    ::sigprocmask(SIG_UNBLOCK, &set, nullptr);
    ::raise(status.term_signal);
  }
  std::exit(status.exit_code);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Test fleet of namespace hosts for Warden's tests and scripts"};
  app.require_subcommand(1);
  FleetOptions options;
  app.add_option("--state-dir", options.state_root,
                 "Where fleets record their state (default /run/warden-testfleet)");
  app.add_option("--scratch-dir", options.scratch_root,
                 "Where host directories go (default /tmp/warden-testfleet)");
  std::string label;
  std::string host;
  std::vector<std::string> command;

  CLI::App* up_cmd = app.add_subcommand("up", "Create a fleet that outlives this command");
  std::vector<std::string> specs;
  long ttl = 24 * 3600;
  up_cmd->add_option("--label", label, "Fleet label")->required();
  up_cmd->add_option("--ttl", ttl, "Tear down after this many seconds")->capture_default_str();
  up_cmd->add_option("hosts", specs, "NAME=INDEX")->required();

  CLI::App* show_cmd = app.add_subcommand("show", "Print the hosts of a fleet");
  show_cmd->add_option("--label", label, "Fleet label")->required();

  CLI::App* exec_cmd = app.add_subcommand("exec", "Run a command inside a host");
  exec_cmd->add_option("--label", label, "Fleet label")->required();
  exec_cmd->add_option("host", host, "Host name")->required();
  exec_cmd->add_option("command", command, "ARGV after --")->required();

  CLI::App* spawn_cmd = app.add_subcommand("spawn", "Start a background command inside a host");
  std::string log_path;
  spawn_cmd->add_option("--label", label, "Fleet label")->required();
  spawn_cmd->add_option("--log", log_path, "Output file")->required();
  spawn_cmd->add_option("host", host, "Host name")->required();
  spawn_cmd->add_option("command", command, "ARGV after --")->required();

  CLI::App* down_cmd = app.add_subcommand("down", "Tear a fleet down");
  bool force = false;
  down_cmd->add_option("--label", label, "Fleet label")->required();
  down_cmd->add_flag("--force", force, "Even if a live process (not a keeper) owns it");

  app.add_subcommand("list", "List recorded fleets");

  CLI11_PARSE(app, argc, argv);

  if (up_cmd->parsed()) return up(label, options, specs, ttl);
  if (down_cmd->parsed()) return down(label, options, force);
  if (app.got_subcommand("list")) {
    for (const auto& f : TestFleet::list(options)) {
      std::string hosts;
      for (const std::string& h : f.hosts) absl::StrAppend(&hosts, hosts.empty() ? "" : ",", h);
      std::printf("%s owner=%d%s%s hosts=%s\n", f.label.c_str(), f.owner_pid,
                  f.owner_alive ? "" : "(gone)", f.keeper ? " keeper" : "", hosts.c_str());
    }
    return 0;
  }
  absl::StatusOr<std::unique_ptr<TestFleet>> fleet = TestFleet::attach(label, options);
  if (!fleet.ok()) return fail(fleet.status());
  if (show_cmd->parsed()) {
    for (TestHost* h : (*fleet)->hosts()) std::fputs(hostLine(*h).c_str(), stdout);
    return 0;
  }
  int code = 1;
  TestHost* h = findHost(**fleet, host, &code);
  if (h == nullptr) return code;
  if (exec_cmd->parsed()) {
    absl::StatusOr<ExitStatus> status = warden::testing::runInteractive(h->target(), command);
    if (!status.ok()) return fail(status.status());
    fleet->reset();
    exitLike(*status);
  }
  absl::StatusOr<pid_t> pid = warden::testing::startDetached(h->target(), command, log_path);
  if (!pid.ok()) return fail(pid.status());
  std::printf("%d\n", *pid);
  return 0;
}
