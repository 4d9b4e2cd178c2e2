// controller/renewal/: what a renewal request must show (renewal_check.h) — the CSR it names,
// the identity the CSR asks for, the certificate the caller presented, the enrolled key's
// signature — the single-use challenges it is signed over, the warnings `warden hosts` and the
// log give, and the registry's record of renewed certificates (the previous one good until the
// new one is used).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/audit/cert_renewal.h"
#include "common/cert_renewal_request.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/hash.h"
#include "common/crypto/x509.h"
#include "controller/renewal/challenges.h"
#include "controller/renewal/expiry_warnings.h"
#include "controller/renewal/renewal_check.h"
#include "tests/unit/scratch_registry.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

crypto::Ed25519Key newKey() { return *crypto::Ed25519Key::generate(); }

const std::string kChallenge(kRenewalChallengeBytes, '\x42');

class RenewalCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.host_id = "host-42";
    host_.cert_fingerprint = std::string(64, 'c');
    host_.prev_cert_fingerprint = std::string(64, 'p');
    host_.receipt_public_key = agent_key_.publicKey();
    op_.name = "carol";
    op_.role = "auditor";
    op_.cert_fingerprint = std::string(64, 'o');
    op_.signing_public_key = carol_key_.publicKey();
  }

  static RenewalRequestParts request(const std::string& subject, const std::string& proof,
                                     const crypto::Ed25519Key& key) {
    auto parts = makeRenewalRequest(subject, proof, kChallenge, key);
    EXPECT_TRUE(parts.ok()) << parts.status();
    return parts.ok() ? *parts : RenewalRequestParts{};
  }

  // parseRenewal, then checkAgentRenewal against host_.
  absl::Status agent(const RenewalRequestParts& p, const std::optional<PeerIdentity>& peer) {
    auto r = parseRenewal(p.renewal, p.csr_pem);
    if (!r.ok()) return r.status();
    return checkAgentRenewal(*r, p.renewal, p.signature, peer, host_);
  }

  static PeerIdentity peer(const std::string& cn, const std::string& fingerprint) {
    return PeerIdentity{cn, fingerprint, ""};
  }

  crypto::Ed25519Key agent_key_ = newKey();
  crypto::Ed25519Key carol_key_ = newKey();
  HostRecord host_;
  OperatorRecord op_;
};

TEST_F(RenewalCheckTest, AgentWithItsCurrentOrPreviousCertificate) {
  const auto p = request("agent:host-42", renewal_proof::kCertificate, agent_key_);
  EXPECT_TRUE(agent(p, peer("agent:host-42", host_.cert_fingerprint)).ok());
  // The certificate it renewed with stays good until the new one is used.
  EXPECT_TRUE(agent(p, peer("agent:host-42", host_.prev_cert_fingerprint)).ok());
  // A replaced identity (re-enrolled) renews nothing.
  EXPECT_THAT(agent(p, peer("agent:host-42", std::string(64, 'x'))).message(),
              HasSubstr("certificate was replaced or revoked"));
}

TEST_F(RenewalCheckTest, TheCsrAndTheCertificateMustNameTheSameHost) {
  // Another host's certificate asking for host-42's.
  const auto p = request("agent:host-42", renewal_proof::kCertificate, agent_key_);
  EXPECT_THAT(agent(p, peer("agent:host-43", host_.cert_fingerprint)).message(),
              HasSubstr("an agent renews its own certificate only"));
  EXPECT_THAT(agent(p, peer("operator:carol", host_.cert_fingerprint)).message(),
              HasSubstr("an agent renews its own certificate only"));
  // A CSR that asks for another name than the signed renewal.
  RenewalRequestParts other = request("agent:host-43", renewal_proof::kCertificate, agent_key_);
  RenewalRequestParts mixed = p;
  mixed.csr_pem = other.csr_pem;
  EXPECT_THAT(agent(mixed, peer("agent:host-42", host_.cert_fingerprint)).message(),
              HasSubstr("the signed renewal names another CSR"));
  // A record for host-42 signed over a CSR for host-43 (made by hand: the digest matches).
  CertRenewal r = *decodeCertRenewal(p.renewal);
  r.csr_sha256 = crypto::sha256(other.csr_pem);
  const std::string bytes = encodeCertRenewal(r);
  EXPECT_THAT(parseRenewal(bytes, other.csr_pem).status().message(),
              HasSubstr("the CSR asks for 'agent:host-43', the renewal is for 'agent:host-42'"));
  // The registry record of another host.
  host_.host_id = "host-43";
  EXPECT_THAT(agent(p, peer("agent:host-42", host_.cert_fingerprint)).message(),
              HasSubstr("not agent:host-43"));
}

