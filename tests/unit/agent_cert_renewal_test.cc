// agent/runtime/cert_renewal.h: a renewed certificate is stored as tls.next.key/tls.next.crt and
// renamed over tls.key/tls.crt; a crash at any point leaves a pair that belongs together, which
// recover() completes (or throws away) at the next start. The renewal decision itself is
// common/cert_lifetime.h's (common_cert_lifetime_test.cc); the exchange with the controller is
// tests/e2e/cert_renewal_test.cc's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/runtime/cert_renewal.h"
#include "common/crypto/x509.h"
#include "common/files.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

struct Pair {
  std::string key;
  std::string cert;
};

class AgentCertificateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = crypto::createCa("Test CA", absl::Hours(24));
    ASSERT_TRUE(ca.ok());
    ca_ = *ca;
    auto store = StateStore::open(dir_.path());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    old_ = issue();
    new_ = issue();
    write("ca.pem", ca_.cert_pem);
    write("tls.key", old_.key);
    write("tls.crt", old_.cert);
    // No controller: a unix socket nobody listens on (no network, fails at once).
    cert_ = std::make_unique<AgentCertificate>(*store_, "host-42",
                                               "unix://" + dir_.file("no-controller"),
                                               *crypto::Ed25519Key::generate());
  }

  Pair issue(absl::Duration validity = absl::Hours(1)) {
    Pair p;
    p.key = *crypto::generateEcKeyPem();
    crypto::CertProfile profile;
    profile.common_name = "agent:host-42";
    profile.client = true;
    profile.validity = validity;
    p.cert = *crypto::issueCertificate(ca_, p.key, profile);
    return p;
  }
  void write(const char* name, const std::string& data) {
    ASSERT_TRUE(writeFileAtomic(store_->path(name), data, 0600).ok());
  }
  bool exists(const char* name) { return pathExists(store_->path(name)); }
  Pair current() {
    auto id = cert_->identity();
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? Pair{id->key_pem, id->cert_pem} : Pair{};
  }

  testing::TempDir dir_;
  crypto::CertificateAuthority ca_;
  std::unique_ptr<StateStore> store_;
  Pair old_, new_;
  std::unique_ptr<AgentCertificate> cert_;
};

TEST_F(AgentCertificateTest, NothingPendingChangesNothing) {
  ASSERT_TRUE(cert_->recover().ok());
  EXPECT_EQ(current().cert, old_.cert);
  EXPECT_EQ(current().key, old_.key);
}

TEST_F(AgentCertificateTest, CrashBeforeTheCertificateWasStoredKeepsTheOldPair) {
  write("tls.next.key", new_.key);
  ASSERT_TRUE(cert_->recover().ok());
  EXPECT_FALSE(exists("tls.next.key"));
  EXPECT_EQ(current().key, old_.key);
  EXPECT_EQ(current().cert, old_.cert);
}

TEST_F(AgentCertificateTest, CrashBeforeTheRenamesFinishesThem) {
  write("tls.next.key", new_.key);
  write("tls.next.crt", new_.cert);
  ASSERT_TRUE(cert_->recover().ok());
  EXPECT_FALSE(exists("tls.next.key"));
  EXPECT_FALSE(exists("tls.next.crt"));
  EXPECT_EQ(current().key, new_.key);
  EXPECT_EQ(current().cert, new_.cert);
}

TEST_F(AgentCertificateTest, CrashBetweenTheRenamesFinishesTheSecond) {
  write("tls.key", new_.key);  // the first rename happened
  write("tls.next.crt", new_.cert);
  ASSERT_TRUE(cert_->recover().ok());
  EXPECT_FALSE(exists("tls.next.crt"));
  EXPECT_EQ(current().key, new_.key);
  EXPECT_EQ(current().cert, new_.cert);
  EXPECT_TRUE(crypto::certMatchesKey(current().cert, current().key).ok());
}

TEST_F(AgentCertificateTest, APairThatDoesNotBelongTogetherIsThrownAway) {
  write("tls.next.key", old_.key);
  write("tls.next.crt", new_.cert);
  ASSERT_TRUE(cert_->recover().ok());
  EXPECT_FALSE(exists("tls.next.key"));
  EXPECT_FALSE(exists("tls.next.crt"));
  EXPECT_EQ(current().cert, old_.cert);
}

TEST_F(AgentCertificateTest, ACertificateStillValidIsNotRenewedBeforeAConnection) {
  // Valid for an hour: nothing to do, and no controller is asked (there is none).
  EXPECT_TRUE(cert_->renewIfExpired().ok());
  EXPECT_EQ(current().cert, old_.cert);
}

TEST_F(AgentCertificateTest, AFailedRenewalIsLoggedAndKeepsThePair) {
  const Pair expiring = issue(absl::Seconds(1));
  write("tls.key", expiring.key);
  write("tls.crt", expiring.cert);
  ::testing::internal::CaptureStderr();
  const absl::Status s = cert_->renewIfExpired();  // within its last two seconds: "expired"
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(log, ::testing::HasSubstr("host host-42: certificate expire"));
  EXPECT_THAT(log, ::testing::HasSubstr("its renewal with the enrolled key failed"));
  EXPECT_EQ(current().cert, expiring.cert);
  EXPECT_EQ(current().key, expiring.key);
}

}  // namespace
}  // namespace warden
