// End to end: `warden lock-accounts` / `unlock-accounts` against a test host's private
// /etc/shadow through the real controller, agent and CLI: --all --except, exact unlock,
// --rotate-root with the clear text only in the CLI's output, refusals that change nothing,
// and an agent killed while it works.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kHost[] = "host-42";
constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "sshd:x:999:65534::/run/sshd:/usr/sbin/nologin\n"
    "alice:x:1001:1001:Alice:/home/alice:/bin/bash\n"
    "mallory:x:1002:1002::/home/mallory:/bin/bash\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
constexpr char kShadow[] =
    "root:$6$rootsalt$Zr9bq0yJ8v3Vw1E5kq0m6z7R2tQ0w9m3U8oK2pL5nV4x:19000:0:99999:7:::\n"
    "daemon:*:19000:0:99999:7:::\n"
    "sshd:!:19000::::::\n"
    "alice:$6$alicesalt$alicealicealice:19500:0:99999:7:::\n"
    "mallory:$y$j9T$mallorysalt$mallorymallory:19501:0:99999:7:30:20000:\n"
    "nobody:*:19000:0:99999:7:::\n";
constexpr char kLoginDefs[] = "UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MAX 999\n";

std::string lineOf(const std::string& content, const std::string& user) {
  std::istringstream in(content);
  std::string line;
  while (std::getline(in, line)) {
    if (line.substr(0, line.find(':')) == user) return line;
  }
  return "";
}

std::string field(const std::string& line, int index) {
  std::istringstream in(line);
  std::string f;
  for (int i = 0; i <= index; ++i) std::getline(in, f, ':');
  return f;
}

// Every regular file under `dir` that contains `needle`.
std::vector<std::string> filesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (ss.str().find(needle) != std::string::npos) out.push_back(it->path().string());
  }
  return out;
}

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto d = WardenDeployment::create(absl::StrFormat("acc%d", getpid() % 100000), {{kHost, 42}});
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    TestHost& h = d_->host(kHost);
    ASSERT_TRUE(h.writeFile("/etc/passwd", kPasswd).ok());
    ASSERT_TRUE(h.writeFile("/etc/shadow", kShadow).ok());
    ASSERT_TRUE(h.writeFile("/etc/login.defs", kLoginDefs).ok());
    auto chmod = h.exec({"chmod", "0640", "/etc/shadow"});
    ASSERT_TRUE(chmod.ok() && chmod->exit_code == 0);
    ASSERT_TRUE(d_->enroll(kHost).ok());
    ASSERT_TRUE(d_->startAgent(kHost).ok());
  }

  RunResult warden(const std::vector<std::string>& args) {
    return d_->cliResult(args, absl::Seconds(90));
  }
  std::string shadow() {
    auto s = d_->host(kHost).readFile("/etc/shadow");
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : "";
  }
  mode_t shadowMode() {
    auto r = d_->host(kHost).exec({"stat", "-c", "%a", "/etc/shadow"});
    return r.ok() ? static_cast<mode_t>(std::stoi(r->out, nullptr, 8)) : 0;
  }

  std::unique_ptr<WardenDeployment> d_;
};

TEST_F(AccountsTest, LockAllExceptThenUnlockRestoresExactLines) {
  RunResult lock = warden({"lock-accounts", kHost, "--all", "--except", "alice"});
  ASSERT_EQ(lock.exit_code, 0) << lock.out << lock.err;
  std::string s = shadow();
  EXPECT_EQ(lineOf(s, "mallory"),
            "mallory:!$y$j9T$mallorysalt$mallorymallory:19501:0:99999:7:30:1:");
  EXPECT_EQ(lineOf(s, "root").rfind("root:!$6$rootsalt$", 0), 0u) << lineOf(s, "root");
  EXPECT_EQ(field(lineOf(s, "root"), 7), "1");
  for (const char* untouched : {"alice", "daemon", "sshd", "nobody"}) {
    EXPECT_EQ(lineOf(s, untouched), lineOf(kShadow, untouched)) << untouched;
  }
  EXPECT_EQ(shadowMode(), 0640u);
  EXPECT_NE(lock.out.find("mallory"), std::string::npos) << lock.out;
  EXPECT_NE(lock.out.find("root"), std::string::npos) << lock.out;
  EXPECT_EQ(lock.out.find("alice"), std::string::npos) << lock.out;
  // The receipt carries digests, never hashes.
  RunResult actions = warden({"actions", "--json"});
  EXPECT_EQ(actions.out.find("mallorysalt"), std::string::npos);
  EXPECT_EQ(actions.out.find("rootsalt"), std::string::npos);

  RunResult unlock = warden({"unlock-accounts", kHost, "--all"});
  ASSERT_EQ(unlock.exit_code, 0) << unlock.out << unlock.err;
  EXPECT_EQ(shadow(), kShadow);
  EXPECT_EQ(shadowMode(), 0640u);
}

