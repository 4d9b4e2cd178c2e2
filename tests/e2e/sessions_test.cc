// End to end: `warden sessions` lists the login sessions of a test host (audit session ids
// from a login uid written to /proc/self/loginuid, as pam_loginuid does; a pty from script(1);
// a utmp record the test writes into the host's private /run/utmp), and `warden kill-sessions
// --user mallory` kills every process of mallory's — a fork loop and a root process that kept
// her login uid included — while alice's session, PID 1 and the agent live on.
#include <unistd.h>
#include <utmp.h>

#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kHost[] = "host-42";
constexpr char kRemote[] = "198.18.0.77";

// One process as the host sees it.
struct HostProcess {
  int pid = 0;
  char state = '?';
  long uid = -1;
  long loginuid = -1;
  std::string cmdline;
};

// The live (non-zombie) processes of a test host, read through its own /proc.
std::vector<HostProcess> hostProcesses(TestHost& host) {
  const char* script =
      "for d in /proc/[0-9]*; do "
      "s=$(sed -n 's/^State:\\t\\(.\\).*/\\1/p' $d/status 2>/dev/null); "
      "u=$(sed -n 's/^Uid:\\t\\([0-9]*\\).*/\\1/p' $d/status 2>/dev/null); "
      "l=$(cat $d/loginuid 2>/dev/null); c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null); "
      "[ -n \"$s\" ] && echo \"${d#/proc/}|$s|$u|$l|$c\"; done; true";
  std::vector<HostProcess> out;
  auto r = host.exec({"sh", "-c", script}, absl::Seconds(60));
  if (!r.ok() || r->exit_code != 0) {
    ADD_FAILURE() << "listing processes: " << (r.ok() ? r->err : r.status().ToString());
    return out;
  }
  for (absl::string_view line : absl::StrSplit(r->out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits('|', 4));
    if (f.size() != 5 || f[1] == "Z") continue;
    HostProcess p;
    p.pid = std::atoi(f[0].c_str());
    p.state = f[1][0];
    p.uid = std::atol(f[2].c_str());
    p.loginuid = f[3] == "4294967295" ? -1 : std::atol(f[3].c_str());
    p.cmdline = f[4];
    out.push_back(p);
  }
  return out;
}

int countMallory(const std::vector<HostProcess>& ps) {
  int n = 0;
  for (const auto& p : ps) n += (p.uid == 1002 || p.loginuid == 1002);
  return n;
}

class SessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto created =
        WardenDeployment::create(absl::StrFormat("ses%d", getpid() % 100000), {{kHost, 42}});
    ASSERT_TRUE(created.ok()) << created.status();
    d_ = std::move(*created);
    TestHost& h = d_->host(kHost);
    for (const auto& [file, lines] : std::vector<std::pair<std::string, std::string>>{
             {"/etc/passwd",
              "alice:x:1001:1001::/tmp:/bin/bash\nmallory:x:1002:1002::/tmp:/bin/bash\n"},
             {"/etc/group", "alice:x:1001:\nmallory:x:1002:\n"},
             {"/etc/shadow", "alice:!:20000::::::\nmallory:!:20000::::::\n"}}) {
      auto old = h.readFile(file);
      ASSERT_TRUE(old.ok()) << old.status();
      ASSERT_TRUE(h.writeFile(file, *old + lines).ok());
    }
    ASSERT_TRUE(d_->enroll(kHost).ok());
    ASSERT_TRUE(d_->startAgent(kHost).ok()) << d_->agentLog(kHost);
    // pam_loginuid's part: the login uid is written by root before privileges are dropped,
    // which also gives the process a fresh audit session id.
    auto login = [&](int uid, const std::string& before, const std::string& cmd) {
      const std::string s = absl::StrFormat(
          "echo %d > /proc/self/loginuid || exit 97; %s exec setpriv --reuid=%d --regid=%d "
          "--clear-groups -- %s",
          uid, before, uid, uid, cmd);
      auto p = h.spawn({"sh", "-c", s});
      EXPECT_TRUE(p.ok()) << p.status();
      return p.ok() ? std::move(*p) : nullptr;
    };
    // alice: a shell on a pty (script(1) makes the pty and a session around it).
    // script(1) runs the command with $SHELL -c: pinned, so the tree does not depend on the
    // environment the tests run in (dash keeps a shell between script and sleep; bash would
    // exec sleep in its place).
    alice_ = login(1001, "", "env SHELL=/bin/sh script -qfc 'sleep 1000' /dev/null");
    // mallory: a shell with two children, and a root process in the same audit and POSIX
    // session with her login uid, as `sudo` leaves it.
    mallory_ = login(1002, "sleep 1001 &", "bash -c 'sleep 1000 & sleep 1000 & wait'");
    ASSERT_TRUE(alice_ && mallory_);
    // Wait for the settled trees, not just their sizes: a child between fork and exec still
    // carries its parent's command line, and would be taken for the leader.
    ASSERT_TRUE(waitFor([&] {
      int script = 0, alice_sleep = 0, bash = 0, mallory_sleep = 0, root_sleep = 0;
      alice_processes_ = 0;
      for (const auto& p : hostProcesses(h)) {
        if (p.loginuid == 1001) {
          ++alice_processes_;
          script += p.cmdline.starts_with("script ");
          alice_sleep += p.cmdline.starts_with("sleep 1000");
        } else if (p.loginuid == 1002) {
          bash += p.cmdline.starts_with("bash ");
          mallory_sleep += p.uid == 1002 && p.cmdline.starts_with("sleep 1000");
          root_sleep += p.uid == 0 && p.cmdline.starts_with("sleep 1001");
        }
      }
      return script == 1 && alice_sleep == 1 && bash == 1 && mallory_sleep == 2 && root_sleep == 1;
    })) << alice_->output()
        << mallory_->output();
    // utmp: alice logged in on her pty from kRemote.
    for (const auto& p : hostProcesses(h)) {
      if (p.loginuid == 1001 && p.cmdline.starts_with("script")) alice_leader_ = p.pid;
    }
    ASSERT_NE(alice_leader_, 0);
    struct utmp u;
    std::memset(&u, 0, sizeof(u));
    u.ut_type = USER_PROCESS;
    u.ut_pid = alice_leader_;
    std::strncpy(u.ut_line, "pts/99", sizeof(u.ut_line) - 1);
    std::strncpy(u.ut_user, "alice", sizeof(u.ut_user) - 1);
    std::strncpy(u.ut_host, kRemote, sizeof(u.ut_host) - 1);
    u.ut_tv.tv_sec = 1700000000;
    ASSERT_TRUE(
        h.writeFile("/run/utmp", std::string(reinterpret_cast<const char*>(&u), sizeof(u))).ok());
  }

  template <typename F>
  static bool waitFor(F done, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return done();
  }

  // `warden sessions` rows by user: SESSION USER TTY FROM DATE TIME LEADER PROCS ROOT.
  std::map<std::string, std::vector<std::string>> sessionRows() {
    std::map<std::string, std::vector<std::string>> rows;
    auto r = d_->cli({"sessions", kHost});
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return rows;
    EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
    for (absl::string_view line : absl::StrSplit(r->out, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (f.size() == 9 && f[0] != "SESSION") rows[f[1]] = f;
    }
    sessions_text_ = r->out;
    return rows;
  }

  std::unique_ptr<WardenDeployment> d_;
  std::unique_ptr<Process> alice_;
  std::unique_ptr<Process> mallory_;
  int alice_leader_ = 0;
  int alice_processes_ = 0;  // as the test saw them once the trees settled
  std::string sessions_text_;
};

