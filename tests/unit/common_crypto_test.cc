#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto.h"

namespace warden::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string unhexOrDie(std::string_view text) {
  auto bytes = unhex(text);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// ---- OpenSSL helpers for inspecting what the code under test produced --------------------------

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

X509Ptr parseCert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EXPECT_NE(cert, nullptr) << "test could not parse certificate";
  return X509Ptr(cert);
}

PkeyPtr parseKey(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EXPECT_NE(key, nullptr) << "test could not parse private key";
  return PkeyPtr(key);
}

std::string derOf(X509* cert) {
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  std::string out(reinterpret_cast<const char*>(der), len > 0 ? len : 0);
  OPENSSL_free(der);
  return out;
}

bool extensionIsCritical(X509* cert, int nid) {
  int idx = X509_get_ext_by_NID(cert, nid, -1);
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert, idx)) == 1;
}

// Seconds from `t` to now (positive when `t` is in the past).
int secondsAgo(const ASN1_TIME* t) {
  int days = 0;
  int secs = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &secs, t, nullptr), 1);
  return days * 86400 + secs;
}

// CertProfile has defaulted members, which -Wmissing-field-initializers dislikes in designated
// initializers; build profiles through this instead.
CertProfile makeProfile(std::string cn, bool server, bool client, std::vector<std::string> dns = {},
                        std::vector<std::string> ips = {}) {
  CertProfile p;
  p.common_name = std::move(cn);
  p.server = server;
  p.client = client;
  p.dns_names = std::move(dns);
  p.ip_addresses = std::move(ips);
  return p;
}

// ---- Hashing and encodings ---------------------------------------------------------------------

TEST(Sha256, KnownAnswers) {
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256("abc").size(), 32u);
}

