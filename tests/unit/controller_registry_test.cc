// controller/registry.h and controller/data_dir.h against a real temporary directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/command.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/profile.h"
#include "controller/data_dir.h"
#include "controller/registry.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::warden::testing::modeOf;
using ::warden::testing::TempDir;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::StartsWith;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Registry::open(dir_.file("warden.db"));
    ASSERT_TRUE(r.ok()) << r.status();
    reg_ = std::move(*r);
  }

  HostRecord host(const std::string& id) const {
    HostRecord h;
    h.host_id = id;
    h.cert_fingerprint = "fp";
    h.receipt_public_key = "k";
    return h;
  }

  ActionRecord action(const std::string& id, const std::string& host,
                      std::int64_t expires_ms) const {
    ActionRecord a;
    a.id = id;
    a.host_id = host;
    a.kind = "isolate";
    a.state = "queued";
    a.requested_by = "alice";
    a.reason = "INC-7 " + id;
    a.params = "{\"allow\":[]}";
    a.created_ms = nowUnixMs();
    a.expires_ms = expires_ms;
    a.command = std::string("cmd\0", 4) + id;
    a.command_signature = std::string(64, '\x5a');
    return a;
  }

  static std::vector<std::string> ids(const std::vector<ActionRecord>& v) {
    std::vector<std::string> out;
    for (const auto& a : v) out.push_back(a.id);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Registry> reg_;
};

const std::int64_t kHour = 3'600'000;

// ---- meta and operators --------------------------------------------------------------------

TEST_F(RegistryTest, Meta) {
  EXPECT_EQ(reg_->meta("listen").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(reg_->setMeta("listen", "[::]:7443").ok());
  EXPECT_EQ(*reg_->meta("listen"), "[::]:7443");
  ASSERT_TRUE(reg_->setMeta("listen", "198.18.0.1:7443").ok());
  EXPECT_EQ(*reg_->meta("listen"), "198.18.0.1:7443");
}

TEST_F(RegistryTest, Operators) {
  const OperatorRecord op{"alice", "responder", "ab12", std::string("\0pub", 4)};
  ASSERT_TRUE(reg_->addOperator(op).ok());
  auto found = reg_->findOperator("alice");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->name, "alice");
  EXPECT_EQ(found->role, "responder");
  EXPECT_EQ(found->cert_fingerprint, "ab12");
  EXPECT_EQ(found->signing_public_key, op.signing_public_key);
  auto dup = reg_->addOperator(OperatorRecord{"alice", "admin", "cd34", "k"});
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(reg_->findOperator("alice")->role, "responder") << "the duplicate changed nothing";
  EXPECT_EQ(reg_->findOperator("bob").status().code(), absl::StatusCode::kNotFound);
}

// ---- join tokens ---------------------------------------------------------------------------

TEST_F(RegistryTest, TokensAreOneTime) {
  const std::string hash = crypto::sha256("secret");
  ASSERT_TRUE(reg_->addToken("t1", hash, "", nowUnixMs() + kHour, "admin").ok());
  auto first = reg_->consumeToken("t1", hash, "host-a");
  ASSERT_TRUE(first.ok()) << first;
  auto second = reg_->consumeToken("t1", hash, "host-b");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(second.message(), HasSubstr("already used"));
  EXPECT_THAT(second.message(), HasSubstr("host-a"));
  // Not even by the same host.
  EXPECT_FALSE(reg_->consumeToken("t1", hash, "host-a").ok());
}

TEST_F(RegistryTest, ExpiredTokensFail) {
  const std::string hash = crypto::sha256("secret");
  ASSERT_TRUE(reg_->addToken("old", hash, "", nowUnixMs() - 1, "admin").ok());
  auto s = reg_->consumeToken("old", hash, "host-a");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("expired"));
}

