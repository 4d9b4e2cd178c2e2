// Certificates renewed over the channel (DESIGN.md "The hostile host"): hands out challenges and
// issues agents' and operators' renewed certificates once renewal_check.h is satisfied, each
// recorded in the action log (a "renewal" entry carrying the subject's signed request) before
// the registry takes the new certificate and the caller gets it. The previous certificate stays
// good until the new one is used (registry.h), so a lost answer never locks anyone out.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "common/audit/cert_renewal.h"
#include "controller/authz.h"
#include "controller/context.h"
#include "controller/renewal/challenges.h"
#include "warden/v1/agent.pb.h"

namespace warden {

class CertificateIssuer {
 public:
  explicit CertificateIssuer(ControllerContext& ctx) : ctx_(ctx) {}

  absl::StatusOr<v1::RenewalChallenge> challenge(const std::string& subject);
  // `peer`: the agent's certificate, or nullopt when it presented none (expired); `from`: the
  // caller's address, for the log.
  absl::StatusOr<v1::RenewCertificateResponse> renewAgent(const v1::RenewCertificateRequest& req,
                                                          const std::optional<PeerIdentity>& peer,
                                                          const std::string& from);
  // `caller`: as Authorizer::authorize returned it (cert_fingerprint: the one presented).
  absl::StatusOr<v1::RenewCertificateResponse> renewOperator(const v1::RenewCertificateRequest& req,
                                                             const OperatorRecord& caller);

 private:
  struct Issued {
    std::string cert_pem;
    std::string fingerprint;
    absl::Time not_after;
  };
  absl::StatusOr<Issued> issue(const std::string& csr_pem, const std::string& common_name,
                               absl::Duration validity);
  // Logs the renewal entry and answers with the certificate.
  absl::StatusOr<v1::RenewCertificateResponse> logAndAnswer(const CertRenewal& r,
                                                            const v1::RenewCertificateRequest& req,
                                                            const std::string& host_id,
                                                            const Issued& cert,
                                                            const std::string& detail);

  ControllerContext& ctx_;
  RenewalChallenges challenges_;
};

}  // namespace warden
