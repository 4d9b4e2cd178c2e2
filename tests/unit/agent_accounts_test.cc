// Account locks without privileges: strict shadow/passwd parsing, the --all selection, lock
// and unlock edits, and the lock-accounts / unlock-accounts actions against in-memory files.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <string>

#include "agent/actions/account_locks.h"
#include "agent/actions/host_actions.h"
#include "agent/actions/shadow_file.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/crypto/seal.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "sshd:x:999:65534::/run/sshd:/usr/sbin/nologin\n"
    "backup:x:998:998::/var/backups:/bin/sh\n"
    "alice:x:1001:1001:Alice:/home/alice:/bin/bash\n"
    "mallory:x:1002:1002::/home/mallory:/bin/bash\n"
    "svc:x:1003:1003::/home/svc:/bin/false\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
constexpr char kRootLine[] = "root:$y$j9T$abc$def:19000:0:99999:7:::";
constexpr char kShadow[] =
    "root:$y$j9T$abc$def:19000:0:99999:7:::\n"
    "daemon:*:19000:0:99999:7:::\n"
    "sshd:!:19000::::::\n"
    "backup:*:19000:0:99999:7:::\n"
    "alice:$6$salt$alicehash:19500:0:99999:7:::\n"
    "mallory:$y$j9T$m$mallory:19501:0:99999:7:30:20000:\n"
    "svc:!*:19502::::::\n"
    "nobody:*:19000:0:99999:7:::\n";
constexpr char kLoginDefs[] =
    "# comment\nMAIL_DIR /var/mail\nUID_MIN\t\t\t 1000\nUID_MAX\t\t\t60000\nSYS_UID_MAX 999\n";

std::string lineOf(const std::string& content, const std::string& user) {
  std::size_t at = 0;
  while (at < content.size()) {
    std::size_t end = content.find('\n', at);
    if (end == std::string::npos) end = content.size();
    std::string line = content.substr(at, end - at);
    if (line.substr(0, line.find(':')) == user) return line;
    at = end + 1;
  }
  return "";
}

// ---- pure parsing and editing -------------------------------------------------------------

TEST(ShadowFileTest, ParsesAndSerializesByteExact) {
  auto f = ShadowFile::parse(kShadow);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->entries().size(), 8u);
  EXPECT_EQ(f->serialize(), kShadow);
  ASSERT_NE(f->find("mallory"), nullptr);
  EXPECT_EQ(f->find("mallory")->fields[ShadowEntry::kExpire], "20000");
  EXPECT_EQ(f->find("eve"), nullptr);
}

TEST(ShadowFileTest, RefusesWhatDoesNotParse) {
  for (const char* bad : {
           "",                                    // empty
           "root:x:1:2:3:4:5:6:\nalice:x:1:2:3",  // torn last line
           "root:x:1:2:3:4:5:6:",                 // no final newline
           "root:x:1:2:3:4:5:6\n",                // 8 fields
           "root:x:1:2:3:4:5:6::\n",              // 10 fields
           "root:x:1:2:3:4:5:6:\n\n",             // blank line
           "root:x:abc::::::\n",                  // non-numeric date
           "root:x::::::-1:\n",                   // negative expiry
           ":x::::::::\n",                        // no name
           "+::::::::\n",                         // NIS compat entry
           "root:x::::::::\nroot:y::::::::\n",    // duplicate
           "root:x::::::::\r\n",                  // CR
           "# comment\nroot:x::::::::\n",         // comments are not shadow(5)
       }) {
    EXPECT_FALSE(ShadowFile::parse(bad).ok()) << "accepted: " << bad;
  }
  auto st = ShadowFile::parse("root:x:1:2:3:4:5:6:\nalice:x:1\n", "/etc/shadow");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().message(), "/etc/shadow line 2 has 3 fields, expected 9");
}

TEST(PasswdFileTest, ParsesStrictly) {
  auto p = PasswdFile::parse(kPasswd);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_NE(p->find("mallory"), nullptr);
  EXPECT_EQ(p->find("mallory")->uid, 1002u);
  EXPECT_EQ(p->find("mallory")->shell, "/bin/bash");
  for (const char* bad : {"root:x:0:0:root:/root\n", "root:x:zero:0::/:/bin/sh\n",
                          "root:x:0:0::/:/bin/sh\nroot:x:0:0::/:/bin/sh\n",
                          "root:x:4294967296:0::/:/bin/sh\n", "root:x:0:0::/:/bin/sh"}) {
    EXPECT_FALSE(PasswdFile::parse(bad).ok()) << bad;
  }
}