TEST_F(RegistryTest, BoundTokenOnlyEnrollsItsHost) {
  const std::string hash = crypto::sha256("secret");
  ASSERT_TRUE(reg_->addToken("t2", hash, "host-a", nowUnixMs() + kHour, "admin").ok());
  auto other = reg_->consumeToken("t2", hash, "host-b");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(other.message(), HasSubstr("bound to host 'host-a', not 'host-b'"));
  // The refused attempt did not burn the token.
  EXPECT_TRUE(reg_->consumeToken("t2", hash, "host-a").ok());
}

TEST_F(RegistryTest, WrongSecretFailsAndDoesNotBurnTheToken) {
  const std::string hash = crypto::sha256("secret");
  ASSERT_TRUE(reg_->addToken("t3", hash, "", nowUnixMs() + kHour, "admin").ok());
  auto s = reg_->consumeToken("t3", crypto::sha256("guess"), "host-a");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("secret does not match"));
  EXPECT_FALSE(reg_->consumeToken("t3", "", "host-a").ok());
  EXPECT_TRUE(reg_->consumeToken("t3", hash, "host-a").ok());
}

TEST_F(RegistryTest, UnknownTokenFails) {
  auto s = reg_->consumeToken("nope", crypto::sha256("secret"), "host-a");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("not known"));
}

TEST_F(RegistryTest, TokenIdsAreUnique) {
  const std::string hash = crypto::sha256("secret");
  ASSERT_TRUE(reg_->addToken("t4", hash, "", nowUnixMs() + kHour, "admin").ok());
  EXPECT_FALSE(
      reg_->addToken("t4", crypto::sha256("other"), "", nowUnixMs() + kHour, "admin").ok());
  EXPECT_TRUE(reg_->consumeToken("t4", hash, "host-a").ok()) << "the first token is intact";
}

// ---- hosts ---------------------------------------------------------------------------------

TEST_F(RegistryTest, Hosts) {
  HostRecord h;
  h.host_id = "host-b";
  h.cert_fingerprint = "fp1";
  h.receipt_public_key = std::string(32, '\0');
  h.enrolled_ms = 1234;
  ASSERT_TRUE(reg_->addHost(h, false).ok());

  HostRecord again = h;
  again.cert_fingerprint = "fp2";
  auto dup = reg_->addHost(again, false);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(dup.message(), HasSubstr("host-b"));
  EXPECT_EQ(reg_->findHost("host-b")->cert_fingerprint, "fp1") << "not replaced";

  ASSERT_TRUE(reg_->addHost(again, true).ok());
  auto found = reg_->findHost("host-b");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->cert_fingerprint, "fp2");
  EXPECT_EQ(found->receipt_public_key, std::string(32, '\0'));
  EXPECT_EQ(found->enrolled_ms, 1234);
  EXPECT_EQ(found->containment, "none");

  HostRecord a = h;
  a.host_id = "host-a";
  ASSERT_TRUE(reg_->addHost(a, false).ok());
  auto all = reg_->listHosts();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].host_id, "host-a");
  EXPECT_EQ((*all)[1].host_id, "host-b");

  EXPECT_EQ(reg_->findHost("host-z").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, HostSeenAndContainment) {
  ASSERT_TRUE(reg_->addHost(host("host-a"), false).ok());
  v1::Facts facts;
  facts.set_hostname("host-a");
  facts.add_addresses("198.18.0.7/15");
  facts.set_isolated(true);
  const std::int64_t before = nowUnixMs();
  ASSERT_TRUE(reg_->updateHostSeen("host-a", "ipv4:198.18.0.7:50000", &facts).ok());
  ASSERT_TRUE(reg_->setContainment("host-a", "isolated").ok());
  auto found = reg_->findHost("host-a");
  ASSERT_TRUE(found.ok());
  EXPECT_GE(found->last_seen_ms, before);
  EXPECT_EQ(found->peer, "ipv4:198.18.0.7:50000");
  EXPECT_EQ(found->facts.hostname(), "host-a");
  EXPECT_THAT(found->facts.addresses(), ElementsAre("198.18.0.7/15"));
  EXPECT_TRUE(found->facts.isolated());
  EXPECT_EQ(found->containment, "isolated");
  // Without facts, the stored facts stay.
  ASSERT_TRUE(reg_->updateHostSeen("host-a", "ipv4:198.18.0.7:50001", nullptr).ok());
  EXPECT_EQ(reg_->findHost("host-a")->facts.hostname(), "host-a");
  EXPECT_EQ(reg_->findHost("host-a")->peer, "ipv4:198.18.0.7:50001");
}