TEST_F(AccountsTest, UnlockSingleUser) {
  ASSERT_EQ(warden({"lock-accounts", kHost, "--user", "mallory", "--user", "alice"}).exit_code, 0);
  RunResult unlock = warden({"unlock-accounts", kHost, "--user", "alice"});
  ASSERT_EQ(unlock.exit_code, 0) << unlock.out << unlock.err;
  EXPECT_EQ(lineOf(shadow(), "alice"), lineOf(kShadow, "alice"));
  EXPECT_NE(lineOf(shadow(), "mallory"), lineOf(kShadow, "mallory"));
  ASSERT_EQ(warden({"unlock-accounts", kHost, "--user", "mallory"}).exit_code, 0);
  EXPECT_EQ(shadow(), kShadow);
}

TEST_F(AccountsTest, RotateRootPasswordReachesOnlyTheCli) {
  RunResult r = warden({"lock-accounts", kHost, "--user", "mallory", "--rotate-root"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string marker = "New root password (shown once, stored nowhere): ";
  auto at = r.out.find(marker);
  ASSERT_NE(at, std::string::npos) << r.out;
  std::string password = r.out.substr(at + marker.size());
  password = password.substr(0, password.find('\n'));
  ASSERT_GE(password.size(), 20u) << r.out;

  std::string root = lineOf(shadow(), "root");
  std::string hash = field(root, 1);
  EXPECT_NE(root, lineOf(kShadow, "root"));
  EXPECT_TRUE(hash.rfind("$y$", 0) == 0 || hash.rfind("$6$", 0) == 0) << hash;
  EXPECT_EQ(field(root, 7), "");  // rotated, not locked
  // The hash is of the password the CLI printed (perl's crypt() is libcrypt's).
  auto check = d_->host(kHost).exec(
      {"perl", "-e", "print crypt($ARGV[0], $ARGV[1]) eq $ARGV[1] ? 'match' : 'differ'", password,
       hash});
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->out, "match");
  EXPECT_EQ(field(lineOf(shadow(), "mallory"), 7), "1");

  // Nowhere else: not in the controller's data (database, log), not on the host.
  EXPECT_EQ(filesContaining(d_->dataDir(), password), std::vector<std::string>{});
  EXPECT_EQ(filesContaining(d_->host(kHost).dir(), password), std::vector<std::string>{});
  EXPECT_EQ(d_->controllerLog().find(password), std::string::npos);
  EXPECT_EQ(d_->agentLog(kHost).find(password), std::string::npos);
  EXPECT_EQ(shadow().find(password), std::string::npos);
  RunResult actions = warden({"actions", "--json"});
  EXPECT_EQ(actions.out.find(password), std::string::npos);
}

// The new password is sealed to a key that lives only in the CLI process: a rotation queued for
// an offline host would set a root password nobody can ever read. Refused before anything is
// dispatched (FAILED_PRECONDITION, exit 2), and the host, back, changes nothing.
TEST_F(AccountsTest, RotateRootForOfflineHostIsRefusedUpFront) {
  ASSERT_TRUE(d_->killAgent(kHost, SIGTERM).ok());
  ASSERT_TRUE(d_->waitConnected(kHost, false).ok());
  RunResult r = warden({"lock-accounts", kHost, "--user", "mallory", "--rotate-root"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("host-42 is not connected"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("one-time key, which would die with the CLI"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing was dispatched"), std::string::npos) << r.err;
  RunResult actions = warden({"actions", "--host", kHost, "--json"});
  EXPECT_EQ(actions.exit_code, 0) << actions.out << actions.err;
  EXPECT_EQ(actions.out.find("lock-accounts"), std::string::npos) << actions.out;
  EXPECT_NE(d_->controllerLog().find("not connected"), std::string::npos);

  ASSERT_TRUE(d_->startAgent(kHost).ok()) << d_->agentLog(kHost);
  EXPECT_EQ(shadow(), kShadow);
  // Connected, the same command goes through.
  RunResult online = warden({"lock-accounts", kHost, "--user", "mallory", "--rotate-root"});
  EXPECT_EQ(online.exit_code, 0) << online.out << online.err;
  EXPECT_NE(online.out.find("New root password (shown once, stored nowhere): "), std::string::npos)
      << online.out;
}

TEST_F(AccountsTest, MalformedShadowIsRefusedUntouched) {
  const std::string broken = std::string(kShadow) + "eve:$6$x$y:19000\n";
  ASSERT_TRUE(d_->host(kHost).writeFile("/etc/shadow", broken).ok());
  RunResult r = warden({"lock-accounts", kHost, "--all"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("/etc/shadow line 7 has 3 fields"), std::string::npos) << r.err;
  EXPECT_EQ(shadow(), broken);
  RunResult rotate = warden({"lock-accounts", kHost, "--user", "mallory", "--rotate-root"});
  EXPECT_EQ(rotate.exit_code, 1) << rotate.out << rotate.err;
  EXPECT_EQ(shadow(), broken);
}

TEST_F(AccountsTest, UnknownUserIsRejectedAndNothingChanges) {
  RunResult r = warden({"lock-accounts", kHost, "--user", "mallory", "--user", "eve"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("unknown user 'eve'"), std::string::npos) << r.err;
  RunResult ex = warden({"lock-accounts", kHost, "--all", "--except", "eve"});
  EXPECT_EQ(ex.exit_code, 2) << ex.out << ex.err;
  RunResult un = warden({"unlock-accounts", kHost, "--user", "eve"});
  EXPECT_EQ(un.exit_code, 2) << un.out << un.err;
  EXPECT_EQ(shadow(), kShadow);
}

// SIGKILL the agent at random moments while it locks and unlocks: the file is always the old
// or the new one; queued commands finish after the restart; a final unlock restores it all.
TEST_F(AccountsTest, AgentKilledMidWriteLeavesValidFile) {
  const std::string locked = [] {
    std::string s = kShadow;
    auto replace = [&s](const std::string& user, const std::string& line) {
      std::string old = lineOf(s, user);
      s.replace(s.find(old), old.size(), line);
    };
    replace("mallory", "mallory:!$y$j9T$mallorysalt$mallorymallory:19501:0:99999:7:30:1:");
    return s;
  }();
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  constexpr int kRounds = 8;
  for (int i = 0; i < kRounds; ++i) {
    const char* cmd = i % 2 ? "unlock-accounts" : "lock-accounts";
    std::thread cli([&] { (void)d_->cli({cmd, kHost, "--user", "mallory"}, absl::Seconds(90)); });
    absl::SleepFor(absl::Milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
    absl::Status killed = d_->killAgent(kHost, SIGKILL);
    std::string now = shadow();
    EXPECT_TRUE(now == kShadow || now == locked) << "round " << i << " (seed " << seed << "):\n"
                                                 << now;
    EXPECT_EQ(shadowMode(), 0640u);
    absl::Status started = d_->startAgent(kHost);
    cli.join();  // the command completes once the restarted agent gets it again
    ASSERT_TRUE(killed.ok()) << killed;
    ASSERT_TRUE(started.ok()) << started << d_->agentLog(kHost);
  }
  RunResult unlock = warden({"unlock-accounts", kHost, "--all"});
  ASSERT_EQ(unlock.exit_code, 0) << unlock.out << unlock.err;
  EXPECT_EQ(shadow(), kShadow);
  auto ls = d_->host(kHost).exec({"sh", "-c", "ls -a /etc | grep -c warden- || true"});
  ASSERT_TRUE(ls.ok());
  EXPECT_EQ(ls->out, "0\n") << "temporary files left in /etc";
}

}  // namespace
}  // namespace warden::testing