TEST(LoginDefsTest, ReadsUidRangeWithDefaults) {
  UidRange r = parseLoginDefs("UID_MIN 500\n#UID_MAX 10\nUID_MAX  2000\n");
  EXPECT_EQ(r.min, 500u);
  EXPECT_EQ(r.max, 2000u);
  UidRange d = parseLoginDefs("UID_MIN lots\n");
  EXPECT_EQ(d.min, 1000u);
  EXPECT_EQ(d.max, 60000u);
}

TEST(LoginAccountsTest, RealShellInRangePlusRoot) {
  auto p = PasswdFile::parse(kPasswd);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(loginAccounts(*p, parseLoginDefs(kLoginDefs)),
            (std::vector<std::string>{"alice", "mallory", "root"}));
  EXPECT_FALSE(isRealShell("/usr/sbin/nologin"));
  EXPECT_FALSE(isRealShell("/bin/false"));
  EXPECT_TRUE(isRealShell("/bin/zsh"));
  EXPECT_TRUE(isRealShell(""));
}

TEST(LockEditTest, LockAndExactUnlock) {
  auto e = parseShadowLine("mallory:$y$j9T$m$mallory:19501:0:99999:7:30:20000:");
  ASSERT_TRUE(e.ok());
  ShadowEntry locked = lockedEntry(*e);
  EXPECT_EQ(locked.line(), "mallory:!$y$j9T$m$mallory:19501:0:99999:7:30:1:");
  EXPECT_EQ(lockedEntry(locked), locked);  // idempotent
  LockRecord record{*e, locked};
  EXPECT_EQ(unlockedEntry(locked, record), *e);
  auto decoded = decodeLockRecord(encodeLockRecord(record));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->before, *e);
  EXPECT_EQ(decoded->locked, locked);
  EXPECT_FALSE(decodeLockRecord("garbage").ok());
  // Changed since the lock (say the warning period): only the lock's own fields go back.
  ShadowEntry edited = locked;
  edited.fields[5] = "14";
  ShadowEntry restored = unlockedEntry(edited, record);
  EXPECT_EQ(restored.line(), "mallory:$y$j9T$m$mallory:19501:0:99999:14:30:20000:");
  // An already '!'-locked hash keeps a single '!'.
  auto bang = parseShadowLine("svc:!*:19502::::::");
  ASSERT_TRUE(bang.ok());
  EXPECT_EQ(lockedEntry(*bang).line(), "svc:!*:19502:::::1:");
}

TEST(RandomPasswordTest, LengthAlphabetAndUniqueness) {
  auto a = randomPassword(24);
  auto b = randomPassword(24);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 24u);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(
      a->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"),
      std::string::npos);
}

// ---- the actions, against in-memory files -------------------------------------------------

