// common/crypto/x509.h: the controller's certificate authority. EC keys, CA certificates, and
// certificates issued from CSRs, read back with OpenSSL's own parsers: shape, profile identity,
// SANs and usages, fingerprints, and the CSRs and profiles that must be refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/crypto/x509.h"
#include "tests/unit/crypto_inspection.h"

namespace warden::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::warden::testing::derOf;
using ::warden::testing::extensionIsCritical;
using ::warden::testing::makeProfile;
using ::warden::testing::parseCert;
using ::warden::testing::parseKey;
using ::warden::testing::PkeyPtr;
using ::warden::testing::secondsAgo;
using ::warden::testing::X509Ptr;

TEST(EcKey, IsPkcs8P256) {
  auto pem = generateEcKeyPem();
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_THAT(*pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  PkeyPtr key = parseKey(*pem);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(EVP_PKEY_get_id(key.get()), EVP_PKEY_EC);
  char group[64] = {};
  std::size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_group_name(key.get(), group, sizeof group, &len), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_NE(*generateEcKeyPem(), *pem);
}

class CertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = createCa("Warden Test CA", absl::Hours(24 * 365 * 10));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
  }
  CertificateAuthority ca_;
};

TEST_F(CertTest, CaCertificateShape) {
  EXPECT_THAT(ca_.key_pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  EXPECT_THAT(ca_.cert_pem, StartsWith("-----BEGIN CERTIFICATE-----\n"));
  EXPECT_EQ(*certCommonName(ca_.cert_pem), "Warden Test CA");

  X509Ptr cert = parseCert(ca_.cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
  EXPECT_EQ(X509_check_ca(cert.get()), 1);
  EXPECT_TRUE(extensionIsCritical(cert.get(), NID_basic_constraints));
  EXPECT_TRUE(extensionIsCritical(cert.get(), NID_key_usage));
  EXPECT_EQ(X509_get_key_usage(cert.get()), static_cast<uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  EXPECT_NE(X509_get0_subject_key_id(cert.get()), nullptr);
  EXPECT_EQ(X509_check_issued(cert.get(), cert.get()), X509_V_OK);  // self-signed
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  // The CA key really is the key in the certificate.
  PkeyPtr key = parseKey(ca_.key_pem);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);

  // Back-dated five minutes for clock skew; expires after the requested validity.
  int before = secondsAgo(X509_get0_notBefore(cert.get()));
  EXPECT_GE(before, 295);
  EXPECT_LE(before, 330);
  int after = -secondsAgo(X509_get0_notAfter(cert.get()));
  EXPECT_NEAR(after, 10 * 365 * 86400, 60);

  // 128 random bits of serial: two CAs never share one.
  BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr);
  ASSERT_NE(serial, nullptr);
  EXPECT_LE(BN_num_bits(serial), 128);
  EXPECT_GT(BN_num_bits(serial), 64);
  EXPECT_FALSE(BN_is_negative(serial));
  BN_free(serial);
  auto other = createCa("Warden Test CA", absl::Hours(1));
  ASSERT_TRUE(other.ok());
  X509Ptr other_cert = parseCert(other->cert_pem);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(cert.get()),
                             X509_get0_serialNumber(other_cert.get())),
            0);

  EXPECT_TRUE(verifyCertIssuedBy(ca_.cert_pem, ca_.cert_pem).ok());
}

TEST_F(CertTest, CsrToCertificateUsesProfileIdentity) {
  auto key = generateEcKeyPem();
  ASSERT_TRUE(key.ok());
  auto csr = createCsr(*key, "attacker-chosen-name");
  ASSERT_TRUE(csr.ok()) << csr.status();
  EXPECT_THAT(*csr, StartsWith("-----BEGIN CERTIFICATE REQUEST-----\n"));

  CertProfile profile;
  profile.common_name = "agent-7f3a";
  profile.client = true;
  profile.validity = absl::Hours(48);
  auto cert_pem = signCsr(ca_, *csr, profile);
  ASSERT_TRUE(cert_pem.ok()) << cert_pem.status();

  EXPECT_TRUE(verifyCertIssuedBy(*cert_pem, ca_.cert_pem).ok());
  auto cn = certCommonName(*cert_pem);
  ASSERT_TRUE(cn.ok()) << cn.status();
  EXPECT_EQ(*cn, "agent-7f3a");

  X509Ptr cert = parseCert(*cert_pem);
  X509Ptr ca_cert = parseCert(ca_.cert_pem);
  ASSERT_NE(cert, nullptr);
  // Certifies the requester's key.
  PkeyPtr pkey = parseKey(*key);
  EXPECT_EQ(X509_check_private_key(cert.get(), pkey.get()), 1);
  // Issuer and authorityKeyIdentifier point at the CA.
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(cert.get()), X509_get_subject_name(ca_cert.get())),
            0);
  const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(cert.get());
  ASSERT_NE(akid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid, X509_get0_subject_key_id(ca_cert.get())), 0);
  EXPECT_EQ(X509_get_signature_nid(cert.get()), NID_ecdsa_with_SHA256);
  // A leaf, good for client authentication only.
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_TRUE(extensionIsCritical(cert.get(), NID_basic_constraints));
  EXPECT_TRUE(X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()), static_cast<uint32_t>(XKU_SSL_CLIENT));
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_CLIENT, 0), 1);
  EXPECT_NE(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
  EXPECT_NEAR(-secondsAgo(X509_get0_notAfter(cert.get())), 48 * 3600, 60);
}

