// C2SP signed-note and tlog-checkpoint (see note.h). Behaviour follows the spec text and the Go
// reference implementation golang.org/x/mod/sumdb/note, with two deliberate differences, both
// stricter: base64 must be canonical (crypto::unbase64), and every signature line from a known
// key is verified, not only the first per key (signed-note §"Signatures": "If the key name and
// ID match a known key, verifiers MUST verify the signature").
#include "common/note.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/status.h"

namespace warden::note {
namespace {

constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, U+0020 SPACE
constexpr std::string_view kPrivateKeyPrefix = "PRIVATE+KEY+";

// Decodes one UTF-8 sequence at text[i]; returns the code point and sets `size`, or returns -1
// (size 1) for invalid UTF-8: bad lead/continuation bytes, truncation, overlong forms,
// surrogates and code points above U+10FFFF (as Go's utf8.DecodeRune reports RuneError).
std::int32_t decodeRune(std::string_view text, std::size_t i, std::size_t& size) {
  const auto byte = [&](std::size_t k) { return static_cast<std::uint8_t>(text[i + k]); };
  const std::uint8_t b0 = byte(0);
  size = 1;
  if (b0 < 0x80) return b0;
  std::size_t n;
  std::int32_t cp;
  std::int32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (i + n > text.size()) return -1;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(k) & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (byte(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  size = n;
  return cp;
}

// Go's unicode.IsSpace: the Latin-1 spaces plus the Unicode White_Space property.
bool isUnicodeSpace(std::int32_t cp) {
  switch (cp) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

absl::Status malformed(std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat("malformed note: %s", why));
}

std::string keyIdHex(std::uint32_t id) { return absl::StrFormat("%08x", id); }

std::uint32_t bigEndian32(std::string_view b) {
  return (static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[0])) << 24) |
         (static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[1])) << 16) |
         (static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[2])) << 8) |
         static_cast<std::uint32_t>(static_cast<std::uint8_t>(b[3]));
}

std::string bigEndianBytes(std::uint32_t v) {
  std::string out(4, '\0');
  for (int k = 0; k < 4; ++k) out[k] = static_cast<char>((v >> (24 - 8 * k)) & 0xFF);
  return out;
}

// Exactly 8 hex digits (either case, as Go's strconv.ParseUint(s, 16, 32) accepts).
bool parseKeyId(std::string_view hex, std::uint32_t& out) {
  if (hex.size() != 8) return false;
  std::uint32_t v = 0;
  for (char c : hex) {
    std::uint32_t d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  out = v;
  return true;
}

// Splits at the first `sep`: Go's chop().
std::pair<std::string_view, std::string_view> chop(std::string_view s, char sep) {
  const std::size_t i = s.find(sep);
  if (i == std::string_view::npos) return {s, std::string_view()};
  return {s.substr(0, i), s.substr(i + 1)};
}

struct KeyFields {
  std::string_view name;
  std::uint32_t key_id = 0;
  std::string key;  // decoded: algorithm byte || key material
};

// "<name>+<hash>+<base64>" common to verifier and signer keys.
absl::StatusOr<KeyFields> parseKeyFields(std::string_view text, std::string_view what) {
  auto [name, rest] = chop(text, '+');
  auto [hash_hex, key64] = chop(rest, '+');
  KeyFields f;
  f.name = name;
  auto key = crypto::unbase64(key64);
  if (!isValidKeyName(name) || !parseKeyId(hash_hex, f.key_id) || !key.ok() || key->empty()) {
    return absl::InvalidArgumentError(absl::StrFormat("malformed %s key", what));
  }
  f.key = std::move(*key);
  if (static_cast<std::uint8_t>(f.key[0]) != kAlgEd25519) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unknown %s key algorithm 0x%02x (only Ed25519, 0x01, is supported)", what,
                        static_cast<std::uint8_t>(f.key[0])));
  }
  if (f.key.size() != 33) {
    return absl::InvalidArgumentError(
        absl::StrFormat("malformed %s key: Ed25519 key must be 32 bytes", what));
  }
  return f;
}

}  // namespace