// ---- actions -------------------------------------------------------------------------------

TEST_F(RegistryTest, AddFindListActions) {
  const std::int64_t later = nowUnixMs() + kHour;
  for (const char* id : {"a1", "a2", "a3"})
    ASSERT_TRUE(reg_->addAction(action(id, "host-a", later)).ok());
  ASSERT_TRUE(reg_->addAction(action("b1", "host-b", later)).ok());
  ASSERT_TRUE(reg_->addAction(action("a4", "host-a", later)).ok());

  auto a2 = reg_->findAction("a2");
  ASSERT_TRUE(a2.ok()) << a2.status();
  const ActionRecord want = action("a2", "host-a", later);
  EXPECT_EQ(a2->id, "a2");
  EXPECT_EQ(a2->host_id, "host-a");
  EXPECT_EQ(a2->kind, "isolate");
  EXPECT_EQ(a2->state, "queued");
  EXPECT_EQ(a2->requested_by, "alice");
  EXPECT_EQ(a2->reason, want.reason);
  EXPECT_EQ(a2->params, want.params);
  EXPECT_EQ(a2->expires_ms, later);
  EXPECT_EQ(a2->finished_ms, 0);
  EXPECT_EQ(a2->command, want.command) << "blob with a NUL byte";
  EXPECT_EQ(a2->command_signature, want.command_signature);
  EXPECT_EQ(a2->receipt, "");
  EXPECT_FALSE(a2->finished());
  EXPECT_EQ(reg_->findAction("zz").status().code(), absl::StatusCode::kNotFound);

  auto all_a = reg_->listActions("host-a", 10);
  ASSERT_TRUE(all_a.ok());
  EXPECT_THAT(ids(*all_a), ElementsAre("a1", "a2", "a3", "a4")) << "oldest first";
  auto last_two = reg_->listActions("host-a", 2);
  ASSERT_TRUE(last_two.ok());
  EXPECT_THAT(ids(*last_two), ElementsAre("a3", "a4")) << "the newest, oldest first";
  auto everything = reg_->listActions("", 10);
  ASSERT_TRUE(everything.ok());
  EXPECT_THAT(ids(*everything), ElementsAre("a1", "a2", "a3", "b1", "a4"));
  auto last_three = reg_->listActions("", 3);
  ASSERT_TRUE(last_three.ok());
  EXPECT_THAT(ids(*last_three), ElementsAre("a3", "b1", "a4"));
  EXPECT_TRUE(reg_->listActions("host-z", 10)->empty());

  EXPECT_FALSE(reg_->addAction(action("a1", "host-a", later)).ok()) << "ids are unique";
}