TEST_F(CertTest, CertificateFromAnotherCaFails) {
  auto other = createCa("Other CA", absl::Hours(24));
  ASSERT_TRUE(other.ok());
  auto key = generateEcKeyPem();
  ASSERT_TRUE(key.ok());
  CertProfile profile = makeProfile("op-alice", false, true);
  auto cert = issueCertificate(*other, *key, profile);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(verifyCertIssuedBy(*cert, other->cert_pem).ok());
  absl::Status s = verifyCertIssuedBy(*cert, ca_.cert_pem);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(verifyCertIssuedBy(other->cert_pem, ca_.cert_pem).ok());
  // Same subject name is not enough: a look-alike CA is still a different CA.
  auto twin = createCa("Warden Test CA", absl::Hours(24));
  ASSERT_TRUE(twin.ok());
  auto twin_cert = issueCertificate(*twin, *key, profile);
  ASSERT_TRUE(twin_cert.ok());
  EXPECT_FALSE(verifyCertIssuedBy(*twin_cert, ca_.cert_pem).ok());
}

TEST_F(CertTest, FingerprintIsStableSha256OfDer) {
  auto fp1 = certFingerprint(ca_.cert_pem);
  auto fp2 = certFingerprint(ca_.cert_pem);
  ASSERT_TRUE(fp1.ok()) << fp1.status();
  EXPECT_EQ(*fp1, *fp2);
  EXPECT_EQ(fp1->size(), 64u);
  EXPECT_EQ(fp1->find_first_not_of("0123456789abcdef"), std::string::npos);
  X509Ptr cert = parseCert(ca_.cert_pem);
  EXPECT_EQ(*fp1, hex(sha256(derOf(cert.get()))));

  auto other = createCa("Warden Test CA", absl::Hours(24));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*certFingerprint(other->cert_pem), *fp1);

  auto bad = certFingerprint("not a certificate");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("Failed to parse certificate"));
}

