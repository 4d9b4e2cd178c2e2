#include "agent/actions/ssh_key_blob.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace warden {
namespace {

// How a key's fields are laid out (the deserialize_public of ssh-ed25519.c, ssh-ecdsa.c, ...).
enum class Format { kEd25519, kEd25519Sk, kMldsa44Ed25519, kEcdsa, kEcdsaSk, kRsa, kDsa };

// One name of sshkey.c's keyimpls. Two names are the same kind of key (sshkey_read() takes a
// line naming one with a blob naming the other) when format, cert and curve agree: the KEY_*
// type and, for ECDSA, the curve.
struct KeyName {
  std::string_view name;
  Format format;
  bool cert;
  int curve_bits;  // ECDSA: 256, 384, 521; 0 otherwise
};

constexpr KeyName kKeyNames[] = {
    {"ssh-ed25519", Format::kEd25519, false, 0},
    {"ssh-ed25519-cert-v01@openssh.com", Format::kEd25519, true, 0},
    {"sk-ssh-ed25519@openssh.com", Format::kEd25519Sk, false, 0},
    {"sk-ssh-ed25519-cert-v01@openssh.com", Format::kEd25519Sk, true, 0},
    // OpenSSH 10.4 and later.
    {"ssh-mldsa44-ed25519@openssh.com", Format::kMldsa44Ed25519, false, 0},
    {"ssh-mldsa44-ed25519-cert-v01@openssh.com", Format::kMldsa44Ed25519, true, 0},
    {"ecdsa-sha2-nistp256", Format::kEcdsa, false, 256},
    {"ecdsa-sha2-nistp256-cert-v01@openssh.com", Format::kEcdsa, true, 256},
    {"ecdsa-sha2-nistp384", Format::kEcdsa, false, 384},
    {"ecdsa-sha2-nistp384-cert-v01@openssh.com", Format::kEcdsa, true, 384},
    {"ecdsa-sha2-nistp521", Format::kEcdsa, false, 521},
    {"ecdsa-sha2-nistp521-cert-v01@openssh.com", Format::kEcdsa, true, 521},
    {"sk-ecdsa-sha2-nistp256@openssh.com", Format::kEcdsaSk, false, 256},
    {"sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", Format::kEcdsaSk, true, 256},
    {"webauthn-sk-ecdsa-sha2-nistp256@openssh.com", Format::kEcdsaSk, false, 256},
    // OpenSSH 10.3 and later.
    {"webauthn-sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", Format::kEcdsaSk, true, 256},
    {"ssh-rsa", Format::kRsa, false, 0},
    {"ssh-rsa-cert-v01@openssh.com", Format::kRsa, true, 0},
    {"rsa-sha2-256", Format::kRsa, false, 0},
    {"rsa-sha2-256-cert-v01@openssh.com", Format::kRsa, true, 0},
    {"rsa-sha2-512", Format::kRsa, false, 0},
    {"rsa-sha2-512-cert-v01@openssh.com", Format::kRsa, true, 0},
    // Up to OpenSSH 9.9 (a file may still hold one).
    {"ssh-dss", Format::kDsa, false, 0},
    {"ssh-dss-cert-v01@openssh.com", Format::kDsa, true, 0},
};

const KeyName* findKeyName(std::string_view name) {
  for (const KeyName& k : kKeyNames) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

bool sameKind(const KeyName& a, const KeyName& b) {
  return a.format == b.format && a.cert == b.cert && a.curve_bits == b.curve_bits;
}

// The name sshd writes for a plain key of this kind (the first keyimpls entry of its type).
std::string_view plainName(const KeyName& k) {
  switch (k.format) {
    case Format::kEd25519:
      return "ssh-ed25519";
    case Format::kEd25519Sk:
      return "sk-ssh-ed25519@openssh.com";
    case Format::kMldsa44Ed25519:
      return "ssh-mldsa44-ed25519@openssh.com";
    case Format::kEcdsa:
      return k.curve_bits == 256   ? "ecdsa-sha2-nistp256"
             : k.curve_bits == 384 ? "ecdsa-sha2-nistp384"
                                   : "ecdsa-sha2-nistp521";
    case Format::kEcdsaSk:
      return "sk-ecdsa-sha2-nistp256@openssh.com";
    case Format::kRsa:
      return "ssh-rsa";
    case Format::kDsa:
      return "ssh-dss";
  }
  return "";
}

constexpr std::size_t kEd25519KeyBytes = 32;           // ED25519_PK_SZ
constexpr std::size_t kMldsa44Ed25519KeyBytes = 1344;  // MLDSA44_ED25519_PK_SZ (1312 + 32)
constexpr std::size_t kMaxBignumBytes = 16384 / 8;     // SSHBUF_MAX_BIGNUM
constexpr std::size_t kMinRsaModulusBits = 1024;       // SSH_RSA_MINIMUM_MODULUS_SIZE
constexpr std::size_t kMaxCertPrincipals = 256;        // SSHKEY_CERT_MAX_PRINCIPALS
constexpr std::uint32_t kUserCert = 1, kHostCert = 2;  // SSH2_CERT_TYPE_USER, _HOST

absl::Status bad(const std::string& why) { return absl::InvalidArgumentError(why); }

// Reads the SSH wire format (RFC 4251 §5) as sshbuf-getput-basic.c does.
class WireReader {
 public:
  explicit WireReader(std::string_view in) : in_(in) {}
  bool empty() const { return in_.empty(); }

  std::optional<std::uint64_t> uint(int bytes) {
    if (in_.size() < static_cast<std::size_t>(bytes)) return std::nullopt;
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in_[i]);
    in_.remove_prefix(bytes);
    return v;
  }
  // uint32 length, then the bytes.
  std::optional<std::string_view> string() {
    std::string_view rest = in_;
    WireReader length(rest);
    const auto n = length.uint(4);
    if (!n || *n > rest.size() - 4) return std::nullopt;
    const std::string_view out = rest.substr(4, *n);
    in_.remove_prefix(4 + *n);
    return out;
  }
  // sshbuf_get_cstring(): a NUL only as the last byte, which is not part of the text.
  std::optional<std::string_view> cstring() {
    auto s = string();
    if (!s) return std::nullopt;
    const std::size_t nul = s->find('\0');
    if (nul != std::string_view::npos && nul + 1 != s->size()) return std::nullopt;
    return s->substr(0, nul);
  }
  // sshbuf_get_bignum2_bytes_direct(): non-negative (the first byte's high bit clear), at most
  // SSHBUF_MAX_BIGNUM bytes after one leading zero byte; leading zero bytes are dropped.
  std::optional<std::string_view> mpint() {
    auto s = string();
    if (!s) return std::nullopt;
    if (!s->empty() && (static_cast<unsigned char>(s->front()) & 0x80) != 0) return std::nullopt;
    if (s->size() > kMaxBignumBytes + 1 || (s->size() == kMaxBignumBytes + 1 && s->front() != 0)) {
      return std::nullopt;
    }
    const std::size_t first = std::min(s->find_first_not_of('\0'), s->size());
    return s->substr(first);
  }

 private:
  std::string_view in_;
};

// sshbuf_put_bignum2(): the magnitude, with a zero byte in front when its high bit is set.
void putMpint(std::string& out, std::string_view magnitude) {
  const bool high = !magnitude.empty() && (static_cast<unsigned char>(magnitude[0]) & 0x80) != 0;
  appendSshUint(out, magnitude.size() + (high ? 1 : 0), 4);
  if (high) out += '\0';
  out.append(magnitude);
}

std::size_t bitLength(std::string_view magnitude) {
  if (magnitude.empty()) return 0;
  std::size_t bits = (magnitude.size() - 1) * 8;
  for (unsigned top = static_cast<unsigned char>(magnitude[0]); top != 0; top >>= 1) ++bits;
  return bits;
}

struct GroupDeleter {
  void operator()(EC_GROUP* g) const { EC_GROUP_free(g); }
};
struct PointDeleter {
  void operator()(EC_POINT* p) const { EC_POINT_free(p); }
};

const EC_GROUP* curveGroup(int bits) {
  static const std::unique_ptr<EC_GROUP, GroupDeleter> p256(
      EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  static const std::unique_ptr<EC_GROUP, GroupDeleter> p384(
      EC_GROUP_new_by_curve_name(NID_secp384r1));
  static const std::unique_ptr<EC_GROUP, GroupDeleter> p521(
      EC_GROUP_new_by_curve_name(NID_secp521r1));
  return bits == 256 ? p256.get() : bits == 384 ? p384.get() : p521.get();
}

// sshbuf_get_eckey() and sshkey_ec_validate_public(): an uncompressed point (0x04 || X || Y,
// each coordinate the field's size) that EC_POINT_oct2point() takes — coordinates below the
// field prime, on the curve — and is not the point at infinity (the NIST curves' cofactor is
// 1, so there is no subgroup check).
bool validPoint(int bits, std::string_view point) {
  const std::size_t field_bytes = (static_cast<std::size_t>(bits) + 7) / 8;
  if (point.size() != 1 + 2 * field_bytes || point[0] != 0x04) return false;
  const EC_GROUP* group = curveGroup(bits);
  if (group == nullptr) return false;
  std::unique_ptr<EC_POINT, PointDeleter> p(EC_POINT_new(group));
  if (p == nullptr) return false;
  ERR_set_mark();  // a refused point leaves errors on OpenSSL's queue: not ours to report
  const bool ok =
      EC_POINT_oct2point(group, p.get(), reinterpret_cast<const unsigned char*>(point.data()),
                         point.size(), nullptr) == 1 &&
      EC_POINT_is_at_infinity(group, p.get()) == 0;
  ERR_pop_to_mark();
  return ok;
}

absl::StatusOr<SshPublicKey> parseBlob(std::string_view blob, const KeyName* line_kind,
                                       bool allow_cert);

// The key's own fields (after the type, and a certificate's nonce), appended to `plain` as
// sshd re-serialises them.
absl::Status readKeyFields(const KeyName& kind, WireReader& in, std::string& plain) {
  switch (kind.format) {
    case Format::kEd25519:
    case Format::kEd25519Sk:
    case Format::kMldsa44Ed25519: {
      const std::size_t size =
          kind.format == Format::kMldsa44Ed25519 ? kMldsa44Ed25519KeyBytes : kEd25519KeyBytes;
      const auto pk = in.string();
      if (!pk) return bad("the public key is cut short");
      if (pk->size() != size) return bad(absl::StrCat("the public key is not ", size, " bytes"));
      appendSshString(plain, *pk);
      break;
    }
    case Format::kEcdsa:
    case Format::kEcdsaSk: {
      const auto curve = in.cstring();
      if (!curve) return bad("the curve name is cut short or holds a NUL byte");
      if (*curve != absl::StrCat("nistp", kind.curve_bits)) {
        return bad("the curve name does not match the key type");
      }
      const auto point = in.string();
      if (!point) return bad("the public point is cut short");
      if (!validPoint(kind.curve_bits, *point)) {
        return bad("the public point is not an uncompressed point on the curve");
      }
      appendSshString(plain, *curve);
      appendSshString(plain, *point);
      break;
    }
    case Format::kRsa:
    case Format::kDsa: {
      const int count = kind.format == Format::kRsa ? 2 : 4;  // e, n; p, q, g, y
      std::string_view last;
      for (int i = 0; i < count; ++i) {
        const auto n = in.mpint();
        if (!n) return bad("a number is cut short, negative or over 16384 bits");
        putMpint(plain, *n);
        last = *n;
      }
      // sshkey_check_rsa_length(), called by ssh_rsa_deserialize_public().
      if (kind.format == Format::kRsa && bitLength(last) < kMinRsaModulusBits) {
        return bad("the RSA modulus is under 1024 bits");
      }
      break;
    }
  }
  if (kind.format == Format::kEd25519Sk || kind.format == Format::kEcdsaSk) {
    const auto application = in.cstring();  // sshkey_deserialize_sk()
    if (!application) return bad("the security key application is cut short or holds a NUL");
    appendSshString(plain, *application);
  }
  return absl::OkStatus();
}

// A sequence of (name, data) string pairs: critical options and extensions.
bool stringPairs(std::string_view bytes) {
  WireReader in(bytes);
  while (!in.empty()) {
    if (!in.string() || !in.string()) return false;
  }
  return true;
}

// cert_parse(): everything after the certified key.
absl::Status readCertificate(WireReader& in) {
  const auto serial = in.uint(8);
  const auto type = in.uint(4);
  const auto key_id = in.cstring();
  const auto principals = in.string();
  const auto valid_after = in.uint(8);
  const auto valid_before = in.uint(8);
  const auto critical = in.string();
  const auto extensions = in.string();
  const auto reserved = in.string();
  const auto ca = in.string();
  const auto signature = in.string();
  if (!serial || !type || !key_id || !principals || !valid_after || !valid_before || !critical ||
      !extensions || !reserved || !ca || !signature) {
    return bad("the certificate is cut short or its key ID holds a NUL byte");
  }
  if (*type != kUserCert && *type != kHostCert) return bad("unknown certificate type");
  WireReader names(*principals);
  for (std::size_t n = 0; !names.empty(); ++n) {
    if (n == kMaxCertPrincipals || !names.cstring()) {
      return bad("the certificate's principals are malformed or more than 256");
    }
  }
  if (!stringPairs(*critical) || !stringPairs(*extensions)) {
    return bad("the certificate's options or extensions are malformed");
  }
  if (auto key = parseBlob(*ca, nullptr, false); !key.ok()) {
    return bad("the certificate's CA key: " + std::string(key.status().message()));
  }
  return absl::OkStatus();
}

// sshkey_from_blob_internal(); with `line_kind`, also sshkey_read()'s check that the blob is
// the kind of key the line names.
absl::StatusOr<SshPublicKey> parseBlob(std::string_view blob, const KeyName* line_kind,
                                       bool allow_cert) {
  WireReader in(blob);
  const auto type = in.cstring();
  if (!type) return bad("no key type in the key data");
  const KeyName* kind = findKeyName(*type);
  if (kind == nullptr) return bad("the key data names no known key type");
  if (kind->cert && !allow_cert) return bad("a certificate cannot be a CA key");
  if (line_kind != nullptr && !sameKind(*line_kind, *kind)) {
    return bad("the key data is a " + std::string(kind->name) + " key");
  }
  SshPublicKey key;
  key.certificate = kind->cert;
  appendSshString(key.plain_blob, plainName(*kind));
  if (kind->cert && !in.string()) return bad("the certificate has no nonce");
  if (auto status = readKeyFields(*kind, in, key.plain_blob); !status.ok()) return status;
  if (kind->cert) {
    if (auto status = readCertificate(in); !status.ok()) return status;
  }
  if (!in.empty()) return bad("bytes follow the key");
  return key;
}

}  // namespace

bool knownSshKeyType(std::string_view type) { return findKeyName(type) != nullptr; }

absl::StatusOr<SshPublicKey> parseSshKeyBlob(std::string_view line_type, std::string_view blob) {
  const KeyName* line_kind = findKeyName(line_type);
  if (line_kind == nullptr) return bad("unknown key type");
  return parseBlob(blob, line_kind, true);
}

void appendSshUint(std::string& out, std::uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out += static_cast<char>((v >> shift) & 0xff);
  }
}

void appendSshString(std::string& out, std::string_view bytes) {
  appendSshUint(out, bytes.size(), 4);
  out.append(bytes);
}

}  // namespace warden
