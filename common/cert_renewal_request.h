// The asking side of a certificate renewal, shared by the agent and the `warden` CLI: a fresh
// TLS key (rotated at every renewal), its CSR naming the identity, and the renewal record
// (common/audit/cert_renewal.h) signed with the identity's long-term Ed25519 key over the
// controller's challenge.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/ed25519.h"

namespace warden {

struct RenewalRequestParts {
  std::string key_pem;    // the new TLS key (ECDSA P-256, PKCS#8): stays with the caller
  std::string csr_pem;    // CN = subject
  std::string renewal;    // canonical CertRenewal
  std::string signature;  // Ed25519 over `renewal`
};

// `subject`: "agent:HOST" or "operator:NAME"; `proof`: renewal_proof::kCertificate or
// kEnrolledKey; `challenge`: as the controller handed it out.
absl::StatusOr<RenewalRequestParts> makeRenewalRequest(const std::string& subject,
                                                       const std::string& proof,
                                                       const std::string& challenge,
                                                       const crypto::Ed25519Key& signing_key);

}  // namespace warden
