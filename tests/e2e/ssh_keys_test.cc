// End to end: `warden revoke-keys` / `restore-keys` through the real controller, agent and CLI
// against key files in a test host, with keys made by ssh-keygen: a planted key in
// authorized_keys2 and a key with options are found and removed (fingerprints as ssh-keygen
// prints them), --fingerprint puts the key in Warden's KRL (which OpenSSH's ssh-keygen -Q reads
// and finds it revoked in), restore-keys gives back byte-identical files, an unparseable file
// is left untouched and named, and bad input is exit 2 with nothing sent.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kHost[] = "host-42";
constexpr char kRevoked[] = "/etc/ssh/warden_revoked_keys";

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeAll(const std::string& path, const std::string& content, uid_t uid) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(chown(path.c_str(), uid, uid), 0);
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
}

struct SshKey {
  std::string public_line;  // "ssh-ed25519 AAAA... comment"
  std::string fingerprint;  // as ssh-keygen -l prints it
};

// A fresh key pair from ssh-keygen, its public line and fingerprint.
SshKey makeKey(const std::string& dir, const std::string& name, const std::string& comment) {
  const std::string path = dir + "/" + name;
  auto gen = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path},
                 absl::Seconds(30));
  EXPECT_TRUE(gen.ok() && gen->exit_code == 0) << (gen.ok() ? gen->err : gen.status().ToString());
  auto fp = run({"ssh-keygen", "-l", "-E", "sha256", "-f", path + ".pub"}, absl::Seconds(30));
  EXPECT_TRUE(fp.ok() && fp->exit_code == 0);
  SshKey key;
  key.public_line = std::string(absl::StripTrailingAsciiWhitespace(readAll(path + ".pub")));
  if (fp.ok()) {
    std::vector<std::string> fields = absl::StrSplit(fp->out, ' ');
    if (fields.size() > 1) key.fingerprint = fields[1];
  }
  return key;
}

class SshKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto d = WardenDeployment::create(absl::StrFormat("ssh%d", getpid() % 100000), {{kHost, 42}});
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    TestHost& h = d_->host(kHost);
    // The host's /etc/ssh must be its own before anything is written there.
    auto fs = h.exec({"findmnt", "-n", "-o", "FSTYPE", "--target", "/etc/ssh"});
    ASSERT_TRUE(fs.ok() && fs->exit_code == 0);
    const std::string fstype(absl::StripAsciiWhitespace(fs->out));
    ASSERT_TRUE(fstype == "overlay" || fstype == "tmpfs") << "/etc/ssh on " << fstype;
    ASSERT_EQ(h.exec({"mkdir", "-p", "/etc/ssh"})->exit_code, 0);

    homes_ = h.dir() + "/home";
    ASSERT_TRUE(
        h.writeFile("/etc/passwd", absl::StrFormat("root:x:0:0:root:/root:/bin/bash\n"
                                                   "alice:x:1001:1001:Alice:%s/alice:/bin/bash\n"
                                                   "mallory:x:1002:1002::%s/mallory:/bin/bash\n",
                                                   homes_, homes_))
            .ok());
    ASSERT_TRUE(h.writeFile("/etc/ssh/sshd_config",
                            "# sshd_config of the test host\n"
                            "AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2\n"
                            "RevokedKeys /etc/ssh/warden_revoked_keys\n")
                    .ok());
    planted_ = makeKey(keys_.path(), "planted", "backdoor@203.0.113.9");
    optioned_ = makeKey(keys_.path(), "optioned", "deploy");
    alice_ = makeKey(keys_.path(), "alice", "alice@laptop");
    ASSERT_FALSE(planted_.fingerprint.empty());
    mallory_keys_ = "# managed by hand\nfrom=\"198.18.0.0/15\",no-pty,command=\"/usr/bin/id\" " +
                    optioned_.public_line + "\n";
    mallory_keys2_ = planted_.public_line + "\n";
    alice_keys_ = alice_.public_line + "\n";
    writeAll(path("mallory", "authorized_keys"), mallory_keys_, 1002);
    writeAll(path("mallory", "authorized_keys2"), mallory_keys2_, 1002);
    writeAll(path("alice", "authorized_keys"), alice_keys_, 1001);
    ASSERT_TRUE(d_->enroll(kHost).ok());
    ASSERT_TRUE(d_->startAgent(kHost).ok());
  }

  std::string path(const std::string& user, const std::string& file) const {
    return homes_ + "/" + user + "/.ssh/" + file;
  }
  RunResult warden(const std::vector<std::string>& args) {
    return d_->cliResult(args, absl::Seconds(90));
  }
  std::string revokedKeys() {
    auto s = d_->host(kHost).readFile(kRevoked);
    return s.ok() ? *s : "";
  }
  std::vector<std::string> files() {
    return {readAll(path("mallory", "authorized_keys")),
            readAll(path("mallory", "authorized_keys2")), readAll(path("alice", "authorized_keys")),
            revokedKeys()};
  }
  // `ssh-keygen -Q` run on the host against Warden's KRL: "REVOKED" or "ok".
  std::string keygenCheck(const SshKey& key) {
    const std::string pub = keys_.path() + "/check.pub";
    std::ofstream(pub) << key.public_line << "\n";
    auto r = d_->host(kHost).exec({"ssh-keygen", "-Q", "-f", kRevoked, pub});
    if (!r.ok()) return r.status().ToString();
    if (r->out.find("REVOKED") != std::string::npos) return "REVOKED";
    if (r->out.find(": ok") != std::string::npos) return "ok";
    return r->out + r->err;
  }
  bool dispatched(const std::string& kind) {
    return warden({"actions", "--json"}).out.find("\"" + kind + "\"") != std::string::npos;
  }

  std::unique_ptr<WardenDeployment> d_;
  TempDir keys_;
  std::string homes_;
  SshKey planted_, optioned_, alice_;
  std::string mallory_keys_, mallory_keys2_, alice_keys_;
};