TEST(Hex, RoundTripAndStrictness) {
  EXPECT_EQ(hex(std::string("\x00\xff\x10\xab", 4)), "00ff10ab");
  EXPECT_EQ(hex(""), "");
  EXPECT_EQ(unhexOrDie("00ff10AB"), std::string("\x00\xff\x10\xab", 4));
  EXPECT_EQ(unhexOrDie(""), "");
  EXPECT_EQ(unhex("abc").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unhex("zz").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unhex("0g").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(unhex(" 00").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(base64(plain), encoded);
    auto decoded = unbase64(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded << ": " << decoded.status();
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64, RejectsGarbage) {
  const char* kBad[] = {
      "Zm9v!",       // character outside the alphabet
      "Zg=",         // wrong length
      "Zg",          // padding missing
      "Z===",        // too much padding
      "Zm=v",        // padding in the middle
      "Zg==Zm9v",    // data after padding
      "Zm9vYg==\n",  // trailing newline
      " Zm9v",       // leading space
      "Zh==",        // non-zero unused bits (non-canonical)
      "Zm9-",        // URL-safe alphabet in standard base64
      "====",
  };
  for (const char* text : kBad) {
    auto decoded = unbase64(text);
    EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument) << "'" << text << "'";
  }
}

TEST(Base64Url, AlphabetAndNoPadding) {
  const std::string bytes("\xfb\xff\xbf", 3);
  EXPECT_EQ(base64(bytes), "+/+/");
  EXPECT_EQ(base64url(bytes), "-_-_");
  EXPECT_EQ(base64url("f"), "Zg");
  EXPECT_EQ(base64url("fo"), "Zm8");
  EXPECT_EQ(base64url("foobar"), "Zm9vYmFy");
  auto decoded = unbase64url("-_-_");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, bytes);
  EXPECT_EQ(*unbase64url("Zm8"), "fo");

  for (const char* text : {"+/+/", "Zg==", "Zm8=", "Z", "Zm9vY", "Zh", "Zm9v Zg"}) {
    EXPECT_EQ(unbase64url(text).status().code(), absl::StatusCode::kInvalidArgument)
        << "'" << text << "'";
  }
}

TEST(Base64, RoundTripsEveryLength) {
  for (std::size_t n = 0; n <= 67; ++n) {
    auto bytes = randomBytes(n);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    auto std_decoded = unbase64(base64(*bytes));
    ASSERT_TRUE(std_decoded.ok()) << std_decoded.status();
    EXPECT_EQ(*std_decoded, *bytes);
    auto url_decoded = unbase64url(base64url(*bytes));
    ASSERT_TRUE(url_decoded.ok()) << url_decoded.status();
    EXPECT_EQ(*url_decoded, *bytes);
    EXPECT_EQ(base64url(*bytes).find('='), std::string::npos);
  }
}

TEST(RandomBytes, SizesAndUniqueness) {
  auto a = randomBytes(32);
  auto b = randomBytes(32);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_NE(*a, *b);
  auto empty = randomBytes(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(EqualConstantTime, Semantics) {
  EXPECT_TRUE(equalConstantTime("", ""));
  EXPECT_TRUE(equalConstantTime("secret", "secret"));
  EXPECT_FALSE(equalConstantTime("secret", "secreT"));
  EXPECT_FALSE(equalConstantTime("abc", "abcd"));
  EXPECT_FALSE(equalConstantTime("", "a"));
  EXPECT_TRUE(equalConstantTime(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(equalConstantTime(std::string("a\0b", 3), std::string("a\0c", 3)));
}

// ---- Ed25519
// -------------------------------------------------------------------------------------

TEST(Ed25519, Rfc8032TestVector1) {
  auto key = Ed25519Key::fromRawPrivate(
      unhexOrDie("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(hex(key->publicKey()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto sig = key->sign("");
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(
      hex(*sig),
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e397"
      "01cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(ed25519Verify(key->publicKey(), "", *sig).ok());
}

TEST(Ed25519, Rfc8032TestVector2) {
  auto key = Ed25519Key::fromRawPrivate(
      unhexOrDie("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(hex(key->publicKey()),
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
  auto sig = key->sign(unhexOrDie("72"));
  ASSERT_TRUE(sig.ok()) << sig.status();
  EXPECT_EQ(
      hex(*sig),
      "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f361"
      "3d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
}

TEST(Ed25519, TamperedMessageOrSignatureFails) {
  auto key = Ed25519Key::generate();
  ASSERT_TRUE(key.ok()) << key.status();
  const std::string message = "isolate host-17 until 2030-01-01";
  auto sig = key->sign(message);
  ASSERT_TRUE(sig.ok()) << sig.status();
  ASSERT_EQ(sig->size(), 64u);
  EXPECT_TRUE(ed25519Verify(key->publicKey(), message, *sig).ok());

  std::string bad_message = message;
  bad_message[0] ^= 1;
  absl::Status s = ed25519Verify(key->publicKey(), bad_message, *sig);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("signature does not verify"));

  for (std::size_t i : {std::size_t{0}, std::size_t{31}, std::size_t{63}}) {
    std::string bad_sig = *sig;
    bad_sig[i] ^= 0x40;
    EXPECT_FALSE(ed25519Verify(key->publicKey(), message, bad_sig).ok()) << "byte " << i;
  }

  auto other = Ed25519Key::generate();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(ed25519Verify(other->publicKey(), message, *sig).ok());
}

TEST(Ed25519, RejectsWrongLengths) {
  auto key = Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  auto sig = key->sign("m");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(ed25519Verify(key->publicKey().substr(0, 31), "m", *sig).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ed25519Verify(key->publicKey() + "x", "m", *sig).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ed25519Verify(key->publicKey(), "m", sig->substr(0, 63)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ed25519Verify(key->publicKey(), "m", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Key::fromRawPrivate(std::string(31, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Ed25519, PemRoundTrip) {
  auto key = Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  std::string pem = key->toPem();
  EXPECT_THAT(pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  auto loaded = Ed25519Key::fromPem(pem);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->publicKey(), key->publicKey());
  EXPECT_EQ(loaded->publicKey().size(), 32u);
  // Ed25519 is deterministic: the same key signs the same message identically.
  EXPECT_EQ(*loaded->sign("x"), *key->sign("x"));
}

TEST(Ed25519, FromPemRejectsOtherKeysAndGarbage) {
  auto ec = generateEcKeyPem();
  ASSERT_TRUE(ec.ok()) << ec.status();
  auto key = Ed25519Key::fromPem(*ec);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr("not Ed25519"));

  auto garbage =
      Ed25519Key::fromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  EXPECT_FALSE(garbage.ok());
  EXPECT_THAT(std::string(garbage.status().message()), HasSubstr("Failed to parse private key"));
  EXPECT_FALSE(Ed25519Key::fromPem("").ok());
}

// ---- Keys and certificates
// -----------------------------------------------------------------------

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

// ---- fetchPeerChain
// ------------------------------------------------------------------------------

// A one-connection TLS 1.3 server shaped like the controller: it presents leaf + CA and asks for,
// but does not require, a client certificate.
class TlsTestServer {
 public:
  struct Result {
    bool handshake_ok = false;
    std::string sni;
    bool client_sent_cert = true;
    std::string error;
  };

  ~TlsTestServer() {
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    SSL_CTX_free(ctx_);
  }

  // Returns false (without failing) when the address family is unavailable.
  bool start(const CertificateAuthority& ca, const std::string& leaf_pem,
             const std::string& key_pem, int family = AF_INET) {
    // The client may close while the server is still writing; that must not kill the test.
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    EXPECT_NE(ctx_, nullptr);
    EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION), 1);
    X509Ptr leaf = parseCert(leaf_pem);
    X509Ptr ca_cert = parseCert(ca.cert_pem);
    PkeyPtr key = parseKey(key_pem);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_, leaf.get()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, key.get()), 1);
    EXPECT_EQ(SSL_CTX_add1_chain_cert(ctx_, ca_cert.get()), 1);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    SSL_CTX_set_num_tickets(ctx_, 0);

    listen_fd_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(listen_fd_, 0);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *in;
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_loopback;
      len = sizeof *in6;
    }
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) return false;
    EXPECT_EQ(listen(listen_fd_, 4), 0);
    EXPECT_EQ(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&addr)->sin_port
                                    : reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    thread_ = std::thread([this] { serveOne(); });
    return true;
  }

  std::uint16_t port() const { return port_; }

  Result finish() {
    thread_.join();
    return result_;
  }

 private:
  void serveOne() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) {
      result_.error = "no connection";
      return;
    }
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      result_.error = "accept failed";
      return;
    }
    timeval tv{10, 0};  // A broken client must not hang the test.
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      result_.handshake_ok = true;
      const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      result_.sni = sni != nullptr ? sni : "";
      X509* peer = SSL_get1_peer_certificate(ssl);
      result_.client_sent_cert = peer != nullptr;
      X509_free(peer);
      char buf[16];
      SSL_read(ssl, buf, sizeof buf);  // Wait for the client's close_notify (or EOF).
      SSL_shutdown(ssl);
    } else {
      char buf[256];
      ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
      result_.error = buf;
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
  }

  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  Result result_;
};

class FetchPeerChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = createCa("Warden CA", absl::Hours(24));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    auto key = generateEcKeyPem();
    ASSERT_TRUE(key.ok());
    key_pem_ = *key;
    CertProfile profile =
        makeProfile("warden-controller", true, false, {"warden-controller"}, {"127.0.0.1", "::1"});
    auto leaf = issueCertificate(ca_, key_pem_, profile);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    leaf_pem_ = *leaf;
  }

  void expectChain(const std::vector<std::string>& chain) {
    ASSERT_EQ(chain.size(), 2u);
    EXPECT_EQ(*certFingerprint(chain[0]), *certFingerprint(leaf_pem_));
    EXPECT_EQ(*certFingerprint(chain[1]), *certFingerprint(ca_.cert_pem));
    EXPECT_EQ(*certCommonName(chain[0]), "warden-controller");
    EXPECT_TRUE(verifyCertIssuedBy(chain[0], chain[1]).ok());
  }

  CertificateAuthority ca_;
  std::string key_pem_;
  std::string leaf_pem_;
};

TEST_F(FetchPeerChainTest, ReturnsLeafAndCaWithoutClientCertificate) {
  TlsTestServer server;
  ASSERT_TRUE(server.start(ca_, leaf_pem_, key_pem_));
  auto chain = fetchPeerChain("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(chain.ok()) << chain.status();
  expectChain(*chain);
  TlsTestServer::Result result = server.finish();
  EXPECT_TRUE(result.handshake_ok) << result.error;
  EXPECT_EQ(result.sni, "warden-controller");
  EXPECT_FALSE(result.client_sent_cert);
}

TEST_F(FetchPeerChainTest, WorksOverIpv6) {
  TlsTestServer server;
  if (!server.start(ca_, leaf_pem_, key_pem_, AF_INET6)) {
    // CI machines have ::1; only a developer box without IPv6 may skip.
    const char* required = std::getenv("WARDEN_REQUIRE_PRIVILEGED");
    if (required != nullptr && std::string(required) == "1") {
      FAIL() << "no IPv6 loopback (WARDEN_REQUIRE_PRIVILEGED=1)";
    }
    GTEST_SKIP() << "no IPv6 loopback";
  }
  auto chain = fetchPeerChain("::1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(chain.ok()) << chain.status();
  expectChain(*chain);
  EXPECT_TRUE(server.finish().handshake_ok);
}

TEST_F(FetchPeerChainTest, ClosedPortFailsFast) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);  // Nothing listens on this port now.

  auto start = std::chrono::steady_clock::now();
  auto chain = fetchPeerChain("127.0.0.1", ntohs(addr.sin_port), absl::Seconds(3));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(chain.ok());
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kUnavailable) << chain.status();
  EXPECT_THAT(std::string(chain.status().message()), HasSubstr("Connection refused"));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(FetchPeerChainTest, SilentServerTimesOut) {
  // Accepts TCP (via the backlog) but never speaks TLS.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  auto start = std::chrono::steady_clock::now();
  auto chain = fetchPeerChain("127.0.0.1", ntohs(addr.sin_port), absl::Milliseconds(300));
  auto elapsed = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kDeadlineExceeded) << chain.status();
  EXPECT_GE(elapsed, std::chrono::milliseconds(290));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST_F(FetchPeerChainTest, RejectsBadArguments) {
  EXPECT_EQ(fetchPeerChain("127.0.0.1", 1, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto r = fetchPeerChain("no-such-host.invalid", 443, absl::Seconds(2));
  EXPECT_FALSE(r.ok());
}

TEST(Sha256Test, IncrementalEqualsOneShotAndRestarts) {
  const std::string data(100000, 'x');
  crypto::Sha256 h;
  for (std::size_t i = 0; i < data.size(); i += 777)
    h.update(std::string_view(data).substr(i, 777));
  EXPECT_EQ(h.finish(), crypto::sha256(data));
  // FIPS 180-2 example "abc", after a finish: the hasher started over.
  h.update("a");
  h.update("bc");
  EXPECT_EQ(crypto::hex(h.finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  crypto::Sha256 moved = std::move(h);
  EXPECT_EQ(crypto::hex(moved.finish()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace warden::crypto
