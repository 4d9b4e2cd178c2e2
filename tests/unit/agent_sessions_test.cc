// Session listing and kill selection on a fake process table (no privileges needed).
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/actions/host_actions.h"
#include "agent/actions/session_selector.h"
#include "common/crypto/encoding.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr pid_t kAgentPid = 50;
constexpr uid_t kAlice = 1001;
constexpr uid_t kMallory = 1002;

// A process table the test controls. Stopped processes cannot fork; killed ones vanish.
// Processes in `forkers_` fork one child per scan while they are not stopped.
struct FakeState {
  std::vector<ProcessRecord> procs;
  std::vector<UtmpEntry> utmp;
  std::set<pid_t> forkers;
  std::vector<pid_t> killed;
  std::set<pid_t> stopped;
  pid_t next_pid = 5000;
  std::int64_t now_us = 0;
  int scans = 0;
};

class FakeProcesses : public HostProcesses {
 public:
  explicit FakeProcesses(FakeState* s) : s_(s) {}
  absl::StatusOr<std::vector<ProcessRecord>> scan() override {
    ++s_->scans;
    s_->now_us += 100;
    std::vector<ProcessRecord> born;
    for (const ProcessRecord& p : s_->procs) {
      if (s_->forkers.contains(p.pid) && !s_->stopped.contains(p.pid)) {
        ProcessRecord child = p;
        child.pid = s_->next_pid++;
        child.ppid = p.pid;
        child.start_time = p.start_time + 1;
        born.push_back(child);
      }
    }
    for (ProcessRecord& c : born) {
      s_->forkers.insert(c.pid);  // a fork bomb: every child forks too
      s_->procs.push_back(c);
    }
    return s_->procs;
  }
  absl::StatusOr<std::vector<ProcessRecord>> rescan(const std::vector<ProcessRecord>&) override {
    return scan();
  }
  void awaitExit(std::int64_t) override {}
  absl::StatusOr<std::vector<UtmpEntry>> utmp() override { return s_->utmp; }
  std::optional<uid_t> uidOf(const std::string& name) override {
    static const std::map<std::string, uid_t> users = {
        {"root", 0}, {"alice", kAlice}, {"mallory", kMallory}};
    auto it = users.find(name);
    if (it == users.end()) return std::nullopt;
    return it->second;
  }
  std::string nameOf(uid_t uid) override {
    if (uid == 0) return "root";
    if (uid == kAlice) return "alice";
    if (uid == kMallory) return "mallory";
    return std::to_string(uid);
  }
  std::vector<ProcessEvidence> evidence(const std::vector<ProcessRecord>& procs) override {
    std::vector<ProcessEvidence> out;
    for (const ProcessRecord& p : procs) {
      out.push_back({"/usr/bin/fake", std::string(64, 'a'), "fake " + std::to_string(p.pid), ""});
    }
    return out;
  }
  std::string beginFreeze() override { return "sigstop"; }
  absl::Status freeze(const ProcessRecord& p) override {
    s_->stopped.insert(p.pid);
    return absl::OkStatus();
  }
  void endFreeze() override {}
  void releaseKilled() override {}
  absl::Status kill(const ProcessRecord& p) override {
    auto it = std::find_if(s_->procs.begin(), s_->procs.end(),
                           [&](const ProcessRecord& r) { return r.pid == p.pid; });
    if (it == s_->procs.end()) return absl::NotFoundError("gone");
    EXPECT_NE(p.pid, 1);
    EXPECT_NE(p.pid, kAgentPid);
    s_->procs.erase(it);
    s_->killed.push_back(p.pid);
    return absl::OkStatus();
  }
  std::int64_t startUnixMs(const ProcessRecord& p) override {
    return static_cast<std::int64_t>(p.start_time);
  }
  std::int64_t nowUs() override { return s_->now_us; }
  void pauseUs(std::int64_t us) override { s_->now_us += us; }

 private:
  FakeState* s_;
};

ProcessRecord proc(pid_t pid, pid_t ppid, uid_t uid, std::int64_t loginuid, std::int64_t audit,
                   pid_t sid, std::string tty = "") {
  ProcessRecord p;
  p.pid = pid;
  p.ppid = ppid;
  p.uid = uid;
  p.euid = uid;
  p.loginuid = loginuid;
  p.audit_session = audit;
  p.posix_session = sid;
  p.tty = std::move(tty);
  p.start_time = static_cast<std::uint64_t>(pid) * 10;
  p.state = 'S';
  return p;
}

class SessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // init, kthreadd + a kernel thread, the agent and its child, alice's audited session on
    // pts/0 (from 198.18.0.9), mallory's audited session with a sudo'd root shell, and
    // mallory's unaudited POSIX session with a root child.
    s_.procs = {
        proc(1, 0, 0, -1, -1, 1),
        proc(2, 0, 0, -1, -1, 0),
        proc(kAgentPid, 1, 0, -1, -1, kAgentPid),
        proc(51, kAgentPid, 0, -1, -1, kAgentPid),
        proc(100, 1, kAlice, kAlice, 7, 100, "pts/0"),
        proc(101, 100, kAlice, kAlice, 7, 100, "pts/0"),
        proc(200, 1, kMallory, kMallory, 8, 200),
        proc(201, 200, kMallory, kMallory, 8, 200),
        proc(202, 201, 0, kMallory, 8, 200),  // sudo -s: root, mallory's loginuid
        proc(300, 1, kMallory, -1, -1, 300),
        proc(301, 300, 0, -1, -1, 300),  // su: root in mallory's POSIX session
        proc(400, 1, 0, -1, -1, 400),    // a root daemon
    };
    s_.procs[1].kernel_thread = true;
    ProcessRecord kthread = proc(3, 2, 0, -1, -1, 0);
    kthread.kernel_thread = true;
    s_.procs.push_back(kthread);
    s_.utmp = {UtmpEntry{"alice", "pts/0", "198.18.0.9", 100, 100, 1700000000000}};
    actions_ = makeSessionActionsOn(std::make_unique<FakeProcesses>(&s_), kAgentPid);
  }

  v1::KillReport killReport(const ActionOutcome& o) {
    v1::KillReport r;
    EXPECT_TRUE(r.ParseFromString(*crypto::unbase64(o.details.at(kResultDetail))));
    return r;
  }
  static std::vector<int> pids(const google::protobuf::RepeatedPtrField<v1::ProcessInfo>& ps) {
    std::vector<int> out;
    for (const auto& p : ps) out.push_back(p.pid());
    std::sort(out.begin(), out.end());
    return out;
  }
  bool alive(pid_t pid) const {
    return std::any_of(s_.procs.begin(), s_.procs.end(),
                       [&](const ProcessRecord& p) { return p.pid == pid; });
  }

  FakeState s_;
  std::unique_ptr<SessionActions> actions_;
};

TEST_F(SessionsTest, ListsLoginSessions) {
  const ActionOutcome o = actions_->list();
  ASSERT_TRUE(o.ok) << o.message;
  v1::SessionList list;
  ASSERT_TRUE(list.ParseFromString(*crypto::unbase64(o.details.at(kResultDetail))));
  std::map<std::string, v1::LoginSession> by_id;
  for (const auto& s : list.sessions()) by_id[s.id()] = s;
  // Not listed: init's session, kernel threads, the agent's session, the root daemon's.
  ASSERT_EQ(by_id.size(), 3u) << list.DebugString();
  const v1::LoginSession& alice = by_id.at("7");
  EXPECT_EQ(alice.user(), "alice");
  EXPECT_EQ(alice.tty(), "pts/0");
  EXPECT_EQ(alice.remote(), "198.18.0.9");
  EXPECT_EQ(alice.login_unix_ms(), 1700000000000);
  EXPECT_EQ(alice.leader_pid(), 100);
  EXPECT_EQ(alice.process_count(), 2u);
  EXPECT_FALSE(alice.any_root());
  const v1::LoginSession& mallory = by_id.at("8");
  EXPECT_EQ(mallory.user(), "mallory");
  EXPECT_EQ(mallory.leader_pid(), 200);
  EXPECT_EQ(mallory.process_count(), 3u);
  EXPECT_TRUE(mallory.any_root());
  const v1::LoginSession& posix = by_id.at("sid-300");
  EXPECT_EQ(posix.user(), "mallory");
  EXPECT_EQ(posix.process_count(), 2u);
  EXPECT_TRUE(posix.any_root());
}

TEST_F(SessionsTest, KillUserCatchesEscalatedProcessesAndSparesOthers) {
  const ActionOutcome o = actions_->kill({"user=mallory"});
  ASSERT_TRUE(o.ok) << o.message;
  const v1::KillReport r = killReport(o);
  EXPECT_EQ(pids(r.processes()), (std::vector<int>{200, 201, 202, 300, 301}));
  EXPECT_THAT(r.survivors(), IsEmpty());
  EXPECT_EQ(r.freeze_method(), "sigstop");
  for (const auto& p : r.processes()) EXPECT_EQ(p.exe_sha256().size(), 64u);
  for (pid_t pid : {1, 2, 3, 50, 51, 100, 101, 400}) EXPECT_TRUE(alive(pid)) << pid;
  // Everything killed was stopped first.
  for (pid_t pid : s_.killed) EXPECT_TRUE(s_.stopped.contains(pid)) << pid;
}

TEST_F(SessionsTest, ForkLoopIsStoppedAndKilled) {
  s_.forkers = {201};
  const ActionOutcome o = actions_->kill({"user=mallory"});
  ASSERT_TRUE(o.ok) << o.message;
  for (const ProcessRecord& p : s_.procs) {
    EXPECT_TRUE(p.uid != kMallory && p.loginuid != kMallory) << p.pid;
  }
  const v1::KillReport r = killReport(o);
  EXPECT_GT(r.processes_size(), 5);  // children born before the sweep stopped the loop
  EXPECT_EQ(static_cast<std::size_t>(r.processes_size()), s_.killed.size());
}

