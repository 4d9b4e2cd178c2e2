#include "common/cert_renewal_request.h"

#include "common/audit/cert_renewal.h"
#include "common/command.h"
#include "common/crypto/hash.h"
#include "common/crypto/x509.h"
#include "common/status.h"

namespace warden {

absl::StatusOr<RenewalRequestParts> makeRenewalRequest(const std::string& subject,
                                                       const std::string& proof,
                                                       const std::string& challenge,
                                                       const crypto::Ed25519Key& signing_key) {
  RenewalRequestParts out;
  // A new key at every renewal (cert-manager's rotationPolicy: Always): a key that leaked
  // stops working when the certificate it belongs to is replaced.
  WARDEN_ASSIGN_OR_RETURN(out.key_pem, crypto::generateEcKeyPem());
  WARDEN_ASSIGN_OR_RETURN(out.csr_pem, crypto::createCsr(out.key_pem, subject));
  CertRenewal r;
  r.subject = subject;
  r.proof = proof;
  r.challenge = challenge;
  r.csr_sha256 = crypto::sha256(out.csr_pem);
  r.issued_unix_ms = nowUnixMs();
  WARDEN_RETURN_IF_ERROR(checkCertRenewalShape(r));
  out.renewal = encodeCertRenewal(r);
  WARDEN_ASSIGN_OR_RETURN(out.signature, signing_key.sign(out.renewal));
  return out;
}

}  // namespace warden
