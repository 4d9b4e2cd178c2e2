// Signed notes and transparency-log checkpoints, byte-compatible with the Go
// golang.org/x/mod/sumdb/note and github.com/transparency-dev/formats/log packages, so standard
// transparency-log tooling verifies Warden's log checkpoints unchanged.
//
//   C2SP signed-note v1.0.0      https://c2sp.org/signed-note
//   C2SP tlog-checkpoint v1.0.0  https://c2sp.org/tlog-checkpoint
//
// Only the Ed25519 signature type (0x01) is supported.
//
// A signed note is the text (ending in a newline), a blank line, then signature lines
//   "— <key name> <base64(4-byte big-endian key ID || 64-byte Ed25519 signature)>\n"
// (U+2014 EM DASH, space). The signature is over the text bytes, final newline included.
//
// Verifier key: <name>+<key ID, 8 hex>+<base64(0x01 || 32-byte public key)>
// Signer key:   PRIVATE+KEY+<name>+<key ID, 8 hex>+<base64(0x01 || 32-byte seed)>
// Key ID:       first 4 bytes, big-endian, of SHA-256(name || 0x0A || 0x01 || public key)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/crypto/ed25519.h"

namespace warden::note {

// Signature type identifier byte for Ed25519 (signed-note §"Signature types").
inline constexpr std::uint8_t kAlgEd25519 = 0x01;
// openNote rejects notes with more signature lines than this, as the Go implementation does
// (the spec requires accepting at least 16).
inline constexpr std::size_t kMaxSignatures = 100;

// Key names (and so signer names) must be non-empty, valid UTF-8, and contain neither Unicode
// spaces nor '+' (signed-note §"Format").
bool isValidKeyName(std::string_view name);

// Signed notes must be valid UTF-8 with no ASCII control characters other than '\n'
// (signed-note §"Format").
bool isValidNoteText(std::string_view bytes);

// The key ID of an Ed25519 key: SHA-256(name || "\n" || 0x01 || public_key)[:4], big-endian.
std::uint32_t ed25519KeyId(std::string_view name, std::string_view public_key);

// A known Ed25519 verifier key.
struct Verifier {
  std::string name;
  std::uint32_t key_id = 0;
  std::string public_key;  // raw 32 bytes
};

// Parses "<name>+<hash>+<base64 key>" strictly: valid name, exactly 8 hex digits, canonical
// padded base64 of 0x01 || 32 bytes, and the hash must match the name and key.
absl::StatusOr<Verifier> parseVerifierKey(std::string_view vkey);
// The verifier key string for an Ed25519 public key (32 bytes). Same output as Go's
// note.NewEd25519VerifierKey and controller's noteVerifierKey().
absl::StatusOr<std::string> formatVerifierKey(std::string_view name, std::string_view public_key);
std::string formatVerifierKey(const Verifier& verifier);

// An Ed25519 note signer.
struct Signer {
  std::string name;
  std::uint32_t key_id = 0;
  crypto::Ed25519Key key;
};

// Builds a signer from a name and key (computes the key ID); fails on an invalid name.
absl::StatusOr<Signer> makeSigner(std::string_view name, const crypto::Ed25519Key& key);
// Parses "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>"; the hash must match the public key
// derived from the seed.
absl::StatusOr<Signer> parseSignerKey(std::string_view skey);
// "PRIVATE+KEY+..." for a 32-byte Ed25519 seed.
absl::StatusOr<std::string> formatSignerKey(std::string_view name, std::string_view seed32);

// Signs `text` and returns the whole signed note (text, blank line, one signature line per
// signer, in order). `text` must be non-empty, end in '\n' and be valid note text; it may
// contain blank lines (the signatures start after the last one). Signer names must be valid.
absl::StatusOr<std::string> signNote(std::string_view text, const std::vector<Signer>& signers);
absl::StatusOr<std::string> signNote(std::string_view text, std::string_view name,
                                     const crypto::Ed25519Key& key);

// One signature line of a note.
struct NoteSignature {
  std::string name;
  std::uint32_t key_id = 0;
  std::string base64;  // base64(key ID || signature), as it appeared in the note
};

struct OpenedNote {
  std::string text;                       // verified text, final newline included
  std::vector<NoteSignature> verified;    // from known keys; each key at most once
  std::vector<NoteSignature> unverified;  // from unknown keys; identical lines once
  std::vector<std::string> verifiedNames() const;
};

// Parses `note` and verifies its signatures against `verifiers` (matched by name AND key ID;
// signed-note §"Signatures").
//  - InvalidArgument "malformed note: ..." for syntax errors: invalid UTF-8 or control
//    characters, no blank line, no signatures, a line not of the signature form, bad base64,
//    signature shorter than 5 bytes, more than kMaxSignatures signature lines.
//  - FailedPrecondition when two verifiers share the name and key ID of a signature.
//  - Unauthenticated when a signature by a known key does not verify (the whole note is
//    rejected), or when no known key signed the note.
// Signatures by unknown keys are ignored (reported in `unverified`).
absl::StatusOr<OpenedNote> openNote(std::string_view note, const std::vector<Verifier>& verifiers);

// The body of a C2SP tlog-checkpoint.
struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  std::string root_hash;                // raw 32-byte RFC 6962 root hash
  std::vector<std::string> extensions;  // optional extension lines, each non-empty, no '\n'
};

// "<origin>\n<size>\n<base64 root>\n" then one line per extension.
absl::StatusOr<std::string> formatCheckpoint(const Checkpoint& checkpoint);
// Strict parse of checkpoint note text: non-empty origin, decimal size with no sign and no
// leading zeros (except "0") that fits in 64 bits, canonical base64 of exactly 32 bytes, each
// extension line non-empty, text ends in '\n'.
absl::StatusOr<Checkpoint> parseCheckpoint(std::string_view text);
// The checkpoint in a signed note (the text up to the last blank line), without checking any
// signature: for notes this process signed itself, or to order notes before verifying them.
absl::StatusOr<Checkpoint> parseSignedCheckpoint(std::string_view signed_note);

}  // namespace warden::note
