// The audit verifier's rule for "renewal" entries (common/audit/verify/rules/renewal_rule.cc): a
// certificate renewed over the channel is asked for by the holder of the key the log recorded
// for that identity (an agent's enrolled key — the re-enrolled one once it was replaced — or an
// operator's signing key), over a challenge no other renewal used; the controller's renewal of
// its own certificate is unsigned. A dishonest controller's forgeries, and bytes changed in an
// exported renewal, are caught and the entry named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/audit/cert_renewal.h"
#include "tests/unit/standard_audit_log.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

const std::string kFingerprint(64, 'a');

std::string challenge(char c) { return std::string(kRenewalChallengeBytes, c); }

// A renewal entry as the controller logs it: `subject`'s record signed with `key` (none: the
// controller's own).
LogEntry renewal(const std::string& subject, const std::string& proof, const std::string& chal,
                 const crypto::Ed25519Key* key, const std::string& actor = "") {
  CertRenewal r;
  r.subject = subject;
  r.proof = proof;
  r.challenge = chal;
  if (subject != "controller") r.csr_sha256 = std::string(32, '\x07');
  r.issued_unix_ms = 1'763'700'000'000;
  const std::string body = encodeCertRenewal(r);
  const std::string by = actor.empty() ? subject : actor;
  const std::string host = by.rfind("agent:", 0) == 0 ? by.substr(6) : "";
  return makeEntry(entry_type::kRenewal, by, host, kFingerprint, body,
                   key != nullptr ? mustSign(*key, body) : "", "certificate renewed");
}

struct Case {
  std::string name;
  std::function<void(LogBuilder&)> extra;
  std::string error;  // empty: the log verifies
};

