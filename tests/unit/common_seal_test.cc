// Sealed boxes to a one-time X25519 key (the --rotate-root password's way to the operator).
#include <gtest/gtest.h>

#include <string>

#include "common/crypto/seal.h"

namespace warden::crypto {
namespace {

constexpr std::size_t kOverhead = 32 + 12 + 16;

TEST(SealTest, GeneratesRawKeyPairs) {
  auto a = generateX25519();
  auto b = generateX25519();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(a->private_key.size(), 32u);
  EXPECT_EQ(a->public_key.size(), 32u);
  EXPECT_NE(a->public_key, b->public_key);
  EXPECT_NE(a->private_key, b->private_key);
}

TEST(SealTest, RoundTrip) {
  auto kp = generateX25519();
  ASSERT_TRUE(kp.ok());
  for (const std::string& plaintext :
       {std::string(), std::string("x"), std::string("correct horse battery staple 0123456789"),
        std::string(5000, '\xa5')}) {
    auto sealed = sealToX25519(kp->public_key, plaintext);
    ASSERT_TRUE(sealed.ok()) << sealed.status();
    EXPECT_EQ(sealed->size(), plaintext.size() + kOverhead);
    // Only meaningful for plaintexts that cannot turn up in random bytes by chance: a single
    // byte does in about one seal out of five.
    if (plaintext.size() >= 16) {
      EXPECT_EQ(sealed->find(plaintext), std::string::npos);
    }
    auto opened = openSealed(kp->private_key, *sealed);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_EQ(*opened, plaintext);
  }
}

TEST(SealTest, EachSealIsFresh) {
  auto kp = generateX25519();
  ASSERT_TRUE(kp.ok());
  auto a = sealToX25519(kp->public_key, "secret");
  auto b = sealToX25519(kp->public_key, "secret");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->substr(0, 32), b->substr(0, 32));  // ephemeral key
  EXPECT_NE(*a, *b);
}

TEST(SealTest, WrongKeyFails) {
  auto kp = generateX25519();
  auto other = generateX25519();
  ASSERT_TRUE(kp.ok() && other.ok());
  auto sealed = sealToX25519(kp->public_key, "root password");
  ASSERT_TRUE(sealed.ok());
  auto opened = openSealed(other->private_key, *sealed);
  EXPECT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(SealTest, EveryTamperedByteFails) {
  auto kp = generateX25519();
  ASSERT_TRUE(kp.ok());
  auto sealed = sealToX25519(kp->public_key, "root password");
  ASSERT_TRUE(sealed.ok());
  // Ephemeral key, nonce, ciphertext and tag: a flipped bit anywhere is detected.
  for (std::size_t i = 0; i < sealed->size(); ++i) {
    std::string bad = *sealed;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_FALSE(openSealed(kp->private_key, bad).ok()) << "byte " << i;
  }
}

TEST(SealTest, TruncatedOrExtendedFails) {
  auto kp = generateX25519();
  ASSERT_TRUE(kp.ok());
  auto sealed = sealToX25519(kp->public_key, "root password");
  ASSERT_TRUE(sealed.ok());
  for (std::size_t n = 0; n < sealed->size(); ++n) {
    EXPECT_FALSE(openSealed(kp->private_key, sealed->substr(0, n)).ok()) << "length " << n;
  }
  EXPECT_FALSE(openSealed(kp->private_key, *sealed + "x").ok());
}

TEST(SealTest, MalformedKeysAreRejected) {
  auto kp = generateX25519();
  ASSERT_TRUE(kp.ok());
  EXPECT_FALSE(sealToX25519("", "x").ok());
  EXPECT_FALSE(sealToX25519(std::string(31, 'a'), "x").ok());
  EXPECT_FALSE(sealToX25519(kp->public_key + "a", "x").ok());
  // A low-order point (all zeros) would give an all-zero shared secret: refused.
  EXPECT_FALSE(sealToX25519(std::string(32, '\0'), "x").ok());
  auto sealed = sealToX25519(kp->public_key, "x");
  ASSERT_TRUE(sealed.ok());
  EXPECT_FALSE(openSealed("", *sealed).ok());
  EXPECT_FALSE(openSealed(std::string(33, 'a'), *sealed).ok());
}

}  // namespace
}  // namespace warden::crypto