TEST_F(RegistryTest, PendingActionsExpireOnTheWay) {
  const std::int64_t now = nowUnixMs();
  ASSERT_TRUE(reg_->addAction(action("old", "host-a", now - 1)).ok());
  ASSERT_TRUE(reg_->addAction(action("p1", "host-a", now + kHour)).ok());
  ASSERT_TRUE(reg_->addAction(action("p2", "host-a", now + kHour)).ok());
  ASSERT_TRUE(reg_->addAction(action("old-delivered", "host-a", now + kHour)).ok());
  ASSERT_TRUE(reg_->markDelivered("old-delivered").ok());
  ASSERT_TRUE(reg_->addAction(action("done", "host-a", now + kHour)).ok());
  ASSERT_TRUE(*reg_->finishAction("done", "succeeded", "ok", "r", "s", now));
  ASSERT_TRUE(reg_->addAction(action("other-host", "host-b", now - 1)).ok());
  ASSERT_TRUE(reg_->markDelivered("p2").ok());

  auto pending = reg_->pendingActions("host-a");
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_THAT(ids(*pending), ElementsAre("p1", "p2", "old-delivered"));
  EXPECT_EQ((*pending)[1].state, "delivered");

  auto old = reg_->findAction("old");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->state, "expired");
  EXPECT_TRUE(old->finished());
  EXPECT_GE(old->finished_ms, now);
  EXPECT_THAT(old->message, HasSubstr("expired"));
  EXPECT_EQ(reg_->findAction("done")->state, "succeeded") << "finished actions untouched";
  EXPECT_EQ(reg_->findAction("other-host")->state, "queued") << "other hosts untouched";
  // A receipt that arrives after the controller gave up still counts (the agent acted before
  // the command expired there), once.
  EXPECT_TRUE(*reg_->finishAction("old", "succeeded", "late", "r", "s", now));
  EXPECT_EQ(reg_->findAction("old")->state, "succeeded");
  EXPECT_FALSE(*reg_->finishAction("old", "failed", "again", "r2", "s2", now));
  EXPECT_EQ(reg_->findAction("old")->receipt, "r");
}

TEST_F(RegistryTest, MarkDeliveredOnlyMovesQueued) {
  const std::int64_t later = nowUnixMs() + kHour;
  ASSERT_TRUE(reg_->addAction(action("a", "host-a", later)).ok());
  ASSERT_TRUE(reg_->markDelivered("a").ok());
  EXPECT_EQ(reg_->findAction("a")->state, "delivered");
  ASSERT_TRUE(*reg_->finishAction("a", "failed", "no route", "r", "s", 5));
  ASSERT_TRUE(reg_->markDelivered("a").ok());
  EXPECT_EQ(reg_->findAction("a")->state, "failed");
}

TEST_F(RegistryTest, FinishActionOnceAndNeverOverwritten) {
  ASSERT_TRUE(reg_->addAction(action("a", "host-a", nowUnixMs() + kHour)).ok());
  const std::string receipt1("receipt\0one", 11), sig1(64, '\x01');
  auto first = reg_->finishAction("a", "succeeded", "isolated", receipt1, sig1, 111);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  auto second = reg_->finishAction("a", "failed", "dup", "receipt two", std::string(64, 2), 222);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(*second);

  auto found = reg_->findAction("a");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->state, "succeeded");
  EXPECT_EQ(found->message, "isolated");
  EXPECT_EQ(found->receipt, receipt1);
  EXPECT_EQ(found->receipt_signature, sig1);
  EXPECT_EQ(found->finished_ms, 111);
  EXPECT_TRUE(found->finished());

  auto unknown = reg_->finishAction("nope", "succeeded", "", "", "", 1);
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(*unknown);
}

// An isolate's receipt and the host's new containment state are one commit; a second receipt
// for the same action changes neither.
TEST_F(RegistryTest, FinishActionRecordsContainmentWithTheReceipt) {
  ASSERT_TRUE(reg_->addHost(host("host-a"), false).ok());
  ASSERT_TRUE(reg_->addAction(action("iso", "host-a", nowUnixMs() + kHour)).ok());
  ASSERT_TRUE(reg_->addAction(action("rel", "host-a", nowUnixMs() + kHour)).ok());
  ASSERT_TRUE(*reg_->finishAction("iso", "succeeded", "isolated", "r", "s", 1, "isolated"));
  EXPECT_EQ(reg_->findHost("host-a")->containment, "isolated");
  ASSERT_TRUE(*reg_->finishAction("rel", "succeeded", "released", "r", "s", 2, "none"));
  EXPECT_EQ(reg_->findHost("host-a")->containment, "none");
  EXPECT_FALSE(*reg_->finishAction("iso", "succeeded", "again", "r", "s", 3, "isolated"));
  EXPECT_EQ(reg_->findHost("host-a")->containment, "none");
}

