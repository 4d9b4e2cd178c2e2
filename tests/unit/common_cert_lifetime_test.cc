// common/cert_lifetime.h: when a certificate is renewed, how retries back off, and what a
// warning says; and what the CA writes into the certificates whose lifetimes these decisions
// count (capped at the CA's own expiry, back-dated by a small share of a short lifetime).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/cert_lifetime.h"
#include "common/crypto/x509.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kDay = absl::Hours(24);
const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

crypto::CertValidity lasting(absl::Duration lifetime) { return {kT0, kT0 + lifetime}; }

TEST(RenewalDecision, LastThirdOrThirtyDaysWhicheverComesFirst) {
  // A year: the last third (121.67 days) begins before the last 30 days.
  const crypto::CertValidity year = lasting(365 * kDay);
  EXPECT_EQ(renewalLead(year), 365 * kDay / 3);
  EXPECT_FALSE(renewalDue(year, kT0 + 243 * kDay));
  EXPECT_TRUE(renewalDue(year, kT0 + 244 * kDay));
  // 60 days: the floor of 30 days is more than a third.
  const crypto::CertValidity sixty = lasting(60 * kDay);
  EXPECT_EQ(renewalLead(sixty), 30 * kDay);
  EXPECT_FALSE(renewalDue(sixty, kT0 + 29 * kDay));
  EXPECT_TRUE(renewalDue(sixty, kT0 + 30 * kDay));
  // 40 days: the floor may not take more than half the lifetime.
  EXPECT_EQ(renewalLead(lasting(40 * kDay)), 20 * kDay);
  // Seconds (tests): half.
  const crypto::CertValidity short_lived = lasting(absl::Seconds(22));
  EXPECT_EQ(renewalStart(short_lived), kT0 + absl::Seconds(11));
  EXPECT_FALSE(renewalDue(short_lived, kT0 + absl::Seconds(10)));
  EXPECT_TRUE(renewalDue(short_lived, kT0 + absl::Seconds(11)));
  // An expired certificate is due, of course.
  EXPECT_TRUE(renewalDue(year, kT0 + 400 * kDay));
}

TEST(RenewalDecision, NotWhenTheCertificateAlreadyEndsWithTheCa) {
  const crypto::CertValidity ca = lasting(3650 * kDay);
  EXPECT_FALSE(endsWithCa(lasting(365 * kDay), ca));
  EXPECT_TRUE(endsWithCa({kT0 + 3600 * kDay, ca.not_after}, ca));
  // X.509 times are whole seconds.
  EXPECT_TRUE(endsWithCa({kT0, ca.not_after - absl::Seconds(1)}, ca));
  EXPECT_FALSE(endsWithCa({kT0, ca.not_after - absl::Seconds(2)}, ca));
}

TEST(RenewalDecision, RetriesDoubleUpToATenthOfTheLifetimeAndAnHour) {
  const crypto::CertValidity year = lasting(365 * kDay);
  EXPECT_EQ(renewalRetryDelay(year, 1), absl::Seconds(1));
  EXPECT_EQ(renewalRetryDelay(year, 2), absl::Seconds(2));
  EXPECT_EQ(renewalRetryDelay(year, 5), absl::Seconds(16));
  EXPECT_EQ(renewalRetryDelay(year, 20), absl::Hours(1));
  EXPECT_EQ(renewalRetryDelay(year, 1000), absl::Hours(1));
  const crypto::CertValidity short_lived = lasting(absl::Seconds(22));
  EXPECT_EQ(renewalRetryDelay(short_lived, 3), absl::Seconds(2.2));
  EXPECT_EQ(renewalRetryDelay(lasting(absl::Seconds(5)), 3), absl::Seconds(1));
}

