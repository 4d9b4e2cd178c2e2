// Published signed notes and keys for the common/note.h tests, and the signers and verifiers
// made from them. The known-answer vectors come from:
//  - golang.org/x/mod/sumdb/note (note.go package doc, note_test.go TestNewVerifier, TestSign,
//    TestOpen): the PeterNeumann and EnochRoot keys and signatures, and the malformed notes.
//  - github.com/transparency-dev/formats log/note_test.go TestSumDBNoteParsing: a real
//    sum.golang.org checkpoint and the sum.golang.org verifier key.
//  - c2sp.org/tlog-checkpoint and c2sp.org/signed-note: the example checkpoint and note.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "common/crypto/ed25519.h"
#include "common/note.h"

namespace warden::testing {

inline constexpr std::string_view kPeterVkey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
inline constexpr std::string_view kPeterSkey =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
inline constexpr std::string_view kEnochVkey =
    "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
inline constexpr std::string_view kText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
// "— " is U+2014 EM DASH (3 bytes in UTF-8) and a space.
inline constexpr std::string_view kPeterSig =
    "\xE2\x80\x94 PeterNeumann "
    "x08go/ZJkuBS9UG/"
    "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
inline constexpr std::string_view kEnochSig =
    "\xE2\x80\x94 EnochRoot "
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/"
    "5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";
inline constexpr std::string_view kPeterB64 =
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=";
inline constexpr std::string_view kEnochB64 =
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=";

inline constexpr std::string_view kSumDbVkey =
    "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8";
inline constexpr std::string_view kSumDbCheckpoint =
    "go.sum database tree\n"
    "6476701\n"
    "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=\n";
inline constexpr std::string_view kSumDbSig =
    "\xE2\x80\x94 sum.golang.org "
    "Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw="
    "\n";

inline std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

inline std::string peterNote() { return cat({kText, "\n", kPeterSig}); }

inline note::Verifier verifierOrDie(std::string_view vkey) {
  auto v = note::parseVerifierKey(vkey);
  EXPECT_TRUE(v.ok()) << vkey << ": " << v.status();
  return v.ok() ? *v : note::Verifier{};
}

inline note::Signer peterSigner() {
  auto s = note::parseSignerKey(kPeterSkey);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

inline note::Signer freshSigner(std::string_view name) {
  auto key = crypto::Ed25519Key::generate();
  EXPECT_TRUE(key.ok()) << key.status();
  auto s = note::makeSigner(name, *key);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

inline note::Verifier verifierFor(const note::Signer& s) {
  return note::Verifier{s.name, s.key_id, s.key.publicKey()};
}

}  // namespace warden::testing