TEST_F(AuditVerifyTest, RenewalsAreSignedByTheKeyTheLogRecordedForTheIdentity) {
  const Keys& k = keys();
  using renewal_proof::kCaKey;
  using renewal_proof::kCertificate;
  using renewal_proof::kEnrolledKey;
  const std::vector<Case> cases = {
      {"agent, with its certificate (host-1's re-enrolled key)",
       [&](LogBuilder& b) {
         b.add(renewal("agent:host-1", kCertificate, challenge('1'), &k.host1_renewed));
       },
       ""},
      {"agent, expired, with its enrolled key",
       [&](LogBuilder& b) {
         b.add(renewal("agent:host-2", kEnrolledKey, challenge('2'), &k.host2));
       },
       ""},
      {"operator, with its signing key",
       [&](LogBuilder& b) { b.add(renewal("operator:bob", kCertificate, challenge('3'), &k.bob)); },
       ""},
      {"the controller's own, unsigned",
       [&](LogBuilder& b) { b.add(renewal("controller", kCaKey, "", nullptr)); }, ""},
      {"agent, with the key its re-enrollment replaced",
       [&](LogBuilder& b) {
         b.add(renewal("agent:host-1", kCertificate, challenge('4'), &k.host1));
       },
       "signature does not verify under host-1's enrolled key"},
      {"operator, signed by someone else",
       [&](LogBuilder& b) {
         b.add(renewal("operator:bob", kCertificate, challenge('5'), &k.alice));
       },
       "signature does not verify under operator bob's key"},
      {"challenge used twice",
       [&](LogBuilder& b) {
         b.add(renewal("agent:host-2", kEnrolledKey, challenge('6'), &k.host2));
         b.add(renewal("agent:host-2", kEnrolledKey, challenge('6'), &k.host2));
       },
       "renewal challenge 36363636363636363636363636363636 was already used"},
      {"host that never enrolled",
       [&](LogBuilder& b) {
         b.add(renewal("agent:host-9", kEnrolledKey, challenge('7'), &k.host2));
       },
       "host host-9 has not enrolled"},
      {"record for another identity than the entry's actor",
       [&](LogBuilder& b) {
         b.add(renewal("agent:host-1", kCertificate, challenge('8'), &k.host1_renewed,
                       "agent:host-2"));
       },
       "the renewal is for 'agent:host-1', but the entry's actor is 'agent:host-2'"},
      {"operator claiming the enrolled-key path",
       [&](LogBuilder& b) { b.add(renewal("operator:bob", kEnrolledKey, challenge('9'), &k.bob)); },
       "operators renew with their current certificate only"},
      {"revoked operator",
       [&](LogBuilder& b) {
         b.op("bob", "revoked", k.bob, "operator:alice");
         b.add(renewal("operator:bob", kCertificate, challenge('a'), &k.bob));
       },
       "operator bob was revoked: it renews no certificate"},
      {"unknown operator",
       [&](LogBuilder& b) {
         b.add(renewal("operator:eve", kCertificate, challenge('b'), &k.stranger));
       },
       "'eve' is not a logged operator"},
      {"controller's own, signed",
       [&](LogBuilder& b) {
         LogEntry e = renewal("controller", kCaKey, "", nullptr);
         e.signature = mustSign(k.command, e.body);
         b.add(e);
       },
       "the controller's own renewal names no host and carries no signature"},
      {"controller's own, claiming a CSR",
       [&](LogBuilder& b) {
         CertRenewal r;
         r.subject = "controller";
         r.proof = kCaKey;
         r.csr_sha256 = std::string(32, '\x01');
         b.add(makeEntry(entry_type::kRenewal, "controller", "", kFingerprint, encodeCertRenewal(r),
                         "", "x"));
       },
       "the controller's own renewal has no challenge or CSR"},
      {"no certificate fingerprint",
       [&](LogBuilder& b) {
         LogEntry e = renewal("agent:host-2", kEnrolledKey, challenge('c'), &k.host2);
         e.ref = "not-a-fingerprint";
         b.add(e);
       },
       "is not SHA-256 hex"},
      {"a body that is not a renewal",
       [&](LogBuilder& b) {
         b.add(makeEntry(entry_type::kRenewal, "agent:host-2", "host-2", kFingerprint,
                         encodeKeyRecord(makeKey("agent", "host-2", "", k.host2.publicKey()))));
       },
       "body is not a renewal"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const AuditReport r = verifyBuilt(c.extra);
    if (c.error.empty()) {
      EXPECT_TRUE(r.ok) << r.error;
      EXPECT_EQ(r.entries_by_type.at("renewal"), 1u);
    } else {
      EXPECT_FALSE(r.ok);
      EXPECT_GE(r.bad_index, 28);
      EXPECT_THAT(r.error, HasSubstr(c.error));
    }
  }
}

TEST_F(AuditVerifyTest, TamperedRenewalInAnExportNamesTheEntry) {
  const Keys& k = keys();
  LogBuilder b(k);
  standardLog(b);
  const std::uint64_t agent =
      b.add(renewal("agent:host-1", renewal_proof::kCertificate, challenge('1'), &k.host1_renewed));
  const std::uint64_t own = b.add(renewal("controller", renewal_proof::kCaKey, "", nullptr));
  b.checkpoint();
  ASSERT_TRUE(b.write(variant_).ok());
  ASSERT_TRUE(verify(variant_).ok);
  const std::vector<std::string> lines = readLines(variant_);
  const auto entry_lines = linesOf(lines, "entry ");

  // A byte of the signed request changed (here: the CSR it names): its signature breaks.
  LogEntry e = *decodeLogEntry(b.entries[agent]);
  e.body[e.body.size() - 12] ^= 0x01;
  std::vector<std::string> bad = lines;
  bad[entry_lines[agent]] = entryLine(encodeLogEntry(e));
  AuditReport r = verifyLines(bad);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(agent));
  EXPECT_THAT(r.error, HasSubstr("signature does not verify under host-1's enrolled key"));

  // Another certificate named (the ref, covered by the tree only): the checkpoint catches it.
  e = *decodeLogEntry(b.entries[agent]);
  e.ref = std::string(64, 'b');
  bad = lines;
  bad[entry_lines[agent]] = entryLine(encodeLogEntry(e));
  r = verifyLines(bad);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("is not what the log signed"));

  // The controller's own renewal made to look like an operator's.
  e = *decodeLogEntry(b.entries[own]);
  e.actor = "operator:alice";
  bad = lines;
  bad[entry_lines[own]] = entryLine(encodeLogEntry(e));
  r = verifyLines(bad);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(own));
  EXPECT_THAT(r.error, HasSubstr("but the entry's actor is 'operator:alice'"));
}

}  // namespace
}  // namespace warden::testing
