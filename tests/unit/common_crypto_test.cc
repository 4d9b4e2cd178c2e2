// common/crypto/hash.h and encoding.h: SHA-256 (one-shot and incremental), hex, base64 and
// base64url, random bytes and constant-time comparison, against published vectors.
#include <gtest/gtest.h>

#include <string>

#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "tests/unit/crypto_inspection.h"

namespace warden::crypto {
namespace {

using ::warden::testing::unhexOrDie;

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