TEST_F(SessionsTest, SessionZeroHasNoUser) {
  // Processes whose session leader is outside the PID namespace show sid 0: they form no
  // session, so mallory's process there does not drag root's along.
  s_.procs.push_back(proc(500, 1, kMallory, -1, -1, 0));
  s_.procs.push_back(proc(501, 1, 0, -1, -1, 0));
  const ActionOutcome o = actions_->kill({"user=mallory", "dry_run=1"});
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(pids(killReport(o).processes()), (std::vector<int>{200, 201, 202, 300, 301, 500}));
  EXPECT_FALSE(actions_->kill({"session=sid-0"}).ok);
}

TEST_F(SessionsTest, SelectorsAreAUnion) {
  const ActionOutcome o = actions_->kill({"tty=/dev/pts/0", "session=sid-300", "dry_run=1"});
  ASSERT_TRUE(o.ok) << o.message;
  const v1::KillReport r = killReport(o);
  EXPECT_TRUE(r.dry_run());
  EXPECT_EQ(pids(r.processes()), (std::vector<int>{100, 101, 300, 301}));
  EXPECT_THAT(s_.killed, IsEmpty());
  EXPECT_THAT(s_.stopped, IsEmpty());
}

TEST_F(SessionsTest, FromMatchesUtmpRemoteAddress) {
  ActionOutcome o = actions_->kill({"from=198.18.0.0/24", "dry_run=1"});
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_EQ(pids(killReport(o).processes()), (std::vector<int>{100, 101}));
  o = actions_->kill({"from=2001:db8::/32", "dry_run=1"});
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_THAT(killReport(o).processes(), IsEmpty());
}

TEST_F(SessionsTest, PidSelectsProcessAndDescendants) {
  const ActionOutcome o = actions_->kill({"pid=201"});
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_THAT(s_.killed, UnorderedElementsAre(201, 202));
}

TEST_F(SessionsTest, ExceptSparesUser) {
  const ActionOutcome o = actions_->kill({"session=7", "session=8", "except=alice"});
  ASSERT_TRUE(o.ok) << o.message;
  EXPECT_THAT(s_.killed, UnorderedElementsAre(200, 201, 202));
}

TEST_F(SessionsTest, NeverKillsInitKernelThreadsOrAgent) {
  const ActionOutcome o = actions_->kill({"user=root"});
  ASSERT_TRUE(o.ok) << o.message;
  // root's processes outside login sessions: the daemon; and those whose real uid is 0.
  for (pid_t pid : {1, 2, 3, 50, 51}) EXPECT_TRUE(alive(pid)) << pid;
  EXPECT_FALSE(alive(400));
  for (pid_t bad : {1, 2, 50, 51}) {
    const ActionOutcome r = actions_->kill({"pid=" + std::to_string(bad)});
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.details.at(kErrorDetail), kInvalidArgument) << bad;
  }
}

TEST_F(SessionsTest, BadInputChangesNothing) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"user=nobody-such"},
                                             {"session=99"},
                                             {"session=sid-999"},
                                             {"session=abc"},
                                             {"pid=77777"},
                                             {"pid=-3"},
                                             {"from=198.18.0.7/24"},
                                             {"user=mallory", "except=ghost"},
                                             {"tty="},
                                             {"colour=blue"},
                                             {"dry_run=1"},
                                             {}}) {
    const ActionOutcome o = actions_->kill(args);
    EXPECT_FALSE(o.ok) << ::testing::PrintToString(args);
    EXPECT_EQ(o.details.count(kErrorDetail), 1u) << ::testing::PrintToString(args);
    EXPECT_FALSE(o.message.empty());
  }
  EXPECT_THAT(s_.killed, IsEmpty());
  EXPECT_THAT(s_.stopped, IsEmpty());
}

TEST_F(SessionsTest, UnkillableProcessIsReportedAsSurvivor) {
  // A process that ignores SIGKILL (a fake stuck in D state forever): the budget ends the loop.
  class Stuck : public FakeProcesses {
   public:
    using FakeProcesses::FakeProcesses;
    absl::Status kill(const ProcessRecord&) override { return absl::OkStatus(); }
  };
  auto actions = makeSessionActionsOn(std::make_unique<Stuck>(&s_), kAgentPid,
                                      SessionKillLimits{.budget_us = 100'000});
  const ActionOutcome o = actions->kill({"pid=300"});
  EXPECT_FALSE(o.ok);
  EXPECT_EQ(o.details.count(kErrorDetail), 0u);
  const v1::KillReport r = killReport(o);
  EXPECT_EQ(pids(r.survivors()), (std::vector<int>{300, 301}));
  EXPECT_THAT(pids(r.processes()), ElementsAre(300, 301));
}

}  // namespace
}  // namespace warden