bool isValidKeyName(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size();) {
    std::size_t size;
    const std::int32_t cp = decodeRune(name, i, size);
    if (cp < 0 || cp == '+' || isUnicodeSpace(cp)) return false;
    i += size;
  }
  return true;
}

bool isValidNoteText(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t size;
    const std::int32_t cp = decodeRune(bytes, i, size);
    if (cp < 0 || (cp < 0x20 && cp != '\n')) return false;
    i += size;
  }
  return true;
}

std::uint32_t ed25519KeyId(std::string_view name, std::string_view public_key) {
  std::string data(name);
  data += '\n';
  data += static_cast<char>(kAlgEd25519);
  data.append(public_key);
  return bigEndian32(crypto::sha256(data));
}

absl::StatusOr<Verifier> parseVerifierKey(std::string_view vkey) {
  WARDEN_ASSIGN_OR_RETURN(KeyFields f, parseKeyFields(vkey, "verifier"));
  Verifier v{std::string(f.name), f.key_id, f.key.substr(1)};
  if (ed25519KeyId(v.name, v.public_key) != f.key_id) {
    return absl::InvalidArgumentError("invalid verifier key: key ID does not match name and key");
  }
  return v;
}

absl::StatusOr<std::string> formatVerifierKey(std::string_view name, std::string_view public_key) {
  if (!isValidKeyName(name)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid key name %s: must be non-empty with no spaces or '+'", name));
  }
  if (public_key.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Ed25519 public key must be 32 bytes, got %d", public_key.size()));
  }
  return formatVerifierKey(
      Verifier{std::string(name), ed25519KeyId(name, public_key), std::string(public_key)});
}

std::string formatVerifierKey(const Verifier& v) {
  std::string key(1, static_cast<char>(kAlgEd25519));
  key += v.public_key;
  return absl::StrFormat("%s+%s+%s", v.name, keyIdHex(v.key_id), crypto::base64(key));
}

absl::StatusOr<Signer> makeSigner(std::string_view name, const crypto::Ed25519Key& key) {
  if (!isValidKeyName(name)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid signer name %s: must be non-empty with no spaces or '+'", name));
  }
  return Signer{std::string(name), ed25519KeyId(name, key.publicKey()), key};
}

absl::StatusOr<Signer> parseSignerKey(std::string_view skey) {
  if (skey.substr(0, kPrivateKeyPrefix.size()) != kPrivateKeyPrefix) {
    return absl::InvalidArgumentError("malformed signer key: missing PRIVATE+KEY+ prefix");
  }
  WARDEN_ASSIGN_OR_RETURN(KeyFields f,
                          parseKeyFields(skey.substr(kPrivateKeyPrefix.size()), "signer"));
  WARDEN_ASSIGN_OR_RETURN(crypto::Ed25519Key key,
                          crypto::Ed25519Key::fromRawPrivate(f.key.substr(1)));
  // The hash is over the public key, so it can only be checked after deriving it.
  if (ed25519KeyId(f.name, key.publicKey()) != f.key_id) {
    return absl::InvalidArgumentError("invalid signer key: key ID does not match name and key");
  }
  return Signer{std::string(f.name), f.key_id, std::move(key)};
}

absl::StatusOr<std::string> formatSignerKey(std::string_view name, std::string_view seed32) {
  WARDEN_ASSIGN_OR_RETURN(crypto::Ed25519Key key, crypto::Ed25519Key::fromRawPrivate(seed32));
  WARDEN_ASSIGN_OR_RETURN(Signer signer, makeSigner(name, key));
  std::string raw(1, static_cast<char>(kAlgEd25519));
  raw.append(seed32);
  return absl::StrFormat("%s%s+%s+%s", kPrivateKeyPrefix, signer.name, keyIdHex(signer.key_id),
                         crypto::base64(raw));
}