TEST_F(RenewalCheckTest, TheEnrolledKeyMustSign) {
  const auto forged = request("agent:host-42", renewal_proof::kCertificate, newKey());
  EXPECT_THAT(agent(forged, peer("agent:host-42", host_.cert_fingerprint)).message(),
              HasSubstr("not signed by host-42's enrolled key"));
  auto p = request("agent:host-42", renewal_proof::kEnrolledKey, agent_key_);
  p.renewal[p.renewal.size() - 1] ^= 1;  // the time, tampered after signing
  EXPECT_THAT(agent(p, std::nullopt).message(), HasSubstr("not signed by host-42's enrolled key"));
}

TEST_F(RenewalCheckTest, WithoutACertificateOnlyTheEnrolledKeyProofIsTaken) {
  EXPECT_TRUE(
      agent(request("agent:host-42", renewal_proof::kEnrolledKey, agent_key_), std::nullopt).ok());
  // A record that claims a certificate it did not present.
  EXPECT_THAT(agent(request("agent:host-42", renewal_proof::kCertificate, agent_key_), std::nullopt)
                  .message(),
              HasSubstr("no client certificate"));
  // With a certificate, the record says so.
  EXPECT_THAT(agent(request("agent:host-42", renewal_proof::kEnrolledKey, agent_key_),
                    peer("agent:host-42", host_.cert_fingerprint))
                  .message(),
              HasSubstr("must say so"));
  // Nobody renews the controller's certificate over the channel.
  CertRenewal r;
  r.subject = "controller";
  r.proof = renewal_proof::kCaKey;
  EXPECT_FALSE(parseRenewal(encodeCertRenewal(r), "").ok());
}

TEST_F(RenewalCheckTest, OperatorsRenewTheirOwnCertificateWithTheirSigningKey) {
  const auto p = request("operator:carol", renewal_proof::kCertificate, carol_key_);
  auto r = parseRenewal(p.renewal, p.csr_pem);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(checkOperatorRenewal(*r, p.renewal, p.signature, op_).ok());
  OperatorRecord dave = op_;
  dave.name = "dave";
  EXPECT_THAT(checkOperatorRenewal(*r, p.renewal, p.signature, dave).message(),
              HasSubstr("renews its own certificate only"));
  OperatorRecord rekeyed = op_;
  rekeyed.signing_public_key = newKey().publicKey();
  EXPECT_THAT(checkOperatorRenewal(*r, p.renewal, p.signature, rekeyed).message(),
              HasSubstr("not signed by operator carol's signing key"));
  // Operators have no enrolled-key path: an expired operator certificate is an admin's matter.
  EXPECT_FALSE(
      makeRenewalRequest("operator:carol", renewal_proof::kEnrolledKey, kChallenge, carol_key_)
          .ok());
}