TEST_F(CertTest, ServerProfileSansAndUsages) {
  auto key = generateEcKeyPem();
  ASSERT_TRUE(key.ok());
  CertProfile profile;
  profile.common_name = "warden-controller";
  profile.dns_names = {"warden-controller", "controller.example.org"};
  profile.ip_addresses = {"198.18.0.1", "2001:db8::1"};
  profile.server = true;
  profile.client = true;
  auto cert_pem = issueCertificate(ca_, *key, profile);
  ASSERT_TRUE(cert_pem.ok()) << cert_pem.status();
  X509Ptr cert = parseCert(*cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_host(cert.get(), "warden-controller", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "controller.example.org", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_host(cert.get(), "evil.example.org", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "198.18.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "2001:db8::1", 0), 1);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "198.18.0.2", 0), 1);
  EXPECT_EQ(X509_get_extended_key_usage(cert.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_TRUE(verifyCertIssuedBy(*cert_pem, ca_.cert_pem).ok());
}

TEST_F(CertTest, SanNamesCannotInjectExtraEntries) {
  auto key = generateEcKeyPem();
  ASSERT_TRUE(key.ok());
  CertProfile profile = makeProfile("x", true, false, {"a.example,IP:10.9.8.7"});
  auto cert_pem = issueCertificate(ca_, *key, profile);
  ASSERT_TRUE(cert_pem.ok()) << cert_pem.status();
  X509Ptr cert = parseCert(*cert_pem);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "10.9.8.7", 0), 1);
}

TEST_F(CertTest, RejectsBadProfiles) {
  auto key = generateEcKeyPem();
  ASSERT_TRUE(key.ok());
  CertProfile bad_ip = makeProfile("x", true, false, {}, {"300.1.1.1"});
  auto r1 = issueCertificate(ca_, *key, bad_ip);
  EXPECT_EQ(r1.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r1.status().message()), HasSubstr("300.1.1.1"));
  CertProfile hostname_as_ip = makeProfile("x", true, false, {}, {"localhost"});
  EXPECT_FALSE(issueCertificate(ca_, *key, hostname_as_ip).ok());
  CertProfile no_usage = makeProfile("x", false, false);
  EXPECT_EQ(issueCertificate(ca_, *key, no_usage).status().code(),
            absl::StatusCode::kInvalidArgument);
  CertProfile no_cn = makeProfile("", true, false);
  EXPECT_FALSE(issueCertificate(ca_, *key, no_cn).ok());
  CertProfile zero_validity = makeProfile("x", true, false);
  zero_validity.validity = absl::ZeroDuration();
  EXPECT_FALSE(issueCertificate(ca_, *key, zero_validity).ok());
  CertProfile bad_dns = makeProfile("x", true, false, {""});
  EXPECT_FALSE(issueCertificate(ca_, *key, bad_dns).ok());

  // A CA whose key does not belong to its certificate cannot issue.
  auto other = createCa("Other", absl::Hours(1));
  ASSERT_TRUE(other.ok());
  CertificateAuthority mismatched{ca_.cert_pem, other->key_pem};
  CertProfile ok = makeProfile("x", true, false);
  EXPECT_FALSE(issueCertificate(mismatched, *key, ok).ok());
  EXPECT_FALSE(issueCertificate(ca_, "garbage", ok).ok());
}

TEST_F(CertTest, TamperedOrGarbageCsrIsRejected) {
  auto key = generateEcKeyPem();
  ASSERT_TRUE(key.ok());
  auto csr = createCsr(*key, "agent");
  ASSERT_TRUE(csr.ok());

  // Flip a bit inside the signed request info (the CN), keeping the structure parseable.
  BIO* bio = BIO_new_mem_buf(csr->data(), static_cast<int>(csr->size()));
  X509_REQ* req = PEM_read_bio_X509_REQ(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(req, nullptr);
  unsigned char* der = nullptr;
  int len = i2d_X509_REQ(req, &der);
  X509_REQ_free(req);
  ASSERT_GT(len, 0);
  std::string der_str(reinterpret_cast<const char*>(der), len);
  OPENSSL_free(der);
  std::size_t at = der_str.find("agent");
  ASSERT_NE(at, std::string::npos);
  der_str[at] = 'b';
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der_str.data());
  X509_REQ* tampered = d2i_X509_REQ(nullptr, &p, static_cast<long>(der_str.size()));
  ASSERT_NE(tampered, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_X509_REQ(out, tampered), 1);
  X509_REQ_free(tampered);
  char* data = nullptr;
  long out_len = BIO_get_mem_data(out, &data);
  std::string tampered_pem(data, out_len);
  BIO_free(out);

  CertProfile profile = makeProfile("agent", false, true);
  auto r = signCsr(ca_, tampered_pem, profile);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("CSR signature does not verify"));
  EXPECT_TRUE(signCsr(ca_, *csr, profile).ok());

  auto g = signCsr(ca_, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", profile);
  EXPECT_FALSE(g.ok());
  EXPECT_THAT(std::string(g.status().message()), HasSubstr("Failed to parse CSR"));
}

TEST_F(CertTest, Ed25519CsrIsAccepted) {
  auto key = Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  auto csr = createCsr(key->toPem(), "agent-ed");
  ASSERT_TRUE(csr.ok()) << csr.status();
  CertProfile profile = makeProfile("agent-ed", false, true);
  auto cert = signCsr(ca_, *csr, profile);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_TRUE(verifyCertIssuedBy(*cert, ca_.cert_pem).ok());
}

TEST_F(CertTest, SplitPemCertificates) {
  auto key = generateEcKeyPem();
  ASSERT_TRUE(key.ok());
  CertProfile profile = makeProfile("leaf", true, false);
  auto leaf = issueCertificate(ca_, *key, profile);
  ASSERT_TRUE(leaf.ok());

  // Surrounding text and a private key block are skipped; order is preserved.
  std::string bundle = "leading junk\n" + *leaf + *key + "\n" + ca_.cert_pem + "trailing\n";
  auto certs = splitPemCertificates(bundle);
  ASSERT_TRUE(certs.ok()) << certs.status();
  ASSERT_EQ(certs->size(), 2u);
  EXPECT_EQ(*certFingerprint((*certs)[0]), *certFingerprint(*leaf));
  EXPECT_EQ(*certFingerprint((*certs)[1]), *certFingerprint(ca_.cert_pem));
  EXPECT_THAT((*certs)[0], StartsWith("-----BEGIN CERTIFICATE-----\n"));

  EXPECT_FALSE(splitPemCertificates("").ok());
  EXPECT_FALSE(splitPemCertificates(*key).ok());
  std::string broken =
      ca_.cert_pem + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_FALSE(splitPemCertificates(broken).ok());
}

TEST(CreateCa, RejectsBadArguments) {
  EXPECT_FALSE(createCa("", absl::Hours(1)).ok());
  EXPECT_FALSE(createCa("CA", absl::ZeroDuration()).ok());
  EXPECT_FALSE(createCa("CA", -absl::Hours(1)).ok());
}
}  // namespace
}  // namespace warden::crypto
