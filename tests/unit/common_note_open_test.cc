// common/note.h: opening signed notes (Go's, doubly signed, by unknown or ambiguous signers,
// tampered, malformed) and C2SP tlog-checkpoints, a real sum.golang.org one among them. The
// vectors are in note_vectors.h.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/note.h"
#include "tests/unit/note_vectors.h"

namespace warden::note {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::warden::testing::cat;
using ::warden::testing::freshSigner;
using ::warden::testing::kEnochB64;
using ::warden::testing::kEnochSig;
using ::warden::testing::kEnochVkey;
using ::warden::testing::kPeterB64;
using ::warden::testing::kPeterSig;
using ::warden::testing::kPeterVkey;
using ::warden::testing::kSumDbCheckpoint;
using ::warden::testing::kSumDbSig;
using ::warden::testing::kSumDbVkey;
using ::warden::testing::kText;
using ::warden::testing::peterNote;
using ::warden::testing::verifierFor;
using ::warden::testing::verifierOrDie;

TEST(NoteOpenTest, OpensGoNote) {
  auto opened = openNote(peterNote(), {verifierOrDie(kPeterVkey)});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->text, kText);
  ASSERT_EQ(opened->verified.size(), 1u);
  EXPECT_EQ(opened->verified[0].name, "PeterNeumann");
  EXPECT_EQ(opened->verified[0].key_id, 0xc74f20a3u);
  EXPECT_EQ(opened->verified[0].base64, kPeterB64);
  EXPECT_TRUE(opened->unverified.empty());
}

// Go's TestOpen: one of two signatures verified, then both.
TEST(NoteOpenTest, GoDoublySignedNote) {
  const std::string note = cat({kText, "\n", kPeterSig, kEnochSig});
  auto one = openNote(note, {verifierOrDie(kPeterVkey)});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(one->verifiedNames(), ElementsAre("PeterNeumann"));
  ASSERT_EQ(one->unverified.size(), 1u);
  EXPECT_EQ(one->unverified[0].name, "EnochRoot");
  EXPECT_EQ(one->unverified[0].key_id, 0xaf0cfe78u);
  EXPECT_EQ(one->unverified[0].base64, kEnochB64);

  auto both = openNote(note, {verifierOrDie(kPeterVkey), verifierOrDie(kEnochVkey)});
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_THAT(both->verifiedNames(), ElementsAre("PeterNeumann", "EnochRoot"));
  EXPECT_TRUE(both->unverified.empty());

  // Enoch alone signs the same text.
  auto enoch = openNote(cat({kText, "\n", kEnochSig}), {verifierOrDie(kEnochVkey)});
  ASSERT_TRUE(enoch.ok()) << enoch.status();
  EXPECT_EQ(enoch->text, kText);
}