TEST(RenewalChallenges, EachIsGoodOnceForItsSubjectWithinAMinute) {
  RenewalChallenges c;
  const absl::Time t0 = absl::Now();
  auto a = c.issue("agent:host-42", t0);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->challenge.size(), kRenewalChallengeBytes);
  EXPECT_EQ(a->expires, t0 + RenewalChallenges::kLifetime);
  EXPECT_TRUE(c.consume("agent:host-42", a->challenge, t0 + absl::Seconds(5)).ok());
  EXPECT_THAT(c.consume("agent:host-42", a->challenge, t0 + absl::Seconds(6)).message(),
              HasSubstr("already used"));
  auto b = c.issue("agent:host-42", t0);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->challenge, a->challenge);
  // Presented for another host: refused, and gone (it was shown to the wrong party).
  EXPECT_THAT(c.consume("agent:host-43", b->challenge, t0).message(),
              HasSubstr("issued for another identity"));
  EXPECT_FALSE(c.consume("agent:host-42", b->challenge, t0).ok());
  auto late = c.issue("agent:host-42", t0);
  ASSERT_TRUE(late.ok());
  EXPECT_THAT(c.consume("agent:host-42", late->challenge, t0 + absl::Seconds(61)).message(),
              HasSubstr("expired"));
}

TEST(RenewalChallenges, AFloodAtOneHostNeverTouchesAnothersAndTheTotalIsBounded) {
  RenewalChallenges c;
  const absl::Time t0 = absl::Now();
  auto victim = c.issue("agent:victim", t0);
  ASSERT_TRUE(victim.ok());
  std::vector<std::string> flood;
  for (std::size_t i = 0; i < 10'000; ++i) {
    auto f = c.issue("agent:flood", t0);
    ASSERT_TRUE(f.ok());
    flood.push_back(f->challenge);
  }
  // The flooded host keeps its newest few; the victim's challenge is still good.
  EXPECT_EQ(c.outstanding(), 1 + RenewalChallenges::kPerSubject);
  EXPECT_TRUE(c.consume("agent:victim", victim->challenge, t0).ok());
  EXPECT_FALSE(c.consume("agent:flood", flood.front(), t0).ok());
  EXPECT_TRUE(c.consume("agent:flood", flood.back(), t0).ok());

  // Past kMaxOutstanding in all, new ones are refused until some expire.
  for (std::size_t i = 0; c.outstanding() < RenewalChallenges::kMaxOutstanding; ++i) {
    ASSERT_TRUE(c.issue(absl::StrCat("agent:h", i / RenewalChallenges::kPerSubject), t0).ok());
  }
  auto refused = c.issue("agent:one-more", t0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  // A host that already holds some still gets a new one (its oldest is forgotten).
  EXPECT_TRUE(c.issue("agent:h0", t0).ok());
  // Expired ones are forgotten as new ones come.
  ASSERT_TRUE(c.issue("agent:later", t0 + absl::Minutes(2)).ok());
  EXPECT_EQ(c.outstanding(), 1u);
}

TEST(ExpiryWarnings, CaAndControllerWithinSixtyDaysHostsWithinThirty) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  const absl::Duration day = absl::Hours(24);
  const crypto::CertValidity ca{now - 3000 * day, now + 400 * day};
  EXPECT_TRUE(controllerExpiryWarnings(ca, {now - day, now + 61 * day}, now).empty());
  auto w = controllerExpiryWarnings(ca, {now - 1000 * day, now + 59 * day}, now);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].subject, "controller");
  EXPECT_THAT(w[0].message, HasSubstr("expires in 59 days"));
  EXPECT_THAT(w[0].message, HasSubstr("its renewal is due; the controller's log says why"));
  // A short certificate not due yet: when it will be renewed.
  w = controllerExpiryWarnings(ca, {now - absl::Seconds(2), now + absl::Seconds(20)}, now);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(w[0].message, HasSubstr("renews it itself from 2027-01-15 08:00:09 UTC"));
  const crypto::CertValidity old_ca{now - 3000 * day, now + 20 * day};
  w = controllerExpiryWarnings(old_ca, {now - day, old_ca.not_after}, now);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].subject, "ca");
  EXPECT_THAT(w[0].message, HasSubstr("the Warden CA expires in 20 days"));
  EXPECT_THAT(w[1].message, HasSubstr("ends with the CA"));

  const auto ms = [](absl::Time t) { return absl::ToUnixMillis(t); };
  EXPECT_EQ(hostCertificateWarning(0, true, now), "");
  EXPECT_EQ(hostCertificateWarning(ms(now + 31 * day), true, now), "");
  EXPECT_THAT(hostCertificateWarning(ms(now + 29 * day), true, now),
              HasSubstr("expires in 29 days"));
  EXPECT_THAT(hostCertificateWarning(ms(now + 29 * day), false, now), HasSubstr("offline"));
  EXPECT_THAT(hostCertificateWarning(ms(now - day), false, now),
              HasSubstr("renews it with its enrolled key"));
}

