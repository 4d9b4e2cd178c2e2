// The test-host harness itself (tests/support/fleet.h, process.h): hosts are reachable,
// isolated from the real host, torn down completely, shareable by label, and report how their
// init ended.
#include "tests/support/fleet.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace warden::testing {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string link(const std::string& path) {
  std::error_code ec;
  return std::filesystem::read_symlink(path, ec).string();
}

std::vector<std::string> netnsWithPrefix(const std::string& prefix) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    const std::string name = e.path().filename().string();
    if (absl::StartsWith(name, prefix)) found.push_back(name);
  }
  return found;
}

std::string testfleetBinary() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string next_to_us = (self.parent_path() / "warden-testfleet").string();
  if (!ec && exists(next_to_us)) return next_to_us;
  return std::string(WARDEN_BIN_DIR) + "/warden-testfleet";
}

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override { WARDEN_REQUIRE_PRIVILEGES(); }

  // A fleet with `hosts` (name, index); nullptr (and a test failure) if it can't be made.
  std::unique_ptr<TestFleet> makeFleet(const std::string& label,
                                       const std::vector<std::pair<std::string, int>>& hosts) {
    absl::StatusOr<std::unique_ptr<TestFleet>> fleet = TestFleet::create(label);
    if (!fleet.ok()) {
      ADD_FAILURE() << fleet.status();
      return nullptr;
    }
    for (const auto& [name, index] : hosts) {
      absl::StatusOr<TestHost*> h = (*fleet)->addHost(name, index);
      if (!h.ok()) {
        ADD_FAILURE() << h.status();
        return nullptr;
      }
    }
    return std::move(*fleet);
  }
};

TEST_F(FleetTest, HostsReachEachOtherOverIpv4AndIpv6) {
  auto fleet = makeFleet("fleet_reach", {{"host-1", 1}, {"host-2", 2}});
  ASSERT_NE(fleet, nullptr);
  TestHost& a = *fleet->host("host-1");
  TestHost& b = *fleet->host("host-2");
  EXPECT_EQ(a.ipv4(), "198.18.0.1");
  EXPECT_EQ(b.ipv6(), "2001:db8::2");

  EXPECT_TRUE(ping(a, b.ipv4(), absl::Seconds(5)));
  EXPECT_TRUE(ping(a, b.ipv6(), absl::Seconds(5)));
  EXPECT_TRUE(ping(b, a.ipv4(), absl::Seconds(5)));
  EXPECT_TRUE(ping(b, a.ipv6(), absl::Seconds(5)));
  // An address nobody has: no reply, and the probe gives up in time.
  const absl::Time start = absl::Now();
  EXPECT_FALSE(ping(a, "198.18.0.99", absl::Seconds(1)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  absl::StatusOr<std::unique_ptr<TcpEchoServer>> server = TcpEchoServer::start(b);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::uint16_t port = (*server)->port();
  ASSERT_NE(port, 0);
  EXPECT_TRUE(tcpConnect(a, b.ipv4(), port));
  EXPECT_TRUE(tcpConnect(a, b.ipv6(), port));
  EXPECT_EQ(tcpProbe(a, b.ipv4(), port == 65535 ? 65534 : port + 1), ConnectOutcome::kRefused);

  absl::StatusOr<std::unique_ptr<TcpConnection>> conn = TcpConnection::open(a, b.ipv6(), port);
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_TRUE((*conn)->echoes("first"));
  EXPECT_TRUE((*conn)->echoes("second"));
  EXPECT_GE((*server)->accepted(), 3);

  // The test addresses exist inside the fleet only, never on the real host.
  absl::StatusOr<RunResult> real = run({"ip", "-o", "addr", "show"});
  ASSERT_TRUE(real.ok()) << real.status();
  EXPECT_FALSE(absl::StrContains(real->out, b.ipv4() + "/")) << real->out;
}

TEST_F(FleetTest, HostHasItsNameItsInitAndItsOwnPidNamespace) {
  auto fleet = makeFleet("fleet_ident", {{"host-42", 42}});
  ASSERT_NE(fleet, nullptr);
  TestHost& h = *fleet->host("host-42");

  absl::StatusOr<RunResult> name = h.exec({"hostname"});
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->out, "host-42\n");
  EXPECT_EQ(name->exit_code, 0);

  absl::StatusOr<RunResult> init = h.exec({"readlink", "/proc/1/exe"});
  ASSERT_TRUE(init.ok()) << init.status();
  EXPECT_TRUE(absl::EndsWith(absl::StripTrailingAsciiWhitespace(init->out), "/warden-test-init"))
      << init->out;
  // Seen from outside, that PID 1 is initPid().
  EXPECT_TRUE(
      absl::EndsWith(link(absl::StrCat("/proc/", h.initPid(), "/exe")), "/warden-test-init"));

  // Only the host's processes are visible inside: far fewer than on the real host.
  absl::StatusOr<RunResult> ps = h.exec({"ls", "/proc"});
  ASSERT_TRUE(ps.ok()) << ps.status();
  int pids = 0;
  for (absl::string_view entry : absl::StrSplit(ps->out, '\n')) {
    int pid = 0;
    if (absl::SimpleAtoi(entry, &pid)) ++pids;
  }
  EXPECT_GE(pids, 2);  // init and ls
  EXPECT_LT(pids, 10);

  absl::StatusOr<std::unique_ptr<Process>> sleeper = h.spawn({"sleep", "30"});
  ASSERT_TRUE(sleeper.ok()) << sleeper.status();
  EXPECT_TRUE((*sleeper)->running());
  EXPECT_GT((*sleeper)->hostPid(), 1);
  EXPECT_NE((*sleeper)->hostPid(), (*sleeper)->pid());
  const auto pidNs = [](pid_t pid) { return link(absl::StrCat("/proc/", pid, "/ns/pid")); };
  EXPECT_EQ(pidNs((*sleeper)->pid()), pidNs(h.initPid()));
  EXPECT_NE(pidNs((*sleeper)->pid()), pidNs(::getpid()));
  ASSERT_TRUE((*sleeper)->signal(SIGTERM).ok());
  absl::StatusOr<ExitStatus> ended = (*sleeper)->wait(absl::Seconds(5));
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->term_signal, SIGTERM);
}