TEST(RenewalDecision, ExpiryIsDescribedInTheLargestUnit) {
  EXPECT_EQ(describeExpiry(kT0 + 12 * kDay, kT0), "expires in 12 days (2027-01-27 08:00:00 UTC)");
  EXPECT_THAT(describeExpiry(kT0 + absl::Hours(5), kT0), HasSubstr("expires in 5 hours"));
  EXPECT_THAT(describeExpiry(kT0 + absl::Seconds(40), kT0), HasSubstr("expires in 40 seconds"));
  EXPECT_THAT(describeExpiry(kT0 - 3 * kDay, kT0), HasSubstr("expired 3 days ago"));
  EXPECT_THAT(describeExpiry(kT0 - absl::Seconds(1), kT0), HasSubstr("expired 1 second ago"));
}

class IssuedLifetime : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = crypto::generateEcKeyPem();
    ASSERT_TRUE(key.ok());
    key_ = *key;
    profile_.common_name = "agent:host-1";
    profile_.client = true;
  }
  crypto::CertValidity issue(const crypto::CertificateAuthority& ca, absl::Duration validity) {
    profile_.validity = validity;
    auto cert = crypto::issueCertificate(ca, key_, profile_);
    EXPECT_TRUE(cert.ok()) << cert.status();
    auto v = crypto::certValidity(cert.ok() ? *cert : "");
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : crypto::CertValidity{};
  }
  std::string key_;
  crypto::CertProfile profile_;
};

TEST_F(IssuedLifetime, ShortCertificatesAreBackDatedByATenth) {
  auto ca = crypto::createCa("Test CA", 3650 * kDay);
  ASSERT_TRUE(ca.ok());
  const crypto::CertValidity v = issue(*ca, absl::Seconds(20));
  EXPECT_NEAR(absl::ToDoubleSeconds(v.not_after - v.not_before), 22, 1);
  EXPECT_NEAR(absl::ToDoubleSeconds(v.not_after - absl::Now()), 20, 2);
  // A renewal at the last third is then more than half way into the certificate's life.
  EXPECT_GT(renewalStart(v), absl::Now() + absl::Seconds(7));
  const crypto::CertValidity year = issue(*ca, 365 * kDay);
  EXPECT_NEAR(absl::ToDoubleSeconds(year.not_after - year.not_before),
              absl::ToDoubleSeconds(365 * kDay + absl::Minutes(5)), 2);
}

TEST_F(IssuedLifetime, NoCertificateOutlivesItsCa) {
  auto ca = crypto::createCa("Test CA", 10 * kDay);
  ASSERT_TRUE(ca.ok());
  auto ca_validity = crypto::certValidity(ca->cert_pem);
  ASSERT_TRUE(ca_validity.ok());
  const crypto::CertValidity v = issue(*ca, 365 * kDay);
  EXPECT_EQ(v.not_after, ca_validity->not_after);
  EXPECT_TRUE(endsWithCa(v, *ca_validity));
  EXPECT_FALSE(endsWithCa(issue(*ca, kDay), *ca_validity));
}

TEST(CsrName, IsReadBack) {
  auto key = crypto::generateEcKeyPem();
  ASSERT_TRUE(key.ok());
  auto csr = crypto::createCsr(*key, "operator:carol");
  ASSERT_TRUE(csr.ok());
  EXPECT_EQ(crypto::csrCommonName(*csr).value_or(""), "operator:carol");
  EXPECT_FALSE(crypto::csrCommonName("not a csr").ok());
  auto other = crypto::generateEcKeyPem();
  ASSERT_TRUE(other.ok());
  auto ca = crypto::createCa("Test CA", 10 * kDay);
  ASSERT_TRUE(ca.ok());
  crypto::CertProfile p;
  p.common_name = "operator:carol";
  p.client = true;
  auto cert = crypto::signCsr(*ca, *csr, p);
  ASSERT_TRUE(cert.ok());
  EXPECT_TRUE(crypto::certMatchesKey(*cert, *key).ok());
  EXPECT_FALSE(crypto::certMatchesKey(*cert, *other).ok());
}

}  // namespace
}  // namespace warden
