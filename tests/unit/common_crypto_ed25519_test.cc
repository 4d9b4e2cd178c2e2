// common/crypto/ed25519.h: Ed25519 keys against RFC 8032's test vectors, tampered messages and
// signatures, wrong lengths, and the PEM form.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/x509.h"
#include "tests/unit/crypto_inspection.h"

namespace warden::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::warden::testing::unhexOrDie;

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
}  // namespace
}  // namespace warden::crypto
