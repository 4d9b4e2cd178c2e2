// Cryptography for Warden, all through OpenSSL 3 (EVP): SHA-256, randomness, Ed25519
// signatures (commands, receipts, log checkpoints), and the private X.509 CA that gives
// controller, agents and operators their mutual-TLS identities (ECDSA P-256).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace warden::crypto {

// Raw 32-byte SHA-256 digest.
std::string sha256(std::string_view data);
// SHA-256 over data that arrives in pieces (a disk image, chunk by chunk).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&& other) noexcept;
  Sha256& operator=(Sha256&& other) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  // The raw 32-byte digest of everything so far; the hasher starts over afterwards.
  std::string finish();
  // The digest of everything so far, without disturbing the hasher.
  std::string digestSoFar() const;

 private:
  EVP_MD_CTX* ctx_;
};

// Lower-case hex.
std::string hex(std::string_view bytes);
absl::StatusOr<std::string> unhex(std::string_view text);
// Standard base64 with padding (RFC 4648 §4), and the URL-safe alphabet without padding (§5).
std::string base64(std::string_view bytes);
absl::StatusOr<std::string> unbase64(std::string_view text);
std::string base64url(std::string_view bytes);
absl::StatusOr<std::string> unbase64url(std::string_view text);
// Cryptographically secure random bytes (RAND_bytes).
absl::StatusOr<std::string> randomBytes(std::size_t n);
// Constant-time comparison.
bool equalConstantTime(std::string_view a, std::string_view b);

// An Ed25519 private key.
class Ed25519Key {
 public:
  static absl::StatusOr<Ed25519Key> generate();
  // PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----").
  static absl::StatusOr<Ed25519Key> fromPem(std::string_view pem);
  // The 32-byte RFC 8032 secret (seed); lets tests check the published test vectors.
  static absl::StatusOr<Ed25519Key> fromRawPrivate(std::string_view seed32);
  std::string toPem() const;
  // Raw 32-byte public key.
  std::string publicKey() const;
  // Raw 64-byte signature (RFC 8032).
  absl::StatusOr<std::string> sign(std::string_view message) const;

 private:
  explicit Ed25519Key(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// OK when `signature` is a valid Ed25519 signature of `message` under the raw 32-byte key.
absl::Status ed25519Verify(std::string_view public_key, std::string_view message,
                           std::string_view signature);

// A fresh ECDSA P-256 private key, PKCS#8 PEM.
absl::StatusOr<std::string> generateEcKeyPem();

struct CertificateAuthority {
  std::string cert_pem;
  std::string key_pem;
};

// A self-signed CA certificate (basicConstraints CA:TRUE, keyCertSign) with a new P-256 key.
absl::StatusOr<CertificateAuthority> createCa(std::string_view common_name,
                                              absl::Duration validity);

// What the CA writes into a certificate it issues. The CA decides the identity: the CSR's
// subject is ignored and replaced by `common_name`.
struct CertProfile {
  std::string common_name;
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  bool server = false;  // extendedKeyUsage serverAuth
  bool client = false;  // extendedKeyUsage clientAuth
  absl::Duration validity = absl::Hours(24 * 365);
};

// PKCS#10 request for the key in `key_pem`, subject CN=common_name.
absl::StatusOr<std::string> createCsr(std::string_view key_pem, std::string_view common_name);
// Verifies the CSR's own signature, then issues a certificate for its public key.
absl::StatusOr<std::string> signCsr(const CertificateAuthority& ca, std::string_view csr_pem,
                                    const CertProfile& profile);
// Issues a certificate for the key in `key_pem` directly (controller's own server
// certificate, operator certificates).
absl::StatusOr<std::string> issueCertificate(const CertificateAuthority& ca,
                                             std::string_view key_pem, const CertProfile& profile);

// SHA-256 over the DER encoding, lower-case hex (the value a join token pins).
absl::StatusOr<std::string> certFingerprint(std::string_view cert_pem);
absl::StatusOr<std::string> certCommonName(std::string_view cert_pem);
// OK when `cert_pem` was signed by the CA in `ca_pem` and is within its validity period.
absl::Status verifyCertIssuedBy(std::string_view cert_pem, std::string_view ca_pem);
// Splits a PEM bundle into its certificates (each re-encoded as PEM).
absl::StatusOr<std::vector<std::string>> splitPemCertificates(std::string_view bundle);

// Connects to host:port with TLS 1.3 *without* verifying the peer and returns the
// certificate chain the server presented (leaf first), PEM. Used once, at enrollment, to
// fetch the CA certificate whose fingerprint the join token pins; the caller must check that
// fingerprint before trusting anything.
absl::StatusOr<std::vector<std::string>> fetchPeerChain(std::string_view host, std::uint16_t port,
                                                        absl::Duration timeout);

// ---- Sealed boxes to a one-time X25519 key --------------------------------------------------
// The root password that --rotate-root sets reaches only the CLI process that asked: it sends
// a fresh X25519 public key, the agent seals the password to it, and the controller relays
// ciphertext it cannot open.

struct X25519KeyPair {
  std::string private_key;  // raw 32 bytes (RFC 7748)
  std::string public_key;   // raw 32 bytes
};

absl::StatusOr<X25519KeyPair> generateX25519();
// Ephemeral X25519 with the recipient, HKDF-SHA256 (RFC 5869; salt = eph_pub || recipient_pub,
// info "warden seal v1") to a 32-byte key, AES-256-GCM with a random 12-byte nonce.
// Output: eph_pub(32) || nonce(12) || ciphertext || tag(16).
absl::StatusOr<std::string> sealToX25519(std::string_view recipient_public,
                                         std::string_view plaintext);
// Opens what sealToX25519() made for the public half of `recipient_private`. Any change to the
// sealed bytes, or the wrong key, fails (the GCM tag does not verify).
absl::StatusOr<std::string> openSealed(std::string_view recipient_private, std::string_view sealed);

}  // namespace warden::crypto
