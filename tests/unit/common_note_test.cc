// common/note.h (C2SP signed-note): verifier and signer keys, parsed from Go's published ones
// and refused in every mangled form, and signing, which reproduces Go's notes exactly. The
// vectors are in note_vectors.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/note.h"
#include "tests/unit/note_vectors.h"

namespace warden::note {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::warden::testing::freshSigner;
using ::warden::testing::kEnochVkey;
using ::warden::testing::kPeterSkey;
using ::warden::testing::kPeterVkey;
using ::warden::testing::kSumDbVkey;
using ::warden::testing::kText;
using ::warden::testing::peterNote;
using ::warden::testing::peterSigner;
using ::warden::testing::verifierFor;
using ::warden::testing::verifierOrDie;

TEST(NoteKeyTest, ParsesGoVerifierKey) {
  auto v = parseVerifierKey(kPeterVkey);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->name, "PeterNeumann");
  EXPECT_EQ(v->key_id, 0xc74f20a3u);
  EXPECT_EQ(v->public_key.size(), 32u);
  EXPECT_EQ(formatVerifierKey(*v), kPeterVkey);
  auto formatted = formatVerifierKey("PeterNeumann", v->public_key);
  ASSERT_TRUE(formatted.ok()) << formatted.status();
  EXPECT_EQ(*formatted, kPeterVkey);
  EXPECT_EQ(ed25519KeyId("PeterNeumann", v->public_key), 0xc74f20a3u);
}

TEST(NoteKeyTest, ParsesOtherPublishedVerifierKeys) {
  EXPECT_EQ(verifierOrDie(kEnochVkey).key_id, 0xaf0cfe78u);
  // Key material with '+' in it: only the first two '+' separate fields.
  Verifier sumdb = verifierOrDie(kSumDbVkey);
  EXPECT_EQ(sumdb.name, "sum.golang.org");
  EXPECT_EQ(sumdb.key_id, 0x033de0aeu);
  EXPECT_EQ(formatVerifierKey(sumdb), kSumDbVkey);
}