TEST(NoteOpenTest, NoKnownSigner) {
  const std::string note = cat({kText, "\n", kPeterSig, kEnochSig});
  auto none = openNote(note, {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(none.status().message(), HasSubstr("no verifiable signatures"));

  // Same name, different key (so different key ID): unknown, ignored.
  Signer impostor = freshSigner("PeterNeumann");
  auto other_key = openNote(peterNote(), {verifierFor(impostor)});
  ASSERT_FALSE(other_key.ok());
  EXPECT_EQ(other_key.status().code(), absl::StatusCode::kUnauthenticated);

  // Same key ID, different name: unknown too.
  Verifier renamed = verifierOrDie(kPeterVkey);
  renamed.name = "PeterNeuman";
  EXPECT_EQ(openNote(peterNote(), {renamed}).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(NoteOpenTest, TamperedTextOrSignatureFails) {
  const Verifier peter = verifierOrDie(kPeterVkey);
  std::string text_tampered = peterNote();
  text_tampered.replace(text_tampered.find("cryptography"), 12, "cryptographY");
  auto t = openNote(text_tampered, {peter});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(t.status().message(), HasSubstr("invalid signature for key PeterNeumann+c74f20a3"));

  // Go: "ABCD" spliced into the signature (still valid base64).
  const std::string sig(kPeterSig);
  auto s = openNote(cat({kText, "\n", sig.substr(0, 60), "ABCD", sig.substr(60)}), {peter});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(s.status().message(), HasSubstr("invalid signature for key PeterNeumann+c74f20a3"));

  // A bad signature from a known key rejects the note even if another one verifies.
  Signer other = freshSigner("other");
  auto good = signNote(kText, {other});
  ASSERT_TRUE(good.ok());
  const std::string mixed =
      cat({*good, sig.substr(0, 60), "ABCD", sig.substr(60)});  // other's good + Peter's bad
  EXPECT_EQ(openNote(mixed, {verifierFor(other), peter}).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(openNote(mixed, {verifierFor(other)}).ok());
}

TEST(NoteOpenTest, DuplicateSignaturesReportedOnce) {
  // Go's TestOpen "Duplicated verified and unverified signatures".
  const std::string enoch(kEnochSig);
  const std::string note = cat({kText, "\n", kPeterSig, kPeterSig, kEnochSig, kEnochSig,
                                enoch.substr(0, 60), "ABCD", enoch.substr(60)});
  auto opened = openNote(note, {verifierOrDie(kPeterVkey)});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_THAT(opened->verifiedNames(), ElementsAre("PeterNeumann"));
  ASSERT_EQ(opened->unverified.size(), 2u);
  EXPECT_EQ(opened->unverified[0].base64, kEnochB64);
  EXPECT_EQ(
      opened->unverified[1].base64,
      "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5nABCD2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1"
      "RvMc+QQ=");
}

TEST(NoteOpenTest, AmbiguousVerifiers) {
  const Verifier peter = verifierOrDie(kPeterVkey);
  const Verifier enoch = verifierOrDie(kEnochVkey);
  auto used = openNote(cat({kText, "\n", kEnochSig}), {enoch, peter, enoch});
  ASSERT_FALSE(used.ok());
  EXPECT_THAT(used.status().message(), HasSubstr("ambiguous key EnochRoot+af0cfe78"));
  // A duplicated verifier that signed nothing is harmless.
  EXPECT_TRUE(openNote(peterNote(), {enoch, peter, enoch}).ok());
}

TEST(NoteOpenTest, SignatureLimit) {
  const Verifier peter = verifierOrDie(kPeterVkey);
  std::string hundred = cat({kText, "\n"});
  for (int i = 0; i < 100; ++i) hundred.append(kPeterSig);
  EXPECT_TRUE(openNote(hundred, {peter}).ok());
  const std::string too_many = hundred + std::string(kPeterSig);
  for (const std::vector<Verifier>& vs : {std::vector<Verifier>{peter}, std::vector<Verifier>{}}) {
    auto r = openNote(too_many, vs);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("malformed note"));
  }
}

TEST(NoteOpenTest, MalformedNotes) {
  const std::string sig(kPeterSig);
  const std::string sig_no_nl = sig.substr(0, sig.size() - 1);
  const std::vector<std::string> bad = {
      // Go's TestOpen badMsgs.
      std::string(kText), cat({kText, "\n"}), cat({kText, "\n", sig_no_nl}),
      cat({"\x01", kText, "\n", sig}), cat({"\xFF", kText, "\n", sig}),
      cat({kText, "\n", "\xE2\x80\x94 Bad Name ", kPeterB64}),
      cat({kText, "\n", sig, "Unexpected line.\n"}),
      // More: empty note, no text, CR, tab, bad base64, short signature, wrong dash, no space,
      // two spaces, empty signature, overlong UTF-8, surrogate, truncated UTF-8.
      "", "\n\n", cat({"\n", sig}), cat({"a\r\n", "\n", sig}), cat({"a\tb\n", "\n", sig}),
      cat({kText, "\n", "\xE2\x80\x94 PeterNeumann not*base64\n"}),
      cat({kText, "\n", "\xE2\x80\x94 PeterNeumann x08gow==\n"}),  // 4 bytes: key ID only
      cat({kText, "\n", "\xE2\x80\x94 PeterNeumann x08gox==\n"}),  // non-canonical base64
      cat({kText, "\n", "- PeterNeumann ", kPeterB64, "\n"}),
      cat({kText, "\n", "\xE2\x80\x94PeterNeumann ", kPeterB64, "\n"}),
      cat({kText, "\n", "\xE2\x80\x94 PeterNeumann  ", kPeterB64, "\n"}),
      cat({kText, "\n", "\xE2\x80\x94 PeterNeumann\n"}),
      cat({kText, "\n", "\xE2\x80\x94 PeterNeumann \n"}),
      cat({kText, "\n", "\xE2\x80\x94  ", kPeterB64, "\n"}), cat({kText, "\n", sig, "\n"}),
      cat({"\xC0\xAF\n", "\n", sig}), cat({"\xED\xA0\x80\n", "\n", sig}),
      cat({"\xE2\x80\n", "\n", sig}),
      cat({kText, "\n", "\xE2\x80\x94 PeterNeumann ", kPeterB64.substr(0, kPeterB64.size() - 1),
           "\n"}),  // unpadded
  };
  const Verifier peter = verifierOrDie(kPeterVkey);
  for (const std::string& msg : bad) {
    auto r = openNote(msg, {peter});
    ASSERT_FALSE(r.ok()) << msg;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << msg << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("malformed note")) << msg;
  }
}

// The examples at the top of c2sp.org/signed-note and c2sp.org/tlog-checkpoint are well formed
// (their keys are not published, so they can only fail as unverifiable, not as malformed).
TEST(NoteOpenTest, SpecExamplesAreWellFormed) {
  const std::string signed_note_example =
      "Ognuno sta solo sul cuor della terra\n"
      "trafitto da un raggio di sole:\n"
      "\n"
      "ed \xC3\xA8 subito sera.\n"
      "\n"
      "\xE2\x80\x94 quasimodo.example/salvatore "
      "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc="
      "\n";
  auto r = openNote(signed_note_example, {verifierOrDie(kPeterVkey)});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
  const std::string checkpoint_example =
      "example.com/behind-the-sofa\n"
      "20852163\n"
      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
      "\n"
      "\xE2\x80\x94 example.com/behind-the-sofa "
      "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8="
      "\n";
  r = openNote(checkpoint_example, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated) << r.status();
}

// ---- checkpoints --------------------------------------------------------------------------------

TEST(CheckpointTest, VerifiesRealSumDbCheckpoint) {
  // transparency-dev/formats TestSumDBNoteParsing: a checkpoint signed by sum.golang.org.
  const std::string note = cat({kSumDbCheckpoint, "\n", kSumDbSig});
  auto opened = openNote(note, {verifierOrDie(kSumDbVkey)});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_THAT(opened->verifiedNames(), ElementsAre("sum.golang.org"));
  auto cp = parseCheckpoint(opened->text);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->origin, "go.sum database tree");
  EXPECT_EQ(cp->size, 6476701u);
  EXPECT_EQ(crypto::base64(cp->root_hash), "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=");
  EXPECT_TRUE(cp->extensions.empty());
  auto formatted = formatCheckpoint(*cp);
  ASSERT_TRUE(formatted.ok()) << formatted.status();
  EXPECT_EQ(*formatted, kSumDbCheckpoint);

  std::string tampered = note;
  tampered.replace(tampered.find("6476701"), 7, "6476702");
  EXPECT_EQ(openNote(tampered, {verifierOrDie(kSumDbVkey)}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(CheckpointTest, SpecExampleRoundTrips) {
  const std::string text =
      "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
  auto cp = parseCheckpoint(text);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(cp->size, 20852163u);
  EXPECT_EQ(*formatCheckpoint(*cp), text);
}

TEST(CheckpointTest, ExtensionsAndSignRoundTrip) {
  Checkpoint c{"warden.example/log", 0, crypto::sha256(""), {"ext one", "6086d1a9"}};
  auto text = formatCheckpoint(c);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, absl::StrFormat("warden.example/log\n0\n%s\next one\n6086d1a9\n",
                                   crypto::base64(crypto::sha256(""))));
  Signer s = freshSigner("warden.example/log");
  auto note = signNote(*text, {s});
  ASSERT_TRUE(note.ok()) << note.status();
  auto opened = openNote(*note, {verifierFor(s)});
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto parsed = parseCheckpoint(opened->text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->origin, c.origin);
  EXPECT_EQ(parsed->size, 0u);
  EXPECT_EQ(parsed->root_hash, c.root_hash);
  EXPECT_EQ(parsed->extensions, c.extensions);

  auto max = parseCheckpoint(
      absl::StrFormat("o\n18446744073709551615\n%s\n", crypto::base64(std::string(32, 'x'))));
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ(max->size, UINT64_MAX);
}

TEST(CheckpointTest, FormatRejectsInvalid) {
  const std::string root = crypto::sha256("x");
  EXPECT_FALSE(formatCheckpoint({"", 1, root, {}}).ok());
  EXPECT_FALSE(formatCheckpoint({"a\nb", 1, root, {}}).ok());
  EXPECT_FALSE(formatCheckpoint({"log", 1, "bananas", {}}).ok());
  EXPECT_FALSE(formatCheckpoint({"log", 1, root, {""}}).ok());
  EXPECT_FALSE(formatCheckpoint({"log", 1, root, {"a\nb"}}).ok());
  EXPECT_FALSE(formatCheckpoint({"log\r", 1, root, {}}).ok());
}

TEST(CheckpointTest, StrictParseFailures) {
  const std::string h = "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=";
  const std::vector<std::string> bad = {
      "",
      "Head\n9944\n",                            // too few lines
      "\n9944\n" + h + "\n",                     // empty origin
      "Log\n123\n" + h,                          // no final newline
      "Log\nbananas\n" + h + "\n",               // not a number
      "Log\n-34\n" + h + "\n",                   // negative
      "Log\n+34\n" + h + "\n",                   // sign
      "Log\n 34\n" + h + "\n",                   // space
      "Log\n\n" + h + "\n",                      // empty size
      "Log\n01\n" + h + "\n",                    // leading zero
      "Log\n00\n" + h + "\n",                    // leading zero
      "Log\n0x1\n" + h + "\n",                   // hex
      "Log\n18446744073709551616\n" + h + "\n",  // 2^64
      "Log\n3438945738945739845734895735\n" + h + "\n",
      "Log\n123\nYmFuYW5hcw==\n",                                  // 7 bytes (Go's test)
      "Log\n123\nThisIsn'tBase64\n",                               // not base64
      "Log\n123\n" + h.substr(0, h.size() - 1) + "\n",             // unpadded
      "Log\n123\nmb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wl=\n",  // non-canonical bits
      "Log\n123\n" + crypto::base64(std::string(33, 'a')) + "\n",  // 33 bytes
      "Log\n123\n" + crypto::base64(std::string(31, 'a')) + "\n",  // 31 bytes
      "Log\n123\n\n",                                              // empty root
      "Log\n9944\n" + h + "\n\n\n\n",                              // empty extension lines
      "Log\n9944\n" + h + "\next\n\n",                             // empty extension line
      "Log\r\n9944\n" + h + "\n",                                  // CR
      "Log\n9944\r\n" + h + "\n",                                  // CR
      "\xFF\n9944\n" + h + "\n",                                   // not UTF-8
  };
  for (const std::string& text : bad) {
    auto r = parseCheckpoint(text);
    EXPECT_FALSE(r.ok()) << text;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

}  // namespace
}  // namespace warden::note