TEST_F(FleetTest, PrivateShadowAndUtmpLeaveTheRealFilesAlone) {
  auto fleet = makeFleet("fleet_files", {{"host-1", 1}, {"host-2", 2}});
  ASSERT_NE(fleet, nullptr);
  TestHost& h = *fleet->host("host-1");
  const std::string real_shadow = slurp("/etc/shadow");
  const bool real_utmp = exists("/run/utmp");
  const std::string real_utmp_content = real_utmp ? slurp("/run/utmp") : "";

  absl::StatusOr<std::string> shadow = h.readFile("/etc/shadow");
  ASSERT_TRUE(shadow.ok()) << shadow.status();
  EXPECT_EQ(*shadow, real_shadow);  // a copy of the real one to start with

  const std::string line = "wardentest:!:19000:0:99999:7:::\n";
  ASSERT_TRUE(h.writeFile("/etc/shadow", *shadow + line).ok());
  // Write-to-temporary-and-rename, as the agent does, works on the private copy.
  absl::StatusOr<RunResult> renamed =
      h.exec({"sh", "-c",
              "cp -p /etc/shadow /etc/shadow.tmp && echo 'renamed:!:1::::::' >> /etc/shadow.tmp "
              "&& mv /etc/shadow.tmp /etc/shadow"});
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(renamed->exit_code, 0) << renamed->err;
  absl::StatusOr<std::string> after = h.readFile("/etc/shadow");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(absl::StrContains(*after, line));
  EXPECT_TRUE(absl::StrContains(*after, "renamed:!:1::::::"));

  ASSERT_TRUE(h.writeFile("/run/utmp", std::string(384, 'x')).ok());
  absl::StatusOr<std::string> utmp = h.readFile("/run/utmp");
  ASSERT_TRUE(utmp.ok()) << utmp.status();
  EXPECT_EQ(utmp->size(), 384u);

  EXPECT_EQ(slurp("/etc/shadow"), real_shadow);
  EXPECT_FALSE(exists("/etc/shadow.tmp"));
  EXPECT_EQ(exists("/run/utmp"), real_utmp);
  if (real_utmp) {
    EXPECT_EQ(slurp("/run/utmp"), real_utmp_content);
  }
  // Each host has its own copy.
  absl::StatusOr<std::string> other = fleet->host("host-2")->readFile("/etc/shadow");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(*other, real_shadow);
  absl::StatusOr<std::string> other_utmp = fleet->host("host-2")->readFile("/run/utmp");
  ASSERT_TRUE(other_utmp.ok()) << other_utmp.status();
  EXPECT_EQ(*other_utmp, "");
}