TEST(NoteKeyTest, SignerKeyMatchesVerifierKey) {
  Signer s = peterSigner();
  EXPECT_EQ(s.name, "PeterNeumann");
  EXPECT_EQ(s.key_id, 0xc74f20a3u);
  EXPECT_EQ(s.key.publicKey(), verifierOrDie(kPeterVkey).public_key);
  auto seed = crypto::unbase64("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
  ASSERT_TRUE(seed.ok());
  auto skey = formatSignerKey("PeterNeumann", seed->substr(1));
  ASSERT_TRUE(skey.ok()) << skey.status();
  EXPECT_EQ(*skey, kPeterSkey);
}

// As Go's TestNewVerifier: every proper substring and every single-byte change is rejected.
TEST(NoteKeyTest, RejectsManglingsOfVerifierKey) {
  const std::string key(kPeterVkey);
  for (std::size_t i = 0; i <= key.size(); ++i) {
    for (std::size_t j = i + 1; j <= key.size(); ++j) {
      if (i == 0 && j == key.size()) continue;
      EXPECT_FALSE(parseVerifierKey(key.substr(i, j - i)).ok()) << key.substr(i, j - i);
    }
  }
  for (std::size_t i = 0; i < key.size(); ++i) {
    std::string b = key;
    ++b[i];
    EXPECT_FALSE(parseVerifierKey(b).ok()) << b;
  }
  // Wrong key length and unknown algorithm, each with a matching key hash (from Go's test).
  EXPECT_FALSE(parseVerifierKey("PeterNeumann+cc469956+"
                                "ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==")
                   .ok());
  auto alg = parseVerifierKey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ASSERT_FALSE(alg.ok());
  EXPECT_THAT(alg.status().message(), HasSubstr("algorithm"));
}

TEST(NoteKeyTest, RejectsManglingsOfSignerKey) {
  const std::string key(kPeterSkey);
  for (std::size_t i = 0; i <= key.size(); ++i) {
    for (std::size_t j = i + 1; j <= key.size(); ++j) {
      if (i == 0 && j == key.size()) continue;
      EXPECT_FALSE(parseSignerKey(key.substr(i, j - i)).ok()) << key.substr(i, j - i);
    }
  }
  for (std::size_t i = 0; i < key.size(); ++i) {
    std::string b = key;
    ++b[i];
    EXPECT_FALSE(parseSignerKey(b).ok()) << b;
  }
}

TEST(NoteKeyTest, RejectsBadNames) {
  Verifier peter = verifierOrDie(kPeterVkey);
  for (std::string_view name : {"", "a b", "a+b", "a\tb", "a\nb",
                                "a\xC2\xA0"
                                "b",
                                "a\xE3\x80\x80"
                                "b",
                                "a\xE2\x80\x8A"
                                "b",
                                "\xFF", "\xC0\xAF"}) {
    EXPECT_FALSE(isValidKeyName(name)) << name;
    EXPECT_FALSE(formatVerifierKey(name, peter.public_key).ok()) << name;
  }
  for (std::string_view name :
       {"PeterNeumann", "sum.golang.org", "example.com/log42", "Se\xC3\xB1or-1", "\xE2\x80\x94"}) {
    EXPECT_TRUE(isValidKeyName(name)) << name;
  }
  EXPECT_FALSE(formatVerifierKey("x", "short").ok());
  EXPECT_FALSE(
      parseVerifierKey("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T").ok());
  // Upper-case hex key IDs are accepted, as by Go's strconv.ParseUint.
  EXPECT_TRUE(
      parseVerifierKey("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").ok());
}

// ---- signing ------------------------------------------------------------------------------------

TEST(NoteSignTest, ReproducesGoNoteExactly) {
  // Ed25519 is deterministic (RFC 8032), so signing must give Go's TestSign output byte for byte.
  auto note = signNote(kText, {peterSigner()});
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(*note, peterNote());

  auto seed = crypto::unbase64("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
  ASSERT_TRUE(seed.ok());
  auto key = crypto::Ed25519Key::fromRawPrivate(seed->substr(1));
  ASSERT_TRUE(key.ok());
  auto again = signNote(kText, "PeterNeumann", *key);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, peterNote());
}

TEST(NoteSignTest, RejectsBadText) {
  Signer peter = peterSigner();
  for (std::string_view text :
       {std::string_view(""), std::string_view("abc"), std::string_view("a\r\n"),
        std::string_view("a\x01\n"), std::string_view("\xFF\n"), std::string_view("tab\there\n")}) {
    EXPECT_FALSE(signNote(text, {peter}).ok()) << text;
  }
  EXPECT_FALSE(signNote(kText, std::vector<Signer>{}).ok());
  Signer bad = peter;
  bad.name = "bad name";
  EXPECT_FALSE(signNote(kText, {bad}).ok());
  EXPECT_FALSE(signNote(kText, "a+b", peter.key).ok());
}

TEST(NoteSignTest, RoundTripWithBlankLinesInText) {
  Signer s = freshSigner("example.com/log");
  const std::string text = "first\n\nthird\n\n";
  auto note = signNote(text, {s});
  ASSERT_TRUE(note.ok()) << note.status();
  auto opened = openNote(*note, {verifierFor(s)});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->text, text);
  EXPECT_THAT(opened->verifiedNames(), ElementsAre("example.com/log"));

  // A one-line text that is only a newline is allowed too.
  auto minimal = signNote("\n", {s});
  ASSERT_TRUE(minimal.ok());
  auto opened_minimal = openNote(*minimal, {verifierFor(s)});
  ASSERT_TRUE(opened_minimal.ok()) << opened_minimal.status();
  EXPECT_EQ(opened_minimal->text, "\n");
}

TEST(NoteSignTest, TwoSignersInOrder) {
  Signer a = freshSigner("alpha");
  Signer b = freshSigner("Se\xC3\xB1or-2");
  auto note = signNote(kText, {a, b});
  ASSERT_TRUE(note.ok()) << note.status();
  auto opened = openNote(*note, {verifierFor(b), verifierFor(a)});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_THAT(opened->verifiedNames(), ElementsAre("alpha", "Se\xC3\xB1or-2"));
  EXPECT_TRUE(opened->unverified.empty());
  // With only one of them known, the other is reported as unverified.
  auto only_b = openNote(*note, {verifierFor(b)});
  ASSERT_TRUE(only_b.ok()) << only_b.status();
  EXPECT_THAT(only_b->verifiedNames(), ElementsAre("Se\xC3\xB1or-2"));
  ASSERT_EQ(only_b->unverified.size(), 1u);
  EXPECT_EQ(only_b->unverified[0].name, "alpha");
  EXPECT_EQ(only_b->unverified[0].key_id, a.key_id);
}
}  // namespace
}  // namespace warden::note