// A receipt stored late (re-sent, or recovered from the log) does not undo the containment a
// later isolate or release already set.
TEST_F(RegistryTest, ALateReceiptDoesNotUndoALaterContainmentChange) {
  ASSERT_TRUE(reg_->addHost(host("host-a"), false).ok());
  ActionRecord iso = action("iso", "host-a", nowUnixMs() + kHour);
  iso.created_ms = 100;
  ActionRecord rel = action("rel", "host-a", nowUnixMs() + kHour);
  rel.kind = "release";
  rel.created_ms = 200;
  ASSERT_TRUE(reg_->addAction(iso).ok());
  ASSERT_TRUE(reg_->addAction(rel).ok());
  ASSERT_TRUE(*reg_->finishAction("rel", "succeeded", "released", "r", "s", 2, "none"));
  ASSERT_TRUE(*reg_->finishAction("iso", "succeeded", "isolated", "r", "s", 3, "isolated"));
  EXPECT_EQ(reg_->findHost("host-a")->containment, "none");
}

TEST_F(RegistryTest, FinishedStates) {
  ActionRecord a;
  for (const char* s : {"succeeded", "failed", "refused", "expired"}) {
    a.state = s;
    EXPECT_TRUE(a.finished()) << s;
  }
  for (const char* s : {"queued", "delivered", ""}) {
    a.state = s;
    EXPECT_FALSE(a.finished()) << s;
  }
}

// ---- events --------------------------------------------------------------------------------

TEST_F(RegistryTest, EventsRoundTrip) {
  ASSERT_TRUE(reg_->addEvent({"host-a", "tamper", "table deleted", 100}).ok());
  ASSERT_TRUE(reg_->addEvent({"host-b", "tamper", "other host", 150}).ok());
  ASSERT_TRUE(reg_->addEvent({"host-a", "restore", "re-applied at boot", 200}).ok());
  ASSERT_TRUE(reg_->addEvent({"host-a", "tamper", std::string("nul\0inside", 10), 300}).ok());

  auto all = reg_->recentEvents("host-a", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].host_id, "host-a");
  EXPECT_EQ((*all)[0].kind, "tamper");
  EXPECT_EQ((*all)[0].detail, "table deleted");
  EXPECT_EQ((*all)[0].at_ms, 100);
  EXPECT_EQ((*all)[1].kind, "restore");
  EXPECT_EQ((*all)[2].at_ms, 300);

  auto last = reg_->recentEvents("host-a", 2);
  ASSERT_TRUE(last.ok());
  ASSERT_EQ(last->size(), 2u);
  EXPECT_EQ((*last)[0].at_ms, 200);
  EXPECT_EQ((*last)[1].at_ms, 300);
  EXPECT_TRUE(reg_->recentEvents("host-z", 10)->empty());
}