TEST_F(FleetTest, DestroyingTheFleetLeavesNothingBehind) {
  auto fleet = makeFleet("fleet_teardown", {{"host-1", 1}, {"host-2", 2}});
  ASSERT_NE(fleet, nullptr);
  const std::string prefix = fleet->netnsPrefix();
  const std::string state = fleet->stateDir();
  const std::string scratch = fleet->scratchDir();
  std::vector<std::pair<pid_t, unsigned long long>> inits;
  std::vector<pid_t> processes;
  std::vector<std::unique_ptr<Process>> sleepers;
  for (TestHost* h : fleet->hosts()) {
    inits.emplace_back(h->initPid(), processStartTime(h->initPid()));
    // A daemon that left its session: it must die with the host all the same.
    absl::StatusOr<pid_t> daemon = startDetached(h->target(), {"sleep", "60"}, "/dev/null");
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    processes.push_back(*daemon);
    absl::StatusOr<std::unique_ptr<Process>> sleeper = h->spawn({"sleep", "60"});
    ASSERT_TRUE(sleeper.ok()) << sleeper.status();
    sleepers.push_back(std::move(*sleeper));
  }
  EXPECT_EQ(netnsWithPrefix(prefix).size(), 3u);  // lan and two hosts
  EXPECT_TRUE(exists(state));
  EXPECT_TRUE(exists(scratch));

  fleet.reset();

  EXPECT_TRUE(netnsWithPrefix(prefix).empty());
  for (const auto& [pid, start] : inits) {
    EXPECT_NE(processStartTime(pid), start) << "init " << pid << " survived";
  }
  for (const pid_t pid : processes) {
    const std::string stat = slurp(absl::StrCat("/proc/", pid, "/cmdline"));
    EXPECT_FALSE(absl::StartsWith(stat, "sleep")) << "pid " << pid << " survived";
  }
  for (auto& s : sleepers) EXPECT_FALSE(s->running());
  EXPECT_FALSE(exists(state));
  EXPECT_FALSE(exists(scratch));
}