absl::StatusOr<std::string> signNote(std::string_view text, const std::vector<Signer>& signers) {
  // signed-note §"Format": the text ends in a newline; the whole note must be valid UTF-8 with
  // no control characters but '\n'. The text may hold blank lines: openNote splits at the last.
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("note text must be non-empty and end in a newline");
  }
  if (!isValidNoteText(text)) {
    return absl::InvalidArgumentError(
        "note text must be valid UTF-8 with no control characters other than newline");
  }
  if (signers.empty()) return absl::InvalidArgumentError("a note needs at least one signer");
  if (signers.size() > kMaxSignatures) {
    return absl::InvalidArgumentError(
        absl::StrFormat("too many signers (%d > %d)", signers.size(), kMaxSignatures));
  }
  std::string out(text);
  out += '\n';
  for (const Signer& s : signers) {
    if (!isValidKeyName(s.name)) {
      return absl::InvalidArgumentError(absl::StrFormat("invalid signer name %s", s.name));
    }
    WARDEN_ASSIGN_OR_RETURN(std::string sig, s.key.sign(text));
    absl::StrAppendFormat(&out, "%s%s %s\n", kSigPrefix, s.name,
                          crypto::base64(bigEndianBytes(s.key_id) + sig));
  }
  return out;
}

absl::StatusOr<std::string> signNote(std::string_view text, std::string_view name,
                                     const crypto::Ed25519Key& key) {
  WARDEN_ASSIGN_OR_RETURN(Signer signer, makeSigner(name, key));
  return signNote(text, std::vector<Signer>{std::move(signer)});
}

std::vector<std::string> OpenedNote::verifiedNames() const {
  std::vector<std::string> names;
  names.reserve(verified.size());
  for (const NoteSignature& s : verified) names.push_back(s.name);
  return names;
}

absl::StatusOr<OpenedNote> openNote(std::string_view note, const std::vector<Verifier>& verifiers) {
  if (!isValidNoteText(note)) {
    return malformed("not valid UTF-8, or holds control characters other than newline");
  }
  // The text is separated from the signatures by the last empty line (signed-note §"Format").
  const std::size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return malformed("no blank line before signatures");
  const std::string_view text = note.substr(0, split + 1);
  std::string_view sigs = note.substr(split + 2);
  if (sigs.empty()) return malformed("no signatures");
  if (sigs.back() != '\n') return malformed("signature block does not end in a newline");

  // Parse every line first, so a malformed note is reported as such whatever the keys.
  std::vector<std::pair<NoteSignature, std::string>> lines;  // (signature, raw signature bytes)
  while (!sigs.empty()) {
    const std::size_t nl = sigs.find('\n');  // found: sigs ends in '\n'
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (lines.size() == kMaxSignatures) {
      return malformed(absl::StrFormat("more than %d signatures", kMaxSignatures));
    }
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix) {
      return malformed("signature line does not start with \"\xE2\x80\x94 \"");
    }
    line.remove_prefix(kSigPrefix.size());
    auto [name, b64] = chop(line, ' ');
    auto raw = crypto::unbase64(b64);
    if (!isValidKeyName(name) || b64.empty() || !raw.ok() || raw->size() < 5) {
      return malformed("bad signature line");
    }
    lines.push_back(
        {NoteSignature{std::string(name), bigEndian32(*raw), std::string(b64)}, raw->substr(4)});
  }

  OpenedNote out;
  out.text = std::string(text);
  std::set<std::pair<std::string, std::uint32_t>> seen_verified;
  std::set<std::string> seen_unverified;
  for (auto& [sig, raw] : lines) {
    const Verifier* match = nullptr;
    for (const Verifier& v : verifiers) {
      if (v.name != sig.name || v.key_id != sig.key_id) continue;
      if (match != nullptr) {
        return absl::FailedPreconditionError(
            absl::StrFormat("ambiguous key %s+%s", sig.name, keyIdHex(sig.key_id)));
      }
      match = &v;
    }
    if (match == nullptr) {
      // Unknown keys are ignored (even if name or ID, but not both, match a known key).
      if (seen_unverified.insert(absl::StrFormat("%s %s", sig.name, sig.base64)).second) {
        out.unverified.push_back(std::move(sig));
      }
      continue;
    }
    if (!crypto::ed25519Verify(match->public_key, text, raw).ok()) {
      return absl::UnauthenticatedError(
          absl::StrFormat("invalid signature for key %s+%s", sig.name, keyIdHex(sig.key_id)));
    }
    if (seen_verified.insert({sig.name, sig.key_id}).second) {
      out.verified.push_back(std::move(sig));
    }
  }
  if (out.verified.empty()) {
    return absl::UnauthenticatedError("note has no verifiable signatures");
  }
  return out;
}