TEST_F(RegistryTest, StatePersistsAcrossReopen) {
  ASSERT_TRUE(reg_->addAction(action("a", "host-a", nowUnixMs() + kHour)).ok());
  ASSERT_TRUE(reg_->setMeta("k", "v").ok());
  reg_.reset();
  auto r = Registry::open(dir_.file("warden.db"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->findAction("a")->state, "queued");
  EXPECT_EQ(*(*r)->meta("k"), "v");
}

// ---- data dir ------------------------------------------------------------------------------

// Independent of the code under test: OpenSSL's one-shot SHA256 and base64.
std::string expectedVerifierKey(const std::string& name, const std::string& pub) {
  std::string hashed = name + "\n" + '\x01' + pub;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(hashed.data()), hashed.size(), digest);
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
  const std::string key = std::string(1, '\x01') + pub;
  std::string b64(4 * ((key.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(key.data()),
                                static_cast<int>(key.size()));
  b64.resize(n);
  return name + "+" + hex + "+" + b64;
}

TEST(NoteVerifierKey, MatchesTheSignedNoteVectorFromGoSumdb) {
  // golang.org/x/mod/sumdb/note documentation: PeterNeumann's verifier key.
  const std::string vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  auto raw = crypto::unbase64("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 33u);
  ASSERT_EQ((*raw)[0], '\x01');
  EXPECT_EQ(noteVerifierKey("PeterNeumann", raw->substr(1)), vkey);
  EXPECT_EQ(expectedVerifierKey("PeterNeumann", raw->substr(1)), vkey);
}

TEST(NoteVerifierKey, FormatAndKeyHash) {
  for (int i = 0; i < 4; ++i) {
    auto key = crypto::Ed25519Key::generate();
    ASSERT_TRUE(key.ok());
    const std::string name = i % 2 == 0 ? "warden/198.18.0.1" : "log.example.org/warden";
    const std::string vkey = noteVerifierKey(name, key->publicKey());
    EXPECT_EQ(vkey, expectedVerifierKey(name, key->publicKey()));
    // <name>+<8 lower-case hex>+<base64 of 33 bytes = 44 chars>
    ASSERT_EQ(vkey.size(), name.size() + 1 + 8 + 1 + 44) << vkey;
    EXPECT_THAT(vkey, StartsWith(name + "+"));
    const std::string hash = vkey.substr(name.size() + 1, 8);
    EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos) << hash;
    EXPECT_EQ(vkey[name.size() + 9], '+');
    auto decoded = crypto::unbase64(vkey.substr(name.size() + 10));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, std::string(1, '\x01') + key->publicKey());
  }
  // The name is part of the hash.
  auto key = crypto::Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  EXPECT_NE(noteVerifierKey("a", key->publicKey()).substr(2, 8),
            noteVerifierKey("b", key->publicKey()).substr(2, 8));
}

struct FileSnapshot {
  std::string content;
  unsigned mode = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileSnapshot&) const = default;
};

std::map<std::string, FileSnapshot> snapshot(const std::string& dir) {
  std::map<std::string, FileSnapshot> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    struct stat st {};
    ::stat(e.path().c_str(), &st);
    auto content = readFile(e.path().string());
    out[e.path().filename().string()] = FileSnapshot{
        content.ok() ? *content : "<unreadable>", st.st_mode & 07777u,
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  }
  return out;
}

TEST(DataDir, InitCreatesTheDocumentedFiles) {
  TempDir tmp;
  const std::string dir = tmp.file("controller");
  InitOptions o;
  o.data_dir = dir;
  o.listen = "[::]:7443";
  o.advertise = "198.18.0.1:7443";
  auto s = initDataDir(o);
  ASSERT_TRUE(s.ok()) << s;

  EXPECT_EQ(modeOf(dir), 0700u);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_THAT(names, IsSupersetOf({"ca.pem", "ca.key", "server.pem", "server.key", "command.key",
                                   "log.key", "log.vkey", "admin.profile", "warden.db"}));
  for (const auto& n : names) EXPECT_EQ(n.find(".tmp"), std::string::npos) << n;
  for (const char* secret : {"ca.key", "server.key", "command.key", "log.key", "admin.profile"}) {
    EXPECT_EQ(modeOf(dir + "/" + secret), 0600u) << secret;
  }
  for (const char* pub : {"ca.pem", "server.pem", "log.vkey"}) {
    EXPECT_EQ(modeOf(dir + "/" + pub) & 0077u, 0044u) << pub << " is public";
  }

  auto keys = loadDataDir(dir);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->advertise, "198.18.0.1:7443");
  EXPECT_EQ(keys->listen, "[::]:7443");
  auto vkey_file = readFile(dir + "/log.vkey");
  ASSERT_TRUE(vkey_file.ok());
  EXPECT_EQ(*vkey_file, keys->log_vkey + "\n");
  EXPECT_EQ(keys->log_vkey, expectedVerifierKey("warden/198.18.0.1", keys->log_key.publicKey()));
  EXPECT_NE(keys->log_key.publicKey(), keys->command_key.publicKey());
  EXPECT_TRUE(crypto::verifyCertIssuedBy(keys->server_cert_pem, keys->ca.cert_pem).ok());
  auto fp = crypto::certFingerprint(keys->ca.cert_pem);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(keys->ca_fingerprint, *fp);

  auto profile = loadProfile(dir + "/admin.profile");
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->controller, "198.18.0.1:7443");
  EXPECT_EQ(profile->name, "admin");
  EXPECT_EQ(profile->role, "admin");
  EXPECT_EQ(profile->ca_pem, keys->ca.cert_pem);
  EXPECT_TRUE(crypto::verifyCertIssuedBy(profile->cert_pem, profile->ca_pem).ok());
  auto admin = keys->registry->findOperator("admin");
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(admin->role, "admin");
  EXPECT_EQ(admin->cert_fingerprint, *crypto::certFingerprint(profile->cert_pem));
  auto signing = crypto::Ed25519Key::fromPem(profile->signing_key_pem);
  ASSERT_TRUE(signing.ok());
  EXPECT_EQ(admin->signing_public_key, signing->publicKey());
}

