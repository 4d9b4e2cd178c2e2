// revoke-keys / restore-keys on real files in a temporary directory standing for /etc and the
// home directories: every key file sshd reads is found, the selected keys go (--fingerprint:
// into the KRL too), restore gives back byte-identical files, a file Warden may not edit is
// left as it is and named, and bad arguments change nothing. (The KRL's bytes are checked
// against ssh-keygen in agent_authorized_keys_test and the e2e test.)
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "agent/actions/authorized_keys.h"
#include "agent/actions/ssh_key_record.h"
#include "agent/actions/ssh_keys.h"
#include "common/crypto/encoding.h"
#include "tests/support/temp_dir.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

using testing::TempDir;

std::string sshString(std::string_view s) {
  const auto n = static_cast<std::uint32_t>(s.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + std::string(s);
}

// A well-formed ed25519 public key line whose key bytes are `seed` repeated.
std::string key(char seed, std::string_view comment = "") {
  const std::string blob = sshString("ssh-ed25519") + sshString(std::string(32, seed));
  std::string line = "ssh-ed25519 " + crypto::base64(blob);
  if (!comment.empty()) line += " " + std::string(comment);
  return line;
}

std::string fingerprintOf(const std::string& line) {
  auto f = AuthorizedKeysFile::parse(line + "\n", "test");
  return f.ok() && !f->keys().empty() ? f->keys().front().fingerprint : "";
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeAll(const std::string& path, const std::string& content, mode_t mode = 0600) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

// The real files, with replace() failing for paths that end in `fail_suffix`.
class FailingFiles : public OwnedFiles {
 public:
  explicit FailingFiles(std::string* fail_suffix) : fail_suffix_(fail_suffix) {}
  absl::StatusOr<OwnedFile> read(const OwnedPath& where, std::size_t max) override {
    return real_->read(where, max);
  }
  absl::Status replace(const OwnedPath& where, std::string_view content, uid_t uid, gid_t gid,
                       mode_t mode) override {
    if (!fail_suffix_->empty() && where.full().ends_with(*fail_suffix_)) {
      return absl::ResourceExhaustedError("No space left on device (injected)");
    }
    return real_->replace(where, content, uid, gid, mode);
  }
  absl::StatusOr<std::string> readConfig(const std::string& path, std::size_t max) override {
    return real_->readConfig(path, max);
  }
  std::vector<std::string> glob(const std::string& pattern) override {
    return real_->glob(pattern);
  }
  bool isDirectory(const std::string& path) override { return real_->isDirectory(path); }

 private:
  std::unique_ptr<OwnedFiles> real_ = linux_os::makeOwnedFiles();
  std::string* fail_suffix_;
};

class SshKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const unsigned uid = getuid();
    etc_ = dir_.file("etc");
    writeAll(etc_ + "/passwd",
             absl::StrFormat("root:x:0:0:root:%s/root:/bin/bash\n"
                             "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                             "alice:x:%d:%d:Alice:%s/home/alice:/bin/bash\n"
                             "mallory:x:%d:%d::%s/home/mallory:/bin/bash\n",
                             dir_.path(), uid, uid, dir_.path(), uid, uid, dir_.path()),
             0644);
    mallory_keys_ = "# mallory's keys\n" + key('m', "mallory@laptop") + "\n\n" +
                    "from=\"198.18.0.0/15\",command=\"/bin/echo \\\"hi\\\"\" " + key('o') + "\n";
    mallory_keys2_ = key('p', "planted") + "\n" + key('s', "shared");  // no final newline
    alice_keys_ = key('a', "alice@work") + "\n" + key('s', "shared") + "\n";
    std::filesystem::create_directories(etc_ + "/ssh");
    writeAll(home("mallory") + "/.ssh/authorized_keys", mallory_keys_);
    writeAll(home("mallory") + "/.ssh/authorized_keys2", mallory_keys2_, 0644);
    writeAll(home("alice") + "/.ssh/authorized_keys", alice_keys_);
    auto store = StateStore::open(dir_.file("state"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    keys_ = makeSshKeyActions(std::make_unique<FailingFiles>(&fail_), *store_,
                              {.etc_dir = etc_, .revoked_keys = revokedPath()});
  }

  std::string home(const std::string& user) const { return dir_.path() + "/home/" + user; }
  std::string revokedPath() const { return etc_ + "/ssh/warden_revoked_keys"; }
  std::string malloryFile(const char* name) const { return home("mallory") + "/.ssh/" + name; }

  static v1::SshKeyReport report(const ActionOutcome& out) {
    v1::SshKeyReport r;
    auto it = out.details.find(kResultDetail);
    if (it != out.details.end()) {
      auto raw = crypto::unbase64(it->second);
      EXPECT_TRUE(raw.ok() && r.ParseFromString(*raw));
    }
    return r;
  }

  // The files as they are before an action that must change nothing.
  std::vector<std::string> snapshot() const {
    return {readAll(malloryFile("authorized_keys")), readAll(malloryFile("authorized_keys2")),
            readAll(home("alice") + "/.ssh/authorized_keys"), readAll(revokedPath()),
            store_->getOr(kKeyRevocationKey, "")};
  }

  TempDir dir_;
  std::string fail_;  // replace() fails for paths ending in this
  std::string etc_;
  std::string mallory_keys_, mallory_keys2_, alice_keys_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<SshKeyActions> keys_;
};

bool isKrl(const std::string& bytes) { return bytes.starts_with(std::string("SSHKRL\n\0", 8)); }

TEST_F(SshKeysTest, RevokeUserEmptiesBothFilesAndRestoreGivesBackTheExactBytes) {
  ActionOutcome out = keys_->revoke({"user=mallory"});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(readAll(malloryFile("authorized_keys")), "# mallory's keys\n\n");
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), "");
  EXPECT_EQ(readAll(home("alice") + "/.ssh/authorized_keys"), alice_keys_);
  struct stat st;
  ASSERT_EQ(stat(malloryFile("authorized_keys2").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);

  const v1::SshKeyReport r = report(out);
  ASSERT_EQ(r.keys_size(), 4);
  EXPECT_EQ(r.keys(0).user(), "mallory");
  EXPECT_EQ(r.keys(0).line(), 2u);
  EXPECT_EQ(r.keys(0).comment(), "mallory@laptop");
  EXPECT_EQ(r.keys(0).fingerprint(), fingerprintOf(key('m')));
  EXPECT_EQ(r.keys(1).options(), "from=\"198.18.0.0/15\",command=\"/bin/echo \\\"hi\\\"\"");
  EXPECT_EQ(r.keys(2).file(), malloryFile("authorized_keys2"));
  ASSERT_EQ(r.files_size(), 2);
  EXPECT_GT(r.files(0).mtime_unix_ms(), 0);
  EXPECT_FALSE(r.revoked_keys_enforced());  // no sshd_config names the file
  // --user touches the account's own files only: alice keeps the key she shares, and is told.
  EXPECT_FALSE(std::filesystem::exists(revokedPath()));
  bool told = false;
  for (const auto& w : r.warnings()) told = told || w.find("(alice)") != std::string::npos;
  EXPECT_TRUE(told) << out.message;

  ActionOutcome back = keys_->restore({});
  ASSERT_TRUE(back.ok) << back.message;
  EXPECT_EQ(readAll(malloryFile("authorized_keys")), mallory_keys_);
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), mallory_keys2_);
  ASSERT_EQ(stat(malloryFile("authorized_keys2").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(report(back).files_size(), 2);
  EXPECT_EQ(report(back).files(0).action(), "restored");
  // Nothing left to restore.
  ActionOutcome again = keys_->restore({});
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.message, "no key was revoked by Warden");
}