class FakeAccountFiles : public AccountFiles {
 public:
  struct Shared {
    std::map<AccountFile, std::string> files;
    int replaces = 0;
    bool fail_replace = false;
    std::vector<std::string> hashed;
  };
  explicit FakeAccountFiles(Shared* shared) : s_(shared) {}
  absl::StatusOr<std::unique_ptr<Lock>> lock() override { return std::make_unique<Lock>(); }
  std::string path(AccountFile f) const override {
    return f == AccountFile::kShadow   ? "/etc/shadow"
           : f == AccountFile::kPasswd ? "/etc/passwd"
                                       : "/etc/login.defs";
  }
  absl::StatusOr<std::string> read(AccountFile f) override {
    auto it = s_->files.find(f);
    if (it == s_->files.end()) return absl::NotFoundError("no such file");
    return it->second;
  }
  absl::Status replace(AccountFile f, std::string_view content) override {
    if (s_->fail_replace) return absl::InternalError("Failed to write /etc/shadow: No space left");
    ++s_->replaces;
    s_->files[f] = std::string(content);
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> hashPassword(std::string_view password) override {
    s_->hashed.push_back(std::string(password));
    return "$fake$" + crypto::hex(crypto::sha256(password));
  }

 private:
  Shared* s_;
};

class AccountActionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/warden-acct-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = StateStore::open(dir_ + "/state");
    ASSERT_TRUE(store.ok()) << store.status();
    state_ = std::move(*store);
    shared_.files[AccountFile::kPasswd] = kPasswd;
    shared_.files[AccountFile::kShadow] = kShadow;
    shared_.files[AccountFile::kLoginDefs] = kLoginDefs;
    actions_ = makeAccountActions(std::make_unique<FakeAccountFiles>(&shared_), *state_);
  }
  void TearDown() override {
    actions_.reset();
    state_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string shadow() { return shared_.files[AccountFile::kShadow]; }
  static v1::AccountReport report(const ActionOutcome& out) {
    v1::AccountReport r;
    auto it = out.details.find(kResultDetail);
    EXPECT_NE(it, out.details.end());
    if (it == out.details.end()) return r;
    auto raw = crypto::unbase64(it->second);
    EXPECT_TRUE(raw.ok());
    EXPECT_TRUE(r.ParseFromString(*raw));
    return r;
  }
  static std::map<std::string, std::string> actionsByUser(const v1::AccountReport& r) {
    std::map<std::string, std::string> out;
    for (const auto& c : r.changes())
      out[c.user()] += (out[c.user()].empty() ? "" : "+") + c.action();
    return out;
  }
  void expectInvalid(const ActionOutcome& out) {
    EXPECT_FALSE(out.ok);
    auto it = out.details.find(kErrorDetail);
    ASSERT_NE(it, out.details.end()) << out.message;
    EXPECT_EQ(it->second, kInvalidArgument);
  }

  std::string dir_;
  std::unique_ptr<StateStore> state_;
  FakeAccountFiles::Shared shared_;
  std::unique_ptr<AccountActions> actions_;
};

TEST_F(AccountActionsTest, LockAllExceptLocksLoginAccountsOnly) {
  ActionOutcome out = actions_->lock({"all=1", "except=alice"});
  ASSERT_TRUE(out.ok) << out.message;
  std::string s = shadow();
  EXPECT_EQ(lineOf(s, "mallory"), "mallory:!$y$j9T$m$mallory:19501:0:99999:7:30:1:");
  EXPECT_EQ(lineOf(s, "root"), "root:!$y$j9T$abc$def:19000:0:99999:7::1:");
  for (const char* untouched : {"alice", "daemon", "sshd", "backup", "svc", "nobody"}) {
    EXPECT_EQ(lineOf(s, untouched), lineOf(kShadow, untouched)) << untouched;
  }
  v1::AccountReport r = report(out);
  EXPECT_EQ(actionsByUser(r),
            (std::map<std::string, std::string>{{"mallory", "locked"}, {"root", "locked"}}));
  for (const auto& c : r.changes()) {
    EXPECT_EQ(c.old_line_sha256(), crypto::hex(crypto::sha256(lineOf(kShadow, c.user()))));
    EXPECT_EQ(c.new_line_sha256(), crypto::hex(crypto::sha256(lineOf(s, c.user()))));
  }
  // The receipt never carries a hash.
  EXPECT_EQ(out.details[kResultDetail].find("$y$"), std::string::npos);
  EXPECT_EQ(report(out).SerializeAsString().find("j9T"), std::string::npos);
}

TEST_F(AccountActionsTest, UnlockRestoresExactLines) {
  ASSERT_TRUE(actions_->lock({"all=1", "except=alice"}).ok);
  ASSERT_NE(shadow(), kShadow);
  ActionOutcome again = actions_->lock({"user=mallory"});
  ASSERT_TRUE(again.ok);
  EXPECT_EQ(actionsByUser(report(again))["mallory"], "unchanged");
  ActionOutcome out = actions_->unlock({"all=1"});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(shadow(), kShadow);
  EXPECT_EQ(actionsByUser(report(out)),
            (std::map<std::string, std::string>{{"mallory", "unlocked"}, {"root", "unlocked"}}));
  // Nothing left to unlock.
  int replaces = shared_.replaces;
  ActionOutcome twice = actions_->unlock({"user=mallory"});
  ASSERT_TRUE(twice.ok);
  EXPECT_EQ(actionsByUser(report(twice))["mallory"], "unchanged");
  EXPECT_EQ(shared_.replaces, replaces);
}