TEST(DataDir, SecondInitFailsWithoutTouchingAnything) {
  TempDir tmp;
  const std::string dir = tmp.file("controller");
  InitOptions o;
  o.data_dir = dir;
  o.advertise = "198.18.0.1:7443";
  ASSERT_TRUE(initDataDir(o).ok());
  const auto before = snapshot(dir);
  ASSERT_FALSE(before.empty());

  auto again = initDataDir(o);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr(dir));
  o.advertise = "198.18.0.2:7443";
  EXPECT_EQ(initDataDir(o).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(snapshot(dir), before);
}

TEST(DataDir, InitRefusesADirectoryWithOnlyACaKey) {
  TempDir tmp;
  ASSERT_TRUE(writeFileAtomic(tmp.file("ca.key"), "precious", 0600).ok());
  InitOptions o;
  o.data_dir = tmp.path();
  o.advertise = "198.18.0.1:7443";
  EXPECT_EQ(initDataDir(o).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*readFile(tmp.file("ca.key")), "precious");
  EXPECT_FALSE(pathExists(tmp.file("warden.db")));
}

TEST(DataDir, InitRejectsBadOptions) {
  TempDir tmp;
  InitOptions o;
  EXPECT_EQ(initDataDir(o).code(), absl::StatusCode::kInvalidArgument);
  o.data_dir = tmp.file("c");
  o.listen = "not an address";
  EXPECT_EQ(initDataDir(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(pathExists(tmp.file("c"))) << "nothing created for bad input";
  EXPECT_EQ(loadDataDir(tmp.file("c")).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace warden

namespace warden {
namespace {

TEST(RegistryTakeoverTest, UnboundTokenCannotTakeOverAnEnrolledHostButABoundOneCan) {
  ::warden::testing::TempDir tmp;
  const std::string dir = tmp.path();
  {
    auto reg = Registry::open(dir + "/warden.db");
    ASSERT_TRUE(reg.ok()) << reg.status();
    HostRecord h;
    h.host_id = "host-42";
    h.cert_fingerprint = "aa";
    h.receipt_public_key = std::string(32, 'k');
    h.enrolled_ms = nowUnixMs();
    ASSERT_TRUE((*reg)->addHost(h, false).ok());
    const std::string hash = crypto::sha256("s");
    ASSERT_TRUE((*reg)->addToken("any", hash, "", nowUnixMs() + 60000, "admin").ok());
    auto takeover = (*reg)->consumeToken("any", hash, "host-42");
    EXPECT_EQ(takeover.code(), absl::StatusCode::kAlreadyExists) << takeover;
    // Not burnt: it still enrolls a new host.
    EXPECT_TRUE((*reg)->consumeToken("any", hash, "host-43").ok());
    ASSERT_TRUE((*reg)->addToken("bound", hash, "host-42", nowUnixMs() + 60000, "admin").ok());
    EXPECT_TRUE((*reg)->consumeToken("bound", hash, "host-42").ok());
  }
}

}  // namespace
}  // namespace warden