TEST_F(SshKeysTest, FingerprintGoesFromEveryAccountAndIntoTheKrl) {
  ActionOutcome out = keys_->revoke({"fingerprint=" + fingerprintOf(key('s'))});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(readAll(home("alice") + "/.ssh/authorized_keys"), key('a', "alice@work") + "\n");
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), key('p', "planted") + "\n");
  EXPECT_EQ(readAll(malloryFile("authorized_keys")), mallory_keys_);
  EXPECT_EQ(report(out).keys_size(), 2);
  const std::string krl = readAll(revokedPath());
  EXPECT_TRUE(isKrl(krl));
  // A second revoke of another key in an edited file, then one restore undoes both.
  ASSERT_TRUE(keys_->revoke({"fingerprint=" + fingerprintOf(key('p'))}).ok);
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), "");
  EXPECT_GT(readAll(revokedPath()).size(), krl.size());  // one more 32-byte hash
  ASSERT_TRUE(keys_->restore({}).ok);
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), mallory_keys2_);
  EXPECT_EQ(readAll(home("alice") + "/.ssh/authorized_keys"), alice_keys_);
  // The KRL stays, revoking nothing: sshd refuses every key when it cannot read it.
  EXPECT_TRUE(isKrl(readAll(revokedPath())));
  EXPECT_LT(readAll(revokedPath()).size(), krl.size());
}