using testing::RegistryTest;

TEST_F(RegistryTest, RenewedCertificatesKeepThePreviousOneUntilTheNewIsUsed) {
  HostRecord h = host("host-42");
  h.cert_not_after_ms = 1000;
  ASSERT_TRUE(reg_->addHost(h, false).ok());
  ASSERT_TRUE(reg_->renewHostCertificate("host-42", "k", "fp2", "fp", 2000).ok());
  auto found = reg_->findHost("host-42");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->holdsCertificate("fp"));
  EXPECT_TRUE(found->holdsCertificate("fp2"));
  EXPECT_FALSE(found->holdsCertificate(""));
  EXPECT_EQ(found->cert_not_after_ms, 2000);
  // Used with the old one: nothing changes. With the new one: the old one retires.
  ASSERT_TRUE(reg_->noteHostCertificate("host-42", "fp", 1000).ok());
  EXPECT_TRUE(reg_->findHost("host-42")->holdsCertificate("fp"));
  ASSERT_TRUE(reg_->noteHostCertificate("host-42", "fp2", 2000).ok());
  EXPECT_FALSE(reg_->findHost("host-42")->holdsCertificate("fp"));
  EXPECT_TRUE(reg_->findHost("host-42")->holdsCertificate("fp2"));
  // A renewal checked against a key that a re-enrollment replaced does not land.
  EXPECT_EQ(reg_->renewHostCertificate("host-42", "other key", "fp3", "fp2", 3000).code(),
            absl::StatusCode::kPermissionDenied);
  // Re-enrollment forgets both.
  ASSERT_TRUE(reg_->renewHostCertificate("host-42", "k", "fp3", "fp2", 3000).ok());
  HostRecord again = host("host-42");
  again.cert_fingerprint = "fp9";
  ASSERT_TRUE(reg_->addHost(again, true).ok());
  EXPECT_FALSE(reg_->findHost("host-42")->holdsCertificate("fp2"));
  EXPECT_FALSE(reg_->findHost("host-42")->holdsCertificate("fp3"));
}

TEST_F(RegistryTest, OperatorRenewalsStopAtRevocation) {
  ASSERT_TRUE(reg_->addOperator(OperatorRecord{"carol", "auditor", "o1", "k", "", 100}).ok());
  ASSERT_TRUE(reg_->renewOperatorCertificate("carol", "o2", "o1", 200).ok());
  auto carol = reg_->findOperator("carol");
  ASSERT_TRUE(carol.ok());
  EXPECT_TRUE(carol->holdsCertificate("o1"));
  EXPECT_TRUE(carol->holdsCertificate("o2"));
  EXPECT_EQ(carol->cert_not_after_ms, 200);
  ASSERT_TRUE(reg_->noteOperatorCertificate("carol", "o2", 200).ok());
  EXPECT_FALSE(reg_->findOperator("carol")->holdsCertificate("o1"));
  ASSERT_TRUE(reg_->renewOperatorCertificate("carol", "o3", "o2", 300).ok());
  ASSERT_TRUE(reg_->revokeOperator("carol").ok());
  EXPECT_FALSE(reg_->findOperator("carol")->holdsCertificate("o2"));
  EXPECT_FALSE(reg_->findOperator("carol")->holdsCertificate("o3"));
  EXPECT_EQ(reg_->renewOperatorCertificate("carol", "o4", "o3", 400).code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace warden
