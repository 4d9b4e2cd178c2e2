// common/token.h: wdn1.<id: 16 hex>.<secret: base64url of 32 bytes>.<CA fingerprint: 64 hex>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/crypto/encoding.h"
#include "common/token.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kFingerprint = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string kId = "00112233aabbccdd";
// base64url (no padding) of 32 bytes 0x00..0x1f.
const std::string kSecret32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

std::string token(const std::string& version, const std::string& id, const std::string& secret,
                  const std::string& fp) {
  return version + "." + id + "." + secret + "." + fp;
}

TEST(JoinToken, ParsesAHandWrittenToken) {
  auto t = JoinToken::parse(token("wdn1", kId, kSecret32, kFingerprint));
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->id, kId);
  EXPECT_EQ(t->ca_fingerprint, kFingerprint);
  ASSERT_EQ(t->secret.size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(static_cast<unsigned char>(t->secret[i]), i) << i;
  EXPECT_EQ(t->toString(), token("wdn1", kId, kSecret32, kFingerprint));
}

TEST(JoinToken, GenerateToStringParseRoundTrip) {
  auto t = JoinToken::generate(kFingerprint);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->id.size(), 16u);
  EXPECT_EQ(t->id.find_first_not_of("0123456789abcdef"), std::string::npos) << t->id;
  EXPECT_EQ(t->secret.size(), 32u);
  EXPECT_EQ(t->ca_fingerprint, kFingerprint);

  const std::string text = t->toString();
  EXPECT_THAT(text, StartsWith("wdn1." + t->id + "."));
  // 4 + 1 + 16 + 1 + 43 + 1 + 64
  EXPECT_EQ(text.size(), 130u) << text;
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos) << "base64url without padding";

  auto back = JoinToken::parse(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, t->id);
  EXPECT_EQ(back->secret, t->secret);
  EXPECT_EQ(back->ca_fingerprint, t->ca_fingerprint);
  EXPECT_EQ(back->toString(), text);
}

TEST(JoinToken, GeneratedTokensDiffer) {
  auto a = JoinToken::generate(kFingerprint);
  auto b = JoinToken::generate(kFingerprint);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
  EXPECT_NE(a->secret, b->secret);
}

void expectMalformed(const std::string& text, const char* why) {
  auto t = JoinToken::parse(text);
  ASSERT_FALSE(t.ok()) << "'" << text << "' parsed (expected: " << why << ")";
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << text;
  EXPECT_THAT(t.status().message(), HasSubstr("malformed join token")) << text;
  EXPECT_THAT(t.status().message(), HasSubstr(why)) << text;
}

TEST(JoinTokenParse, WrongVersion) {
  expectMalformed(token("wdn2", kId, kSecret32, kFingerprint), "unknown version");
  expectMalformed(token("WDN1", kId, kSecret32, kFingerprint), "unknown version");
  expectMalformed(token("wdn", kId, kSecret32, kFingerprint), "unknown version");
  expectMalformed(token("", kId, kSecret32, kFingerprint), "unknown version");
}

TEST(JoinTokenParse, WrongPartCount) {
  const char* why = "expected wdn1.<id>.<secret>.<ca-hash>";
  expectMalformed("", why);
  expectMalformed("wdn1", why);
  expectMalformed("wdn1." + kId, why);
  expectMalformed("wdn1." + kId + "." + kSecret32, why);
  expectMalformed(token("wdn1", kId, kSecret32, kFingerprint) + ".extra", why);
  expectMalformed(token("wdn1", kId, kSecret32, kFingerprint) + ".a.b.c.d.e", why);
}

TEST(JoinTokenParse, ExtraDots) {
  const std::string good = token("wdn1", kId, kSecret32, kFingerprint);
  ASSERT_TRUE(JoinToken::parse(good).ok());
  const char* why = "expected wdn1.<id>.<secret>.<ca-hash>";
  expectMalformed(good + ".", why);
  expectMalformed(good + "..", why);
  expectMalformed("." + good, why);
  expectMalformed("wdn1.." + kId + "." + kSecret32 + "." + kFingerprint, why);
  expectMalformed("wdn1." + kId + ".." + kSecret32 + "." + kFingerprint, why);
  expectMalformed("wdn1." + kId + "." + kSecret32 + ".." + kFingerprint, why);
  expectMalformed("...", "unknown version");
}

TEST(JoinTokenParse, BadId) {
  expectMalformed(token("wdn1", "00112233AABBCCDD", kSecret32, kFingerprint), "bad id");
  expectMalformed(token("wdn1", "00112233aabbccd", kSecret32, kFingerprint), "bad id");
  expectMalformed(token("wdn1", "00112233aabbccdd0", kSecret32, kFingerprint), "bad id");
  expectMalformed(token("wdn1", "00112233aabbccdg", kSecret32, kFingerprint), "bad id");
  expectMalformed(token("wdn1", "", kSecret32, kFingerprint), "bad id");
}

TEST(JoinTokenParse, BadFingerprint) {
  std::string upper = kFingerprint;
  upper[10] = 'A';
  expectMalformed(token("wdn1", kId, kSecret32, upper), "bad CA fingerprint");
  expectMalformed(token("wdn1", kId, kSecret32, kFingerprint.substr(1)), "bad CA fingerprint");
  expectMalformed(token("wdn1", kId, kSecret32, kFingerprint + "0"), "bad CA fingerprint");
  expectMalformed(token("wdn1", kId, kSecret32, ""), "bad CA fingerprint");
}

TEST(JoinTokenParse, BadSecret) {
  // 31 and 33 bytes of valid base64url.
  const std::string s31 = crypto::base64url(std::string(31, '\x07'));
  const std::string s33 = crypto::base64url(std::string(33, '\x07'));
  ASSERT_TRUE(crypto::unbase64url(s31).ok());
  expectMalformed(token("wdn1", kId, s31, kFingerprint), "bad secret");
  expectMalformed(token("wdn1", kId, s33, kFingerprint), "bad secret");
  // The standard alphabet's '+' and '/' are not base64url.
  std::string plus = kSecret32;
  plus[5] = '+';
  expectMalformed(token("wdn1", kId, plus, kFingerprint), "bad secret");
  std::string slash = kSecret32;
  slash[5] = '/';
  expectMalformed(token("wdn1", kId, slash, kFingerprint), "bad secret");
  expectMalformed(token("wdn1", kId, kSecret32 + "=", kFingerprint), "bad secret");
  expectMalformed(token("wdn1", kId, "!" + kSecret32.substr(1), kFingerprint), "bad secret");
  expectMalformed(token("wdn1", kId, "", kFingerprint), "bad secret");
  expectMalformed(token("wdn1", kId, kSecret32.substr(1), kFingerprint), "bad secret");
}

}  // namespace
}  // namespace warden