TEST_F(SshKeysTest, UnknownFingerprintIsRefusedThroughTheKrlOnly) {
  const auto files = snapshot();
  ActionOutcome out = keys_->revoke({"fingerprint=" + fingerprintOf(key('z'))});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_TRUE(isKrl(readAll(revokedPath())));
  EXPECT_EQ(readAll(malloryFile("authorized_keys")), files[0]);
  const v1::SshKeyReport r = report(out);
  bool told = false;
  for (const auto& w : r.warnings()) told = told || w.find("in no key file") != std::string::npos;
  EXPECT_TRUE(told);
}

TEST_F(SshKeysTest, RestorePutsLinesBackIntoAFileChangedSince) {
  ASSERT_TRUE(keys_->revoke({"user=alice"}).ok);
  writeAll(home("alice") + "/.ssh/authorized_keys", key('n', "new") + "\n");
  ActionOutcome back = keys_->restore({});
  ASSERT_TRUE(back.ok) << back.message;
  EXPECT_EQ(readAll(home("alice") + "/.ssh/authorized_keys"),
            key('n', "new") + "\n" + key('a', "alice@work") + "\n" + key('s', "shared") + "\n");
  EXPECT_EQ(report(back).files(0).action(), "merged");
}

TEST_F(SshKeysTest, ASecondRevokeAfterAnEditMergesOnRestore) {
  ASSERT_TRUE(keys_->revoke({"fingerprint=" + fingerprintOf(key('a'))}).ok);
  // Someone adds a key; a second revoke takes the shared one.
  writeAll(home("alice") + "/.ssh/authorized_keys",
           readAll(home("alice") + "/.ssh/authorized_keys") + key('n', "new") + "\n");
  ASSERT_TRUE(keys_->revoke({"fingerprint=" + fingerprintOf(key('s'))}).ok);
  EXPECT_EQ(readAll(home("alice") + "/.ssh/authorized_keys"), key('n', "new") + "\n");
  ASSERT_TRUE(keys_->restore({}).ok);
  // The added key stays; both removed keys come back.
  EXPECT_EQ(readAll(home("alice") + "/.ssh/authorized_keys"),
            key('n', "new") + "\n" + key('a', "alice@work") + "\n" + key('s', "shared") + "\n");
}

TEST_F(SshKeysTest, RestoreAfterACrashFindsTheFilesAlreadyBack) {
  ASSERT_TRUE(keys_->revoke({"user=mallory"}).ok);
  // The files were put back, but the agent died before it cleared its record.
  writeAll(malloryFile("authorized_keys"), mallory_keys_);
  writeAll(malloryFile("authorized_keys2"), mallory_keys2_, 0644);
  ActionOutcome back = keys_->restore({});
  ASSERT_TRUE(back.ok) << back.message;
  EXPECT_EQ(readAll(malloryFile("authorized_keys")), mallory_keys_);
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), mallory_keys2_);  // no newline added
  EXPECT_EQ(report(back).files(0).action(), "unchanged");
}

TEST_F(SshKeysTest, WithoutSshDirectoryKeysStillGoFromTheFiles) {
  std::filesystem::remove_all(etc_ + "/ssh");
  ActionOutcome out = keys_->revoke({"fingerprint=" + fingerprintOf(key('p'))});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), key('s', "shared"));
  const v1::SshKeyReport r = report(out);
  bool told = false;
  for (const auto& w : r.warnings())
    told = told || w.find("no such directory") != std::string::npos;
  EXPECT_TRUE(told);
  ActionOutcome back = keys_->restore({});
  ASSERT_TRUE(back.ok) << back.message;
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), mallory_keys2_);
  EXPECT_FALSE(std::filesystem::exists(etc_ + "/ssh"));
}

TEST_F(SshKeysTest, DryRunChangesNothing) {
  const auto before = snapshot();
  ActionOutcome out =
      keys_->revoke({"user=mallory", "fingerprint=" + fingerprintOf(key('a')), "dry_run=1"});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_TRUE(report(out).dry_run());
  EXPECT_EQ(report(out).keys(0).action(), "would-revoke");
  EXPECT_EQ(snapshot(), before);
}

