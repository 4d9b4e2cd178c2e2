// Warden's private X.509 CA (ECDSA P-256): it gives the controller, agents and operators their
// mutual-TLS identities. Keys, the self-signed CA, CSRs, issuing leaf certificates, and reading
// back what a certificate says (fingerprint, common name, issuer, PEM bundles).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::crypto {

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
// subject is ignored and replaced by `common_name`. A certificate never outlives the CA that
// issued it: its notAfter is capped at the CA's.
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

// The subject common name a CSR asks for (the CA ignores it, but a renewal checks it names the
// identity the request comes from).
absl::StatusOr<std::string> csrCommonName(std::string_view csr_pem);
// OK when the private key in `key_pem` is the one `cert_pem` certifies.
absl::Status certMatchesKey(std::string_view cert_pem, std::string_view key_pem);

// When a certificate is valid (X.509 times have one-second granularity).
struct CertValidity {
  absl::Time not_before;
  absl::Time not_after;
};
absl::StatusOr<CertValidity> certValidity(std::string_view cert_pem);

// SHA-256 over the DER encoding, lower-case hex (the value a join token pins).
absl::StatusOr<std::string> certFingerprint(std::string_view cert_pem);
absl::StatusOr<std::string> certCommonName(std::string_view cert_pem);
// OK when `cert_pem` was signed by the CA in `ca_pem` and is within its validity period.
absl::Status verifyCertIssuedBy(std::string_view cert_pem, std::string_view ca_pem);
// Splits a PEM bundle into its certificates (each re-encoded as PEM).
absl::StatusOr<std::vector<std::string>> splitPemCertificates(std::string_view bundle);

}  // namespace warden::crypto