TEST_F(AccountActionsTest, UnlockSingleUserLeavesOthersLocked) {
  ASSERT_TRUE(actions_->lock({"user=mallory", "user=alice"}).ok);
  ASSERT_TRUE(actions_->unlock({"user=alice"}).ok);
  EXPECT_EQ(lineOf(shadow(), "alice"), lineOf(kShadow, "alice"));
  EXPECT_NE(lineOf(shadow(), "mallory"), lineOf(kShadow, "mallory"));
  ASSERT_TRUE(actions_->unlock({"user=mallory"}).ok);
  EXPECT_EQ(shadow(), kShadow);
}

TEST_F(AccountActionsTest, RotateRootSealsPasswordToRecipient) {
  auto kp = crypto::generateX25519();
  ASSERT_TRUE(kp.ok());
  ActionOutcome out = actions_->lock(
      {"user=mallory", "rotate_root=1", "recipient=" + crypto::base64(kp->public_key)});
  ASSERT_TRUE(out.ok) << out.message;
  v1::AccountReport r = report(out);
  auto password = crypto::openSealed(kp->private_key, r.sealed_root_password());
  ASSERT_TRUE(password.ok()) << password.status();
  EXPECT_GE(password->size(), 20u);
  ASSERT_EQ(shared_.hashed.size(), 1u);
  EXPECT_EQ(shared_.hashed[0], *password);
  std::string root = lineOf(shadow(), "root");
  EXPECT_EQ(root.rfind("root:$fake$" + crypto::hex(crypto::sha256(*password)) + ":", 0), 0u)
      << root;
  EXPECT_EQ(actionsByUser(r),
            (std::map<std::string, std::string>{{"mallory", "locked"}, {"root", "rotated"}}));
  // The clear text is nowhere in what goes to the controller.
  for (const auto& [k, v] : out.details) EXPECT_EQ(v.find(*password), std::string::npos) << k;
  EXPECT_EQ(out.message.find(*password), std::string::npos);
  EXPECT_EQ(r.SerializeAsString().find(*password), std::string::npos);
}

TEST_F(AccountActionsTest, RotateAndLockRootThenUnlockKeepsNewPassword) {
  auto kp = crypto::generateX25519();
  ASSERT_TRUE(kp.ok());
  ActionOutcome out =
      actions_->lock({"all=1", "rotate_root=1", "recipient=" + crypto::base64(kp->public_key)});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(actionsByUser(report(out))["root"], "rotated+locked");
  std::string locked_root = lineOf(shadow(), "root");
  EXPECT_EQ(locked_root.rfind("root:!$fake$", 0), 0u) << locked_root;
  ASSERT_TRUE(actions_->unlock({"all=1"}).ok);
  std::string root = lineOf(shadow(), "root");
  EXPECT_EQ(root.rfind("root:$fake$", 0), 0u) << root;
  EXPECT_EQ(lineOf(shadow(), "mallory"), lineOf(kShadow, "mallory"));
  EXPECT_EQ(lineOf(shadow(), "alice"), lineOf(kShadow, "alice"));
}

TEST_F(AccountActionsTest, RotateWhileLockedStaysLockedAndUnlocksToNewPassword) {
  ASSERT_TRUE(actions_->lock({"user=root"}).ok);
  auto kp = crypto::generateX25519();
  ASSERT_TRUE(kp.ok());
  ActionOutcome out = actions_->lock(
      {"user=mallory", "rotate_root=1", "recipient=" + crypto::base64(kp->public_key)});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(lineOf(shadow(), "root").rfind("root:!$fake$", 0), 0u);
  ASSERT_TRUE(actions_->unlock({"user=root"}).ok);
  std::string root = lineOf(shadow(), "root");
  EXPECT_EQ(root.rfind("root:$fake$", 0), 0u) << root;
  EXPECT_EQ(root.substr(root.find(":0:99999")), ":0:99999:7:::");
}