TEST_F(SshKeysTest, AFileThatDoesNotParseIsLeftUntouchedAndNamed) {
  writeAll(malloryFile("authorized_keys2"), key('p') + "\nnot a key at all\n");
  const std::string broken = readAll(malloryFile("authorized_keys2"));
  ActionOutcome out = keys_->revoke({"user=mallory"});
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.message.find("authorized_keys2 line 2"), std::string::npos) << out.message;
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), broken);
  // The account's other file is still cleaned, and restore-keys can undo that.
  EXPECT_EQ(readAll(malloryFile("authorized_keys")), "# mallory's keys\n\n");
  const v1::SshKeyReport r = report(out);
  bool left = false;
  for (const auto& k : r.keys()) left = left || k.action() == "left-in-refused-file";
  EXPECT_TRUE(left);
  ASSERT_TRUE(keys_->restore({}).ok);
  EXPECT_EQ(readAll(malloryFile("authorized_keys")), mallory_keys_);
}

TEST_F(SshKeysTest, LinksAreNeverFollowed) {
  const std::string target = dir_.file("elsewhere");
  writeAll(target, key('x') + "\n");
  ASSERT_EQ(unlink(malloryFile("authorized_keys").c_str()), 0);
  ASSERT_EQ(symlink(target.c_str(), malloryFile("authorized_keys").c_str()), 0);
  ActionOutcome out = keys_->revoke({"user=mallory"});
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.message.find("symbolic link"), std::string::npos) << out.message;
  EXPECT_EQ(readAll(target), key('x') + "\n");
  struct stat st;
  ASSERT_EQ(lstat(malloryFile("authorized_keys").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode)) << "the link itself stays";

  // ~/.ssh itself a link (to a directory holding another account's keys): nothing below it is
  // read or written.
  std::filesystem::create_directories(dir_.file("other/.ssh"));
  writeAll(dir_.file("other/.ssh/authorized_keys"), key('y') + "\n");
  std::filesystem::remove_all(home("mallory") + "/.ssh");
  ASSERT_EQ(symlink(dir_.file("other/.ssh").c_str(), (home("mallory") + "/.ssh").c_str()), 0);
  ActionOutcome dir = keys_->revoke({"user=mallory"});
  EXPECT_FALSE(dir.ok);
  EXPECT_EQ(readAll(dir_.file("other/.ssh/authorized_keys")), key('y') + "\n");
}

TEST_F(SshKeysTest, FilesThatAreNotRegularAreRefused) {
  std::filesystem::remove(malloryFile("authorized_keys2"));
  ASSERT_EQ(mkfifo(malloryFile("authorized_keys2").c_str(), 0600), 0);
  ActionOutcome fifo = keys_->revoke({"user=mallory"});  // returns: a FIFO is never opened
  EXPECT_FALSE(fifo.ok);
  EXPECT_NE(fifo.message.find("not a regular file"), std::string::npos) << fifo.message;
  ASSERT_TRUE(keys_->restore({}).ok);

  std::filesystem::remove(malloryFile("authorized_keys2"));
  ASSERT_EQ(link(malloryFile("authorized_keys").c_str(), malloryFile("authorized_keys2").c_str()),
            0);
  ActionOutcome linked = keys_->revoke({"user=mallory"});
  EXPECT_FALSE(linked.ok);
  EXPECT_NE(linked.message.find("hard links"), std::string::npos) << linked.message;
}

TEST_F(SshKeysTest, BadArgumentsAreInvalidAndChangeNothing) {
  const auto before = snapshot();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"user=nobody-here"},
                                             {"fingerprint=SHA256:short"},
                                             {"fingerprint=MD5:aa:bb"},
                                             {},
                                             {"dry_run=1"},
                                             {"colour=red"}}) {
    ActionOutcome out = keys_->revoke(args);
    EXPECT_FALSE(out.ok) << ::testing::PrintToString(args);
    EXPECT_EQ(out.details[kErrorDetail], kInvalidArgument) << out.message;
  }
  EXPECT_EQ(keys_->restore({"user=x"}).details[kErrorDetail], kInvalidArgument);
  EXPECT_EQ(snapshot(), before);
}

