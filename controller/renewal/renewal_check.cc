#include "controller/renewal/renewal_check.h"

#include "absl/strings/str_format.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/hash.h"
#include "common/crypto/x509.h"
#include "common/status.h"

namespace warden {

absl::StatusOr<CertRenewal> parseRenewal(std::string_view renewal_bytes, std::string_view csr_pem) {
  WARDEN_ASSIGN_OR_RETURN(CertRenewal r, decodeCertRenewal(renewal_bytes));
  WARDEN_RETURN_IF_ERROR(checkCertRenewalShape(r));
  if (r.subject == "controller") {
    return absl::PermissionDeniedError("only the controller renews the controller's certificate");
  }
  if (!crypto::equalConstantTime(crypto::sha256(csr_pem), r.csr_sha256)) {
    return absl::InvalidArgumentError("the signed renewal names another CSR");
  }
  WARDEN_ASSIGN_OR_RETURN(std::string csr_name, crypto::csrCommonName(csr_pem));
  if (csr_name != r.subject) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the CSR asks for '%s', the renewal is for '%s'", csr_name.substr(0, 80),
                        r.subject.substr(0, 80)));
  }
  return r;
}

absl::Status checkAgentRenewal(const CertRenewal& r, std::string_view renewal_bytes,
                               std::string_view signature, const std::optional<PeerIdentity>& peer,
                               const HostRecord& host) {
  const std::string host_id = renewalAgentHost(r.subject);
  if (host_id.empty() || host_id != host.host_id) {
    return absl::PermissionDeniedError(absl::StrFormat("the renewal is for '%s', not agent:%s",
                                                       r.subject.substr(0, 80), host.host_id));
  }
  if (peer) {
    const std::optional<std::string> peer_host = agentHostId(*peer);
    if (!peer_host || *peer_host != host_id) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "the certificate presented is %s's; an agent renews its own certificate only",
          peer->common_name.substr(0, 80)));
    }
    if (!host.holdsCertificate(peer->fingerprint)) {
      return absl::PermissionDeniedError("certificate was replaced or revoked");
    }
    if (r.proof != renewal_proof::kCertificate) {
      return absl::InvalidArgumentError(
          "a renewal made with the agent's certificate must say so (proof 'certificate')");
    }
  } else if (r.proof != renewal_proof::kEnrolledKey) {
    return absl::PermissionDeniedError(
        "no client certificate: only a renewal signed with the enrolled key over a challenge "
        "(proof 'enrolled-key') is taken without one");
  }
  if (!crypto::ed25519Verify(host.receipt_public_key, renewal_bytes, signature).ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the renewal is not signed by %s's enrolled key", host_id));
  }
  return absl::OkStatus();
}

absl::Status checkOperatorRenewal(const CertRenewal& r, std::string_view renewal_bytes,
                                  std::string_view signature, const OperatorRecord& caller) {
  if (r.subject != "operator:" + caller.name) {
    return absl::PermissionDeniedError(
        absl::StrFormat("operator %s renews its own certificate only, not '%s'", caller.name,
                        r.subject.substr(0, 80)));
  }
  if (caller.role == "revoked") return absl::PermissionDeniedError("operator is revoked");
  if (!crypto::ed25519Verify(caller.signing_public_key, renewal_bytes, signature).ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the renewal is not signed by operator %s's signing key", caller.name));
  }
  return absl::OkStatus();
}

}  // namespace warden