absl::StatusOr<std::string> formatCheckpoint(const Checkpoint& c) {
  // tlog-checkpoint §"Note text".
  if (c.origin.empty() || c.origin.find('\n') != std::string::npos) {
    return absl::InvalidArgumentError("checkpoint origin must be a non-empty single line");
  }
  if (c.root_hash.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrFormat("checkpoint root hash must be 32 bytes, got %d", c.root_hash.size()));
  }
  std::string out = absl::StrFormat("%s\n%d\n%s\n", c.origin, c.size, crypto::base64(c.root_hash));
  for (const std::string& ext : c.extensions) {
    if (ext.empty() || ext.find('\n') != std::string::npos) {
      return absl::InvalidArgumentError(
          "checkpoint extension lines must be non-empty single lines");
    }
    out += ext;
    out += '\n';
  }
  if (!isValidNoteText(out)) {
    return absl::InvalidArgumentError(
        "checkpoint must be valid UTF-8 with no control characters other than newline");
  }
  return out;
}

absl::StatusOr<Checkpoint> parseCheckpoint(std::string_view text) {
  auto bad = [](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid checkpoint: %s", why));
  };
  if (text.empty() || text.back() != '\n') return bad("does not end in a newline");
  if (!isValidNoteText(text)) return bad("not valid UTF-8, or holds control characters");
  std::vector<std::string_view> lines;
  for (std::string_view rest = text.substr(0, text.size() - 1);;) {
    const std::size_t nl = rest.find('\n');
    lines.push_back(rest.substr(0, nl));
    if (nl == std::string_view::npos) break;
    rest.remove_prefix(nl + 1);
  }
  if (lines.size() < 3) return bad("fewer than three lines");
  Checkpoint c;
  if (lines[0].empty()) return bad("empty origin");
  c.origin = std::string(lines[0]);

  const std::string_view size = lines[1];
  if (size.empty() || (size.size() > 1 && size[0] == '0')) {
    return bad("tree size must be decimal with no leading zeros");
  }
  for (char ch : size) {
    if (ch < '0' || ch > '9') return bad("tree size must be decimal with no leading zeros");
    const std::uint64_t digit = static_cast<std::uint64_t>(ch - '0');
    if (c.size > (UINT64_MAX - digit) / 10) return bad("tree size overflows 64 bits");
    c.size = c.size * 10 + digit;
  }

  auto root = crypto::unbase64(lines[2]);
  if (!root.ok()) return bad("root hash is not canonical base64");
  if (root->size() != 32) return bad("root hash is not 32 bytes");
  c.root_hash = std::move(*root);

  for (std::size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) return bad("empty extension line");
    c.extensions.emplace_back(lines[i]);
  }
  return c;
}

absl::StatusOr<Checkpoint> parseSignedCheckpoint(std::string_view signed_note) {
  const auto blank = signed_note.rfind("\n\n");
  if (blank == std::string_view::npos) {
    return absl::InvalidArgumentError("malformed note: no blank line before the signatures");
  }
  return parseCheckpoint(signed_note.substr(0, blank + 1));
}

}  // namespace warden::note