TEST_F(SshKeysTest, RevokeUserFindsBothFilesAndRestoreGivesBackTheSameBytes) {
  RunResult dry = warden({"revoke-keys", kHost, "--user", "mallory", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.out << dry.err;
  EXPECT_NE(dry.out.find(planted_.fingerprint), std::string::npos) << dry.out;
  EXPECT_EQ(readAll(path("mallory", "authorized_keys2")), mallory_keys2_);

  RunResult r = warden({"revoke-keys", kHost, "--user", "mallory", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const SshKey* k : {&planted_, &optioned_}) {
    EXPECT_NE(r.out.find(k->fingerprint), std::string::npos) << k->fingerprint << r.out;
  }
  EXPECT_NE(r.out.find("authorized_keys2"), std::string::npos);
  EXPECT_NE(r.out.find("no-pty"), std::string::npos) << "the options are recorded";
  EXPECT_NE(r.out.find("\"revoked_keys_enforced\": true"), std::string::npos) << r.out;
  // Only the keys went: the comment line stays, and alice keeps hers.
  EXPECT_EQ(readAll(path("mallory", "authorized_keys")), "# managed by hand\n");
  EXPECT_EQ(readAll(path("mallory", "authorized_keys2")), "");
  EXPECT_EQ(readAll(path("alice", "authorized_keys")), alice_keys_);
  struct stat st;
  ASSERT_EQ(stat(path("mallory", "authorized_keys2").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1002u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // --user cleans the account's own files; it refuses nothing for other accounts.
  EXPECT_EQ(revokedKeys(), "") << "no KRL is written for --user";

  RunResult back = warden({"restore-keys", kHost});
  ASSERT_EQ(back.exit_code, 0) << back.out << back.err;
  EXPECT_EQ(readAll(path("mallory", "authorized_keys")), mallory_keys_);
  EXPECT_EQ(readAll(path("mallory", "authorized_keys2")), mallory_keys2_);
  ASSERT_EQ(stat(path("mallory", "authorized_keys2").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 1002u);
}

TEST_F(SshKeysTest, FingerprintRevokesOneKeyWherever) {
  // The same key planted for alice too.
  writeAll(path("alice", "authorized_keys2"), planted_.public_line + "\n", 1001);
  RunResult r = warden({"revoke-keys", kHost, "--fingerprint", planted_.fingerprint});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(readAll(path("alice", "authorized_keys2")), "");
  EXPECT_EQ(readAll(path("mallory", "authorized_keys2")), "");
  EXPECT_EQ(readAll(path("alice", "authorized_keys")), alice_keys_);
  EXPECT_EQ(readAll(path("mallory", "authorized_keys")), mallory_keys_);
  // OpenSSH's own ssh-keygen reads Warden's KRL and finds the key revoked, and only that one.
  EXPECT_EQ(keygenCheck(planted_), "REVOKED");
  EXPECT_EQ(keygenCheck(alice_), "ok");
  ASSERT_EQ(warden({"restore-keys", kHost}).exit_code, 0);
  EXPECT_EQ(keygenCheck(planted_), "ok");
  EXPECT_EQ(readAll(path("alice", "authorized_keys2")), planted_.public_line + "\n");
  EXPECT_EQ(readAll(path("mallory", "authorized_keys2")), mallory_keys2_);
}

TEST_F(SshKeysTest, UnparseableFileIsLeftUntouchedAndNamed) {
  const std::string broken = planted_.public_line + "\nssh-ed25519 not*base64 x\n";
  writeAll(path("mallory", "authorized_keys2"), broken, 1002);
  RunResult r = warden({"revoke-keys", kHost, "--user", "mallory"});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("authorized_keys2 line 2"), std::string::npos) << r.out << r.err;
  EXPECT_EQ(readAll(path("mallory", "authorized_keys2")), broken);
  EXPECT_EQ(readAll(path("mallory", "authorized_keys")), "# managed by hand\n");
  ASSERT_EQ(warden({"restore-keys", kHost}).exit_code, 0);
  EXPECT_EQ(readAll(path("mallory", "authorized_keys")), mallory_keys_);
}

TEST_F(SshKeysTest, BadInputIsExitTwoAndNothingIsSent) {
  const auto before = files();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"revoke-keys", kHost, "--fingerprint", "SHA256:tooshort"},
           {"revoke-keys", kHost, "--fingerprint", "MD5:12:34:56"},
           {"revoke-keys", kHost},
           {"revoke-keys", "no-such-host", "--user", "mallory"},
           {"revoke-keys", kHost, "--user", "mallory", "--incident", "no-such-incident"}}) {
    RunResult r = warden(args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n" << r.out << r.err;
  }
  EXPECT_FALSE(dispatched("revoke-keys"));
  // Known to the agent only: an account the host does not have.
  RunResult unknown = warden({"revoke-keys", kHost, "--user", "eve"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.out << unknown.err;
  EXPECT_EQ(files(), before);
}

}  // namespace
}  // namespace warden::testing
