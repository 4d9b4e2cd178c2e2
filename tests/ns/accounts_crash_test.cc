// Crash safety of the account files' write path: a writer SIGKILLed at random moments leaves
// /etc/shadow (here a copy in a scratch directory) equal to the old or the new content, with
// its owner and mode, never torn; and an unlock after any number of crashes restores the
// original lines exactly. Needs no privileges: the files belong to the test's user.
#include <crypt.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "absl/strings/str_format.h"
#include "agent/actions/accounts.h"
#include "agent/actions/shadow_file.h"
#include "agent/os/accounts.h"
#include "agent/runtime/state_store.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

constexpr int kKills = 150;

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeAll(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

// Many entries, so a write takes long enough for kills to land inside it.
std::string bigShadow(const std::string& mallory_password, const std::string& mallory_expire) {
  std::string out = "root:$y$j9T$abc$def:19000:0:99999:7:::\n";
  for (int i = 0; i < 3000; ++i) {
    out += absl::StrFormat("user%d:$6$salt%d$%0120d:19000:0:99999:7:::\n", i, i, i);
  }
  out += absl::StrFormat("mallory:%s:19501:0:99999:7::%s:\n", mallory_password, mallory_expire);
  return out;
}

std::string bigPasswd() {
  std::string out = "root:x:0:0:root:/root:/bin/bash\n";
  for (int i = 0; i < 3000; ++i) {
    out += absl::StrFormat("user%d:x:%d:%d::/home/user%d:/bin/bash\n", i, 2000 + i, 2000 + i, i);
  }
  out += "mallory:x:1002:1002::/home/mallory:/bin/bash\n";
  return out;
}

bool hasTemporaries(const std::string& dir) {
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename().string().find(".warden-") != std::string::npos) return true;
  }
  return false;
}

class AccountsCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/warden-acct-crash-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    etc_ = dir_ + "/etc";
    std::filesystem::create_directory(etc_);
    writeAll(etc_ + "/passwd", bigPasswd(), 0644);
    writeAll(etc_ + "/shadow", bigShadow("$y$j9T$m$mallory", "20000"), 0640);
    writeAll(etc_ + "/login.defs", "UID_MIN 1000\nUID_MAX 60000\n", 0644);
    seed_ = std::random_device{}();
    rng_.seed(seed_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Runs `body` in a child until it is SIGKILLed after a random delay of up to `max_us`.
  template <typename Body>
  void runAndKill(Body body, int max_us) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      body();
      ::_exit(0);
    }
    ::usleep(std::uniform_int_distribution<int>(0, max_us)(rng_));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  }

  std::string dir_;
  std::string etc_;
  unsigned seed_ = 0;
  std::mt19937 rng_;
};

TEST_F(AccountsCrashTest, KilledWriterLeavesOldOrNewFile) {
  const std::string a = bigShadow("$y$j9T$m$mallory", "20000");
  const std::string b = bigShadow("!$y$j9T$m$mallory", "1");
  struct stat before {};
  ASSERT_EQ(::stat((etc_ + "/shadow").c_str(), &before), 0);
  int saw_a = 0;
  int saw_b = 0;
  int mid_write = 0;  // kills that left a temporary file: the writer died inside replace()
  for (int i = 0; i < kKills; ++i) {
    runAndKill(
        [&] {
          auto files = linux_os::makeAccountFiles(etc_);
          for (int n = 0;; ++n) {
            auto held = files->lock();
            if (!held.ok()) ::_exit(2);
            if (!files->replace(AccountFile::kShadow, n % 2 ? a : b).ok()) ::_exit(3);
          }
        },
        20000);
    std::string now = readAll(etc_ + "/shadow");
    ASSERT_TRUE(now == a || now == b)
        << "torn file after kill " << i << " (seed " << seed_ << "), " << now.size() << " bytes";
    ASSERT_TRUE(ShadowFile::parse(now).ok());
    (now == a ? saw_a : saw_b)++;
    if (hasTemporaries(etc_)) ++mid_write;
    struct stat after {};
    ASSERT_EQ(::stat((etc_ + "/shadow").c_str(), &after), 0);
    EXPECT_EQ(after.st_mode & 07777, 0640u);
    EXPECT_EQ(after.st_uid, before.st_uid);
    EXPECT_EQ(after.st_gid, before.st_gid);
  }
  EXPECT_GT(saw_a, 0);
  EXPECT_GT(saw_b, 0);
  EXPECT_GT(mid_write, 0) << "no kill landed inside a write; the test proved nothing";
  std::printf("%d kills: %d old, %d new, %d inside a write (seed %u)\n", kKills, saw_a, saw_b,
              mid_write, seed_);
  // Temporaries of killed writers go away at the next lock.
  auto files = linux_os::makeAccountFiles(etc_);
  auto held = files->lock();
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_FALSE(hasTemporaries(etc_));
}