TEST_F(SessionsTest, ListsSessionsWithTtyRemoteAndEscalation) {
  auto rows = sessionRows();
  ASSERT_TRUE(rows.contains("alice")) << sessions_text_;
  ASSERT_TRUE(rows.contains("mallory")) << sessions_text_;
  const auto& alice = rows["alice"];
  EXPECT_NE(alice[0].rfind("sid-", 0), 0u) << "an audit session id: " << sessions_text_;
  EXPECT_TRUE(alice[2].starts_with("pts/")) << sessions_text_;
  EXPECT_EQ(alice[3], kRemote) << sessions_text_;
  EXPECT_EQ(alice[4] + " " + alice[5], "2023-11-14 22:13:20") << sessions_text_;
  EXPECT_EQ(alice[6], std::to_string(alice_leader_));
  EXPECT_EQ(alice[7], std::to_string(alice_processes_));  // script, its shell and sleep
  EXPECT_EQ(alice_processes_, 3);
  EXPECT_EQ(alice[8], "no");
  const auto& mallory = rows["mallory"];
  EXPECT_EQ(mallory[2], "-");
  EXPECT_EQ(mallory[3], "-");
  EXPECT_EQ(mallory[7], "4");  // root sleep 1001, bash, two sleeps
  EXPECT_EQ(mallory[8], "yes") << "the root process kept mallory's login uid";
  EXPECT_NE(alice[0], mallory[0]);
}

