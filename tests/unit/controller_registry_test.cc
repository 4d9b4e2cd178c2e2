// controller/registry.h against a real temporary directory: meta and operators, one-time join
// tokens (bound and unbound, expired, a wrong secret), hosts and their containment, events, and
// state that persists across reopening.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/command.h"
#include "common/crypto/hash.h"
#include "controller/registry.h"
#include "tests/unit/scratch_registry.h"

namespace warden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- meta and operators --------------------------------------------------------------------

TEST_F(RegistryTest, Meta) {
  EXPECT_EQ(reg_->meta("listen").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(reg_->setMeta("listen", "[::]:7443").ok());
  EXPECT_EQ(*reg_->meta("listen"), "[::]:7443");
  ASSERT_TRUE(reg_->setMeta("listen", "198.18.0.1:7443").ok());
  EXPECT_EQ(*reg_->meta("listen"), "198.18.0.1:7443");
}

TEST_F(RegistryTest, Operators) {
  const OperatorRecord op{"alice", "responder", "ab12", std::string("\0pub", 4), "", 0};
  ASSERT_TRUE(reg_->addOperator(op).ok());
  auto found = reg_->findOperator("alice");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->name, "alice");
  EXPECT_EQ(found->role, "responder");
  EXPECT_EQ(found->cert_fingerprint, "ab12");
  EXPECT_EQ(found->signing_public_key, op.signing_public_key);
  auto dup = reg_->addOperator(OperatorRecord{"alice", "admin", "cd34", "k", "", 0});
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
}  // namespace warden::testing