TEST_F(FleetTest, FleetCanBeAttachedByLabel) {
  auto fleet = makeFleet("fleet_attach", {{"host-1", 1}, {"host-2", 2}});
  ASSERT_NE(fleet, nullptr);
  {
    absl::StatusOr<std::unique_ptr<TestFleet>> attached = TestFleet::attach("fleet_attach");
    ASSERT_TRUE(attached.ok()) << attached.status();
    EXPECT_FALSE((*attached)->owner());
    ASSERT_EQ((*attached)->hosts().size(), 2u);
    TestHost* h = (*attached)->host("host-2");
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->initPid(), fleet->host("host-2")->initPid());
    EXPECT_EQ(h->netns(), fleet->host("host-2")->netns());
    EXPECT_EQ(h->dir(), fleet->host("host-2")->dir());
    EXPECT_TRUE(h->up());
    absl::StatusOr<RunResult> name = h->exec({"hostname"});
    ASSERT_TRUE(name.ok()) << name.status();
    EXPECT_EQ(name->out, "host-2\n");
    EXPECT_TRUE(ping(*(*attached)->host("host-1"), h->ipv4(), absl::Seconds(5)));
    EXPECT_EQ((*attached)->addHost("host-3", 3).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
  // Dropping the attached view left the fleet alone.
  EXPECT_TRUE(fleet->host("host-2")->up());
  absl::StatusOr<RunResult> name = fleet->host("host-2")->exec({"hostname"});
  ASSERT_TRUE(name.ok()) << name.status();

  // A second owner for the same label is refused while this one lives.
  EXPECT_EQ(TestFleet::create("fleet_attach").status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(TestFleet::attach("fleet_nosuch").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FleetTest, HowTheInitEndedIsReported) {
  auto fleet = makeFleet("fleet_down", {{"poweroff", 1}, {"restart", 2}, {"term", 3}});
  ASSERT_NE(fleet, nullptr);
  TestHost& poweroff = *fleet->host("poweroff");
  TestHost& restart = *fleet->host("restart");
  TestHost& term = *fleet->host("term");
  EXPECT_FALSE(poweroff.initExitStatus().has_value());

  ASSERT_EQ(::kill(poweroff.initPid(), SIGINT), 0);
  ASSERT_EQ(::kill(restart.initPid(), SIGHUP), 0);
  ASSERT_EQ(::kill(term.initPid(), SIGTERM), 0);

  absl::StatusOr<ExitStatus> s = poweroff.waitForInitExit(absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->term_signal, SIGINT) << s->toString();
  s = restart.waitForInitExit(absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->term_signal, SIGHUP) << s->toString();
  s = term.waitForInitExit(absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->success()) << s->toString();

  EXPECT_FALSE(poweroff.up());
  EXPECT_EQ(poweroff.exec({"true"}).status().code(), absl::StatusCode::kFailedPrecondition);
  // Another process attached to the fleet learns it too.
  absl::StatusOr<std::unique_ptr<TestFleet>> attached = TestFleet::attach("fleet_down");
  ASSERT_TRUE(attached.ok()) << attached.status();
  std::optional<ExitStatus> seen = (*attached)->host("poweroff")->initExitStatus();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->term_signal, SIGINT);

  // Power it on again: /etc is kept, the network is fresh.
  EXPECT_EQ(poweroff.writeFile("/etc/motd", "x").code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(restart.boot().ok());
  ASSERT_TRUE(restart.writeFile("/etc/warden-boot-test", "kept\n").ok());
  ASSERT_TRUE(::kill(restart.initPid(), SIGHUP) == 0);
  ASSERT_TRUE(restart.waitForInitExit().ok());
  absl::Status booted = restart.boot();
  ASSERT_TRUE(booted.ok()) << booted;
  EXPECT_TRUE(restart.up());
  absl::StatusOr<std::string> kept = restart.readFile("/etc/warden-boot-test");
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(*kept, "kept\n");
  EXPECT_FALSE(exists("/etc/warden-boot-test"));
  ASSERT_TRUE(term.boot().ok());
  EXPECT_TRUE(ping(restart, term.ipv6(), absl::Seconds(5)));
}

TEST_F(FleetTest, RunCapturesOutputAndEnforcesTimeouts) {
  absl::StatusOr<RunResult> r = run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");

  r = run({"cat"}, absl::Seconds(10), "fed on stdin");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "fed on stdin");

  r = run({"sh", "-c", "kill -KILL $$"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->term_signal, SIGKILL);

  // A background child that keeps stdout open does not hold run() up.
  const absl::Time start = absl::Now();
  r = run({"sh", "-c", "sleep 20 & echo started"}, absl::Seconds(10));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "started\n");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));

  r = run({"sh", "-c", "echo partial; exec sleep 20"}, absl::Milliseconds(300));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "partial")) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));

  EXPECT_EQ(run({"warden-no-such-command"}).status().code(), absl::StatusCode::kNotFound);
  r = run({"/etc/passwd"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied) << r.status();
}