TEST_F(SessionsTest, KillUserKillsForkLoopAndEscalatedProcessAndSparesTheRest) {
  TestHost& h = d_->host(kHost);
  auto loop = h.spawn({"sh", "-c",
                       "echo 1002 > /proc/self/loginuid && exec setpriv --reuid=1002 "
                       "--regid=1002 --clear-groups -- bash -c 'while :; do sleep 1000 & done'"});
  ASSERT_TRUE(loop.ok());
  // pgrep reads /proc in one process: the shell listing would let the loop run for seconds.
  ASSERT_TRUE(waitFor([&] {
    auto n = h.exec({"pgrep", "-c", "-U", "1002"});
    return n.ok() && std::atoi(n->out.c_str()) >= 30;
  }));
  const std::vector<HostProcess> before = hostProcesses(h);
  int agent_pid = 0, escalated_pid = 0;
  std::vector<int> alice_pids;
  for (const auto& p : before) {
    if (p.cmdline.find("warden-agent") != std::string::npos &&
        p.cmdline.find(" run") != std::string::npos) {
      agent_pid = p.pid;
    }
    if (p.uid == 0 && p.loginuid == 1002 && p.cmdline.starts_with("sleep 1001"))
      escalated_pid = p.pid;
    if (p.loginuid == 1001) alice_pids.push_back(p.pid);
  }
  ASSERT_NE(agent_pid, 0);
  ASSERT_NE(escalated_pid, 0);

  auto r = d_->cli({"kill-sessions", kHost, "--user", "mallory", "--json"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err << d_->agentLog(kHost);

  const std::vector<HostProcess> after = hostProcesses(h);
  EXPECT_EQ(countMallory(after), 0) << r->out;
  std::set<int> alive;
  for (const auto& p : after) alive.insert(p.pid);
  EXPECT_TRUE(alive.contains(1));
  EXPECT_TRUE(alive.contains(agent_pid));
  for (int pid : alice_pids) EXPECT_TRUE(alive.contains(pid)) << "alice's " << pid;
  EXPECT_FALSE(alive.contains(escalated_pid));
  // The fork loop does not come back.
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(countMallory(hostProcesses(h)), 0);

  // The receipt lists every killed process with its executable's hash.
  EXPECT_NE(r->out.find(absl::StrFormat("\"pid\": %d,", escalated_pid)), std::string::npos);
  auto sha = run({"sha256sum", "/usr/bin/sleep"});
  ASSERT_TRUE(sha.ok());
  const std::string sleep_hash = sha->out.substr(0, 64);
  int listed = 0, with_hash = 0;
  for (std::size_t at = r->out.find("\"exe_sha256\": \""); at != std::string::npos;
       at = r->out.find("\"exe_sha256\": \"", at + 1)) {
    ++listed;
    const std::string h64 = r->out.substr(at + 15, 64);
    with_hash += h64.find('"') == std::string::npos;
  }
  EXPECT_GE(listed, 30);
  EXPECT_EQ(with_hash, listed) << r->out.substr(0, 4000);
  EXPECT_NE(r->out.find(sleep_hash), std::string::npos);
  EXPECT_NE(r->out.find("\"survivors\": []"), std::string::npos);
  EXPECT_NE(r->out.find("\"freeze_method\": \"sigstop\""), std::string::npos);
}

// --from and --tty pick the session utmp names (alice's, from kRemote on pts/99); --pid picks
// one process. A dry run changes nothing; the real --from kill spares mallory.
TEST_F(SessionsTest, FromTtyAndPidSelectorsPickTheRightProcesses) {
  TestHost& h = d_->host(kHost);
  auto count = [](const std::string& json, int loginuid) {
    const std::string key = absl::StrFormat("\"loginuid\": \"%d\"", loginuid);
    int n = 0;
    for (auto pos = json.find(key); pos != std::string::npos; pos = json.find(key, pos + 1)) ++n;
    return n;
  };
  // alice's controlling terminal as `warden sessions` shows it, and her utmp login line.
  auto rows = sessionRows();
  ASSERT_TRUE(rows.contains("alice")) << sessions_text_;
  const std::string real_tty = rows["alice"][2];
  for (const std::vector<std::string>& selector :
       {std::vector<std::string>{"--from", kRemote}, std::vector<std::string>{"--tty", "pts/99"},
        std::vector<std::string>{"--tty", real_tty}}) {
    std::vector<std::string> args = {"kill-sessions", kHost, "--dry-run", "--json"};
    args.insert(args.end(), selector.begin(), selector.end());
    auto r = d_->cli(args);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
    EXPECT_GE(count(r->out, 1001), 2) << selector[0] << " " << selector[1] << ": " << r->out;
    EXPECT_EQ(count(r->out, 1002), 0) << selector[0] << " " << selector[1] << ": " << r->out;
  }
  int mallory_sleep = 0;
  for (const auto& p : hostProcesses(h)) {
    if (p.loginuid == 1002 && p.cmdline.starts_with("sleep 1000")) mallory_sleep = p.pid;
  }
  ASSERT_NE(mallory_sleep, 0);
  auto one = d_->cli(
      {"kill-sessions", kHost, "--pid", std::to_string(mallory_sleep), "--dry-run", "--json"});
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->exit_code, 0) << one->out << one->err;
  EXPECT_EQ(count(one->out, 1002), 1) << one->out;
  EXPECT_EQ(count(one->out, 1001), 0) << one->out;
  // Dry runs killed nothing.
  auto before = hostProcesses(h);
  EXPECT_GE(countMallory(before), 4);

  auto kill = d_->cli({"kill-sessions", kHost, "--from", kRemote});
  ASSERT_TRUE(kill.ok());
  ASSERT_EQ(kill->exit_code, 0) << kill->out << kill->err;
  EXPECT_TRUE(waitFor([&] {
    for (const auto& p : hostProcesses(h)) {
      if (p.loginuid == 1001) return false;
    }
    return true;
  }));
  EXPECT_GE(countMallory(hostProcesses(h)), 4);
}

TEST_F(SessionsTest, BadInputIsRefusedAndChangesNothing) {
  TestHost& h = d_->host(kHost);
  const int before = static_cast<int>(hostProcesses(h).size());
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"kill-sessions", kHost, "--user", "nosuchuser"},
           {"kill-sessions", kHost, "--session", "987654"},
           {"kill-sessions", kHost, "--session", "sid-987654"},
           {"kill-sessions", kHost, "--user", "mallory", "--except", "ghost"}}) {
    auto r = d_->cli(args);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 2) << args[3] << ": " << r->out << r->err;
    EXPECT_FALSE(r->err.empty() && r->out.empty());
  }
  EXPECT_EQ(static_cast<int>(hostProcesses(h).size()), before);
  EXPECT_EQ(countMallory(hostProcesses(h)), 4);
  // --dry-run names what would die and kills nothing.
  auto r = d_->cli({"kill-sessions", kHost, "--user", "mallory", "--dry-run"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
  EXPECT_NE(r->out.find("Would kill 4 processes"), std::string::npos) << r->out;
  EXPECT_EQ(countMallory(hostProcesses(h)), 4);
}

}  // namespace
}  // namespace warden::testing