TEST_F(AccountsCrashTest, KilledLockUnlockLoopThenUnlockRestoresExactly) {
  const std::string original = readAll(etc_ + "/shadow");
  const std::string locked = bigShadow("!$y$j9T$m$mallory", "1");
  for (int i = 0; i < kKills; ++i) {
    runAndKill(
        [&] {
          auto state = StateStore::open(dir_ + "/state");
          if (!state.ok()) ::_exit(2);
          auto actions = linux_os::makeAccountActions(**state, etc_);
          for (int n = 0;; ++n) {
            ActionOutcome out =
                n % 2 ? actions->unlock({"user=mallory"}) : actions->lock({"user=mallory"});
            if (!out.ok) ::_exit(3);
          }
        },
        60000);
    std::string now = readAll(etc_ + "/shadow");
    ASSERT_TRUE(now == original || now == locked)
        << "unexpected file after kill " << i << " (seed " << seed_ << ")";
  }
  auto state = StateStore::open(dir_ + "/state");
  ASSERT_TRUE(state.ok()) << state.status();
  auto actions = linux_os::makeAccountActions(**state, etc_);
  ActionOutcome out = actions->unlock({"all=1"});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(readAll(etc_ + "/shadow"), original);
  EXPECT_FALSE(hasTemporaries(etc_));
  // And the whole thing still works.
  ASSERT_TRUE(actions->lock({"user=mallory"}).ok);
  EXPECT_EQ(readAll(etc_ + "/shadow"), locked);
}

TEST_F(AccountsCrashTest, MalformedShadowIsRefusedUntouched) {
  const std::string broken = bigShadow("$y$j9T$m$mallory", "20000") + "eve:x:1\n";
  writeAll(etc_ + "/shadow", broken, 0640);
  auto state = StateStore::open(dir_ + "/state");
  ASSERT_TRUE(state.ok());
  auto actions = linux_os::makeAccountActions(**state, etc_);
  ActionOutcome out = actions->lock({"all=1"});
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.message.find("has 3 fields"), std::string::npos) << out.message;
  EXPECT_EQ(readAll(etc_ + "/shadow"), broken);
}

TEST_F(AccountsCrashTest, HashesWithYescryptOrSha512) {
  auto files = linux_os::makeAccountFiles(etc_);
  auto hash = files->hashPassword("correct horse battery staple");
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_TRUE(hash->rfind("$y$", 0) == 0 || hash->rfind("$6$", 0) == 0) << *hash;
  auto again = files->hashPassword("correct horse battery staple");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(*hash, *again);  // fresh salt
  struct crypt_data data {};
  const char* check = crypt_r("correct horse battery staple", hash->c_str(), &data);
  ASSERT_NE(check, nullptr);
  EXPECT_EQ(std::string(check), *hash);
  EXPECT_NE(std::string(crypt_r("wrong", hash->c_str(), &data)), *hash);
}

TEST_F(AccountsCrashTest, MissingFileErrorKeepsErrno) {
  auto files = linux_os::makeAccountFiles(dir_ + "/nowhere");
  auto r = files->read(AccountFile::kShadow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            absl::StrFormat("Failed to open %s/nowhere/shadow: No such file or directory", dir_));
}

}  // namespace
}  // namespace warden
