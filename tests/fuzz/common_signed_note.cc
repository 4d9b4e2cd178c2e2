// openNote: signed notes (checkpoints) from an export, a dispatch proof or an auditor's file.
// A note opened under a key is text the input starts with, and a signature by that key on any
// valid note text opens to exactly that text; a note whose text changed never opens.
#include "absl/strings/match.h"
#include "common/note.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

struct Keys {
  warden::note::Signer signer;
  warden::note::Verifier verifier;
};

const Keys& keys() {
  static const Keys k = [] {
    auto key = warden::crypto::Ed25519Key::generate();
    FUZZ_CHECK(key.ok());
    auto signer = warden::note::makeSigner("fuzz.example/log", *key);
    FUZZ_CHECK(signer.ok());
    auto vkey = warden::note::formatVerifierKey(signer->name, key->publicKey());
    FUZZ_CHECK(vkey.ok());
    auto verifier = warden::note::parseVerifierKey(*vkey);
    FUZZ_CHECK(verifier.ok() && verifier->key_id == signer->key_id);
    return Keys{*signer, *verifier};
  }();
  return k;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view text = fuzz::asText(data, size);
  const Keys& k = keys();
  if (auto opened = note::openNote(text, {k.verifier}); opened.ok()) {
    FUZZ_CHECK(text.substr(0, opened->text.size()) == opened->text);
    FUZZ_CHECK(opened->verified.size() == 1);
  }
  // Any verifier key text: what parses prints back the same, but for the case of the key
  // hash's hex digits (accepted either way, as Go's note package does; printed lower case).
  if (auto v = note::parseVerifierKey(text); v.ok()) {
    const std::string canonical = note::formatVerifierKey(*v);
    FUZZ_CHECK(absl::EqualsIgnoreCase(canonical, absl::string_view(text.data(), text.size())));
    FUZZ_CHECK(canonical.substr(canonical.rfind('+')) == text.substr(text.rfind('+')));
    auto again = note::parseVerifierKey(canonical);
    FUZZ_CHECK(again.ok() && again->name == v->name && again->key_id == v->key_id &&
               again->public_key == v->public_key);
  }
  if (text.empty() || text.back() != '\n' || !note::isValidNoteText(text)) return 0;
  auto signed_note = note::signNote(text, {k.signer});
  FUZZ_CHECK(signed_note.ok());
  auto opened = note::openNote(*signed_note, {k.verifier});
  FUZZ_CHECK(opened.ok() && opened->text == text && opened->verified.size() == 1);
  // The same signature under a text one byte longer does not verify.
  const std::string longer = std::string(text) + "x\n" + signed_note->substr(text.size());
  FUZZ_CHECK(!note::openNote(longer, {k.verifier}).ok());
  return 0;
}
