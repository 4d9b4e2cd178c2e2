#include "common/audit/cert_renewal.h"

#include "absl/strings/str_format.h"
#include "common/canonical.h"
#include "common/status.h"

namespace warden {
namespace {

std::string afterPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() <= prefix.size() || s.substr(0, prefix.size()) != prefix) return "";
  return std::string(s.substr(prefix.size()));
}

}  // namespace

std::string encodeCertRenewal(const CertRenewal& r) {
  return canonicalRecord("renewal", r.version, r.subject, r.proof, r.challenge, r.csr_sha256,
                         r.issued_unix_ms);
}

absl::StatusOr<CertRenewal> decodeCertRenewal(std::string_view bytes) {
  CertRenewal r;
  WARDEN_RETURN_IF_ERROR(readCanonicalRecord(bytes, "renewal", "renewal", kCertRenewalVersion,
                                             r.version, r.subject, r.proof, r.challenge,
                                             r.csr_sha256, r.issued_unix_ms));
  return r;
}

std::string renewalAgentHost(std::string_view subject) { return afterPrefix(subject, "agent:"); }

std::string renewalOperatorName(std::string_view subject) {
  return afterPrefix(subject, "operator:");
}

absl::Status checkCertRenewalShape(const CertRenewal& r) {
  using absl::StrFormat;
  const bool agent = !renewalAgentHost(r.subject).empty();
  const bool op = !renewalOperatorName(r.subject).empty();
  if (r.subject == "controller") {
    if (r.proof != renewal_proof::kCaKey) {
      return absl::InvalidArgumentError(
          StrFormat("the controller renews with its CA key, not proof '%s'", r.proof));
    }
    if (!r.challenge.empty() || !r.csr_sha256.empty()) {
      return absl::InvalidArgumentError("the controller's own renewal has no challenge or CSR");
    }
    return absl::OkStatus();
  }
  if (!agent && !op) {
    return absl::InvalidArgumentError(
        "a renewal's subject is agent:HOST, operator:NAME or controller");
  }
  if (agent && r.proof != renewal_proof::kCertificate && r.proof != renewal_proof::kEnrolledKey) {
    return absl::InvalidArgumentError(StrFormat("unknown renewal proof '%s'", r.proof));
  }
  if (op && r.proof != renewal_proof::kCertificate) {
    return absl::InvalidArgumentError("operators renew with their current certificate only");
  }
  if (r.challenge.size() != kRenewalChallengeBytes) {
    return absl::InvalidArgumentError(
        StrFormat("the challenge is %d bytes, not %d", r.challenge.size(), kRenewalChallengeBytes));
  }
  if (r.csr_sha256.size() != 32) {
    return absl::InvalidArgumentError("the CSR digest is not a SHA-256");
  }
  return absl::OkStatus();
}

}  // namespace warden