TEST_F(AccountActionsTest, BadInputChangesNothing) {
  auto kp = crypto::generateX25519();
  ASSERT_TRUE(kp.ok());
  std::string recipient = "recipient=" + crypto::base64(kp->public_key);
  std::vector<std::vector<std::string>> bad = {
      {"user=eve"},
      {"user=mallory", "user=eve"},
      {"all=1", "except=eve"},
      {},
      {"user=mallory", "all=1"},
      {"user=mallory", "except=alice"},
      {"user=mallory", "rotate_root=1"},
      {"user=mallory", recipient},
      {"user=mallory", "rotate_root=1", "recipient=AAAA"},
      {"user=mallory", "colour=red"},
      {"user="},
      {"mallory"},
      {"all=yes"},
  };
  for (const auto& args : bad) {
    ActionOutcome out = actions_->lock(args);
    expectInvalid(out);
    EXPECT_FALSE(out.message.empty());
  }
  ActionOutcome unknown = actions_->lock({"user=eve"});
  EXPECT_EQ(unknown.message, "unknown user 'eve'");
  expectInvalid(actions_->unlock({"user=eve"}));
  expectInvalid(actions_->unlock({"all=1", "except=alice"}));
  expectInvalid(actions_->unlock({"user=root", "rotate_root=1", recipient}));
  EXPECT_EQ(shadow(), kShadow);
  EXPECT_EQ(shared_.replaces, 0);
  EXPECT_TRUE(shared_.hashed.empty());
}

TEST_F(AccountActionsTest, MalformedShadowIsRefusedUntouched) {
  std::string broken = std::string(kShadow) + "eve:x:1:2\n";
  shared_.files[AccountFile::kShadow] = broken;
  ActionOutcome out = actions_->lock({"user=mallory"});
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.message.find("/etc/shadow line 9 has 4 fields"), std::string::npos) << out.message;
  EXPECT_EQ(shadow(), broken);
  EXPECT_EQ(shared_.replaces, 0);
  shared_.files[AccountFile::kShadow] = kShadow;
  shared_.files[AccountFile::kPasswd] = "root:x:0:0\n";
  EXPECT_FALSE(actions_->lock({"all=1"}).ok);
  EXPECT_EQ(shadow(), kShadow);
}

TEST_F(AccountActionsTest, FailedWriteLeavesNoRecord) {
  shared_.fail_replace = true;
  ActionOutcome out = actions_->lock({"user=mallory"});
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.message.find("No space left"), std::string::npos) << out.message;
  EXPECT_EQ(state_->getOr(accountLockKey("mallory"), ""), "");
  shared_.fail_replace = false;
  EXPECT_EQ(shadow(), kShadow);
  ASSERT_TRUE(actions_->lock({"user=mallory"}).ok);
  ASSERT_TRUE(actions_->unlock({"user=mallory"}).ok);
  EXPECT_EQ(shadow(), kShadow);
}

TEST_F(AccountActionsTest, MissingLoginDefsUsesDefaults) {
  shared_.files.erase(AccountFile::kLoginDefs);
  ASSERT_TRUE(actions_->lock({"all=1"}).ok);
  for (const char* user : {"root", "alice", "mallory"}) {
    EXPECT_NE(lineOf(shadow(), user), lineOf(kShadow, user)) << user;
  }
  EXPECT_EQ(lineOf(shadow(), "nobody"), lineOf(kShadow, "nobody"));
}

// A crash between storing the records and replacing the file: unlock must not "restore"
// anything that was never changed.
TEST_F(AccountActionsTest, StaleRecordUnlockIsHarmless) {
  auto e = parseShadowLine(lineOf(kShadow, "mallory"));
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(
      state_->set(accountLockKey("mallory"), encodeLockRecord(LockRecord{*e, lockedEntry(*e)}))
          .ok());
  ASSERT_TRUE(actions_->unlock({"all=1"}).ok);
  EXPECT_EQ(shadow(), kShadow);
  ActionOutcome lock = actions_->lock({"user=mallory"});
  ASSERT_TRUE(lock.ok);
  EXPECT_EQ(actionsByUser(report(lock))["mallory"], "locked");
}

}  // namespace
}  // namespace warden