TEST_F(SshKeysTest, FollowsSshdConfigKeyFilesMatchBlocksAndRevokedKeys) {
  writeAll(etc_ + "/ssh/sshd_config",
           "Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n"
           "Match User mallory\n  AuthorizedKeysFile .ssh/match_keys\n",
           0644);
  writeAll(etc_ + "/ssh/sshd_config.d/keys.conf",
           "AuthorizedKeysFile .ssh/authorized_keys %h/.ssh/extra_keys\n"
           "RevokedKeys /etc/ssh/warden_revoked_keys\n",
           0644);
  writeAll(home("mallory") + "/.ssh/extra_keys", key('e', "extra") + "\n");
  writeAll(home("mallory") + "/.ssh/match_keys", key('k', "match") + "\n");
  ActionOutcome out = keys_->revoke({"user=mallory"});
  ASSERT_TRUE(out.ok) << out.message;
  const v1::SshKeyReport r = report(out);
  EXPECT_TRUE(r.revoked_keys_enforced());
  EXPECT_EQ(readAll(home("mallory") + "/.ssh/extra_keys"), "");
  EXPECT_EQ(readAll(home("mallory") + "/.ssh/match_keys"), "");
  // authorized_keys2 is not among the configured files: left alone.
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), mallory_keys2_);
  EXPECT_EQ(r.keys_size(), 4);
}

TEST_F(SshKeysTest, AFileThatCannotBeWrittenStopsNeitherTheKrlNorTheOtherFiles) {
  fail_ = "mallory/.ssh/authorized_keys2";
  ActionOutcome out = keys_->revoke({"fingerprint=" + fingerprintOf(key('s'))});
  EXPECT_FALSE(out.ok);
  EXPECT_NE(out.message.find("injected"), std::string::npos) << out.message;
  EXPECT_TRUE(isKrl(readAll(revokedPath())));
  EXPECT_EQ(readAll(home("alice") + "/.ssh/authorized_keys"), key('a', "alice@work") + "\n");
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), mallory_keys2_);
  std::map<std::string, std::string> actions;
  const v1::SshKeyReport r = report(out);
  for (const auto& k : r.keys()) actions[k.user()] = k.action();
  EXPECT_EQ(actions["alice"], "revoked");
  EXPECT_EQ(actions["mallory"], "not-revoked");
  fail_.clear();
  ASSERT_TRUE(keys_->restore({}).ok);
  EXPECT_EQ(readAll(home("alice") + "/.ssh/authorized_keys"), alice_keys_);
}

TEST_F(SshKeysTest, AKrlThatCouldNotBeWrittenIsWrittenByTheNextRevoke) {
  fail_ = "warden_revoked_keys";
  const std::string fp = "fingerprint=" + fingerprintOf(key('z'));
  ActionOutcome out = keys_->revoke({fp});
  EXPECT_FALSE(out.ok);
  EXPECT_FALSE(std::filesystem::exists(revokedPath()));
  EXPECT_EQ(report(out).krl_fingerprints_size(), 0);
  fail_.clear();
  ActionOutcome again = keys_->revoke({fp});
  ASSERT_TRUE(again.ok) << again.message;
  EXPECT_TRUE(isKrl(readAll(revokedPath())));
  EXPECT_EQ(report(again).krl_fingerprints_size(), 1);
}

TEST_F(SshKeysTest, AccountsSharingAHomeShareItsKeyFiles) {
  writeAll(
      etc_ + "/passwd",
      readAll(etc_ + "/passwd") + absl::StrFormat("mallory2:x:%d:%d::%s/home/mallory/:/bin/bash\n",
                                                  getuid(), getuid(), dir_.path()),
      0644);
  ActionOutcome out = keys_->revoke({"user=mallory2"});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_EQ(readAll(malloryFile("authorized_keys2")), "");
}

TEST_F(SshKeysTest, AMatchBlocksOwnRevokedKeysIsNotEnforcement) {
  writeAll(etc_ + "/ssh/sshd_config",
           "RevokedKeys /etc/ssh/warden_revoked_keys\nMatch User alice\n  RevokedKeys none\n",
           0644);
  ActionOutcome out = keys_->revoke({"user=mallory", "dry_run=1"});
  ASSERT_TRUE(out.ok) << out.message;
  EXPECT_FALSE(report(out).revoked_keys_enforced());
}

}  // namespace
}  // namespace warden