TEST_F(FleetTest, BackgroundProcessLifecycle) {
  absl::StatusOr<std::unique_ptr<Process>> p =
      Process::start({"sh", "-c", "echo hello; echo oops >&2; exec sleep 30"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE((*p)->running());
  EXPECT_EQ((*p)->wait(absl::Milliseconds(100)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!absl::StrContains((*p)->output(), "oops") && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ((*p)->output(), "hello\noops\n");
  ASSERT_TRUE((*p)->signal(SIGINT).ok());
  absl::StatusOr<ExitStatus> s = (*p)->wait(absl::Seconds(5));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->term_signal, SIGINT);
  EXPECT_FALSE((*p)->running());

  // The destructor kills what is still running, and reaps it.
  pid_t pid = 0;
  {
    absl::StatusOr<std::unique_ptr<Process>> q = Process::start({"sleep", "30"});
    ASSERT_TRUE(q.ok()) << q.status();
    pid = (*q)->pid();
  }
  EXPECT_FALSE(exists(absl::StrCat("/proc/", pid)));
}

TEST_F(FleetTest, LeftoversOfAKilledRunAreRemovedByTheNextOne) {
  const std::string cli = testfleetBinary();
  // A fleet whose owner dies without tearing down: a keeper killed with SIGKILL.
  absl::StatusOr<RunResult> up = run({cli, "up", "--label", "fleet_stale", "h=7"});
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_EQ(up->exit_code, 0) << up->err;
  std::vector<std::string> fields = absl::StrSplit(up->out, ' ');
  ASSERT_GE(fields.size(), 6u) << up->out;
  pid_t init = 0;
  ASSERT_TRUE(absl::SimpleAtoi(fields[5], &init));
  pid_t keeper = 0;
  for (const FleetSummary& f : TestFleet::list()) {
    if (f.label == "fleet_stale") keeper = f.owner_pid;
  }
  ASSERT_GT(keeper, 0);
  ASSERT_EQ(::kill(keeper, SIGKILL), 0);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (processStartTime(keeper) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(netnsWithPrefix("wt-fleet_stale-").size(), 2u);

  auto fleet = makeFleet("fleet_stale", {{"h", 7}});
  ASSERT_NE(fleet, nullptr);
  EXPECT_NE(fleet->host("h")->initPid(), init);
  EXPECT_EQ(netnsWithPrefix("wt-fleet_stale-").size(), 2u);
  absl::StatusOr<RunResult> name = fleet->host("h")->exec({"hostname"});
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->out, "h\n");
}

TEST_F(FleetTest, CommandLineUpExecSpawnDown) {
  const std::string cli = testfleetBinary();
  const std::string label = "fleet_cli";
  (void)run({cli, "down", "--label", label});
  absl::StatusOr<RunResult> up = run({cli, "up", "--label", label, "host-1=1", "host-2=2"});
  ASSERT_TRUE(up.ok()) << up.status();
  ASSERT_EQ(up->exit_code, 0) << up->err;
  EXPECT_TRUE(absl::StartsWith(up->out, "host-1 1 wt-fleet_cli-host-1 198.18.0.1 2001:db8::1 "))
      << up->out;

  absl::StatusOr<RunResult> r =
      run({cli, "exec", "--label", label, "host-2", "--", "sh", "-c", "hostname; exit 5"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->out, "host-2\n");
  EXPECT_EQ(r->exit_code, 5);
  r = run({cli, "exec", "--label", label, "host-1", "--", "ping", "-c1", "-W2", "2001:db8::2"});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err;

  const std::string log = ::testing::TempDir() + "/fleet_cli_spawn.log";
  r = run({cli, "spawn", "--label", label, "host-1", "--log", log, "--", "sh", "-c",
           "echo up; exec sleep 60"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->err;
  pid_t pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(r->out), &pid)) << r->out;
  EXPECT_TRUE(exists(absl::StrCat("/proc/", pid)));

  // The same fleet from the C++ side.
  absl::StatusOr<std::unique_ptr<TestFleet>> attached = TestFleet::attach(label);
  ASSERT_TRUE(attached.ok()) << attached.status();
  ASSERT_NE((*attached)->host("host-1"), nullptr);
  EXPECT_TRUE(ping(*(*attached)->host("host-2"), "198.18.0.1", absl::Seconds(5)));
  // Its init, powered off, is recorded by the keeper.
  ASSERT_EQ(::kill((*attached)->host("host-2")->initPid(), SIGINT), 0);
  absl::StatusOr<ExitStatus> s = (*attached)->host("host-2")->waitForInitExit(absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->term_signal, SIGINT);
  attached->reset();

  r = run({cli, "down", "--label", label});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_TRUE(netnsWithPrefix("wt-fleet_cli-").empty());
  EXPECT_FALSE(exists(absl::StrCat("/proc/", pid)));
  r = run({cli, "down", "--label", label});  // idempotent
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  ::unlink(log.c_str());
}

}  // namespace
}  // namespace warden::testing
