#include "controller/renewal/certificate_issuer.h"

#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "common/cert_lifetime.h"
#include "common/crypto/x509.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/renewal/renewal_check.h"

namespace warden {

absl::StatusOr<v1::RenewalChallenge> CertificateIssuer::challenge(const std::string& subject) {
  const bool agent = !renewalAgentHost(subject).empty();
  const bool op = !renewalOperatorName(subject).empty();
  if ((!agent && !op) || subject.size() > 80) {
    return absl::InvalidArgumentError("a challenge is for agent:HOST or operator:NAME");
  }
  // Anyone may ask for an agent's (an expired host has no certificate to show): only for a host
  // that is enrolled, so what is held stays bounded by the fleet.
  if (agent && !ctx_.registry().findHost(renewalAgentHost(subject)).ok()) {
    return absl::NotFoundError(
        absl::StrFormat("host '%s' is not enrolled", renewalAgentHost(subject)));
  }
  WARDEN_ASSIGN_OR_RETURN(RenewalChallenges::Issued issued,
                          challenges_.issue(subject, absl::Now()));
  v1::RenewalChallenge out;
  out.set_challenge(issued.challenge);
  out.set_expires_unix_ms(absl::ToUnixMillis(issued.expires));
  return out;
}

absl::StatusOr<CertificateIssuer::Issued> CertificateIssuer::issue(const std::string& csr_pem,
                                                                   const std::string& common_name,
                                                                   absl::Duration validity) {
  crypto::CertProfile profile;
  profile.common_name = common_name;
  profile.client = true;
  profile.validity = validity;
  Issued out;
  WARDEN_ASSIGN_OR_RETURN(out.cert_pem, crypto::signCsr(ctx_.keys.ca, csr_pem, profile));
  WARDEN_ASSIGN_OR_RETURN(out.fingerprint, crypto::certFingerprint(out.cert_pem));
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity v, crypto::certValidity(out.cert_pem));
  out.not_after = v.not_after;
  return out;
}

absl::StatusOr<v1::RenewCertificateResponse> CertificateIssuer::logAndAnswer(
    const CertRenewal& r, const v1::RenewCertificateRequest& req, const std::string& host_id,
    const Issued& cert, const std::string& detail) {
  LogEntry e;
  e.type = entry_type::kRenewal;
  e.actor = r.subject;
  e.host_id = host_id;
  e.ref = cert.fingerprint;
  e.body = req.renewal();
  e.signature = req.signature();
  e.detail = detail;
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t index, ctx_.log->appendEntry(e));
  v1::RenewCertificateResponse resp;
  resp.set_certificate_pem(cert.cert_pem);
  resp.set_ca_pem(ctx_.keys.ca.cert_pem);
  resp.set_not_after_unix_ms(absl::ToUnixMillis(cert.not_after));
  resp.set_log_index(index);
  return resp;
}

absl::StatusOr<v1::RenewCertificateResponse> CertificateIssuer::renewAgent(
    const v1::RenewCertificateRequest& req, const std::optional<PeerIdentity>& peer,
    const std::string& from) {
  WARDEN_ASSIGN_OR_RETURN(CertRenewal r, parseRenewal(req.renewal(), req.csr_pem()));
  const std::string host_id = renewalAgentHost(r.subject);
  if (!validHostId(host_id)) {
    return absl::InvalidArgumentError("an agent's renewal names its host id: agent:HOST");
  }
  // Exclusive, as enrollment: the identity the renewal is checked against cannot change (a
  // re-enrollment) before the new certificate is logged and recorded.
  std::unique_lock<std::shared_mutex> identity(ctx_.identity_mu);
  auto host = ctx_.registry().findHost(host_id);
  if (!host.ok()) {
    return absl::PermissionDeniedError(absl::StrFormat("host '%s' is not enrolled", host_id));
  }
  WARDEN_RETURN_IF_ERROR(checkAgentRenewal(r, req.renewal(), req.signature(), peer, *host));
  WARDEN_RETURN_IF_ERROR(challenges_.consume(r.subject, r.challenge, absl::Now()));
  WARDEN_ASSIGN_OR_RETURN(Issued cert, issue(req.csr_pem(), r.subject, ctx_.lifetimes.agent));
  const std::string previous = peer ? peer->fingerprint : "";
  const std::string detail = absl::StrFormat(
      "certificate %s renewed from %s (%s); valid until %s", cert.fingerprint.substr(0, 16),
      from.substr(0, 80),
      peer ? "authenticated by certificate " + peer->fingerprint.substr(0, 16)
           : std::string("no valid certificate: enrolled key over a single-use challenge"),
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", cert.not_after, absl::UTCTimeZone()));
  WARDEN_ASSIGN_OR_RETURN(auto resp, logAndAnswer(r, req, host_id, cert, detail));
  WARDEN_RETURN_IF_ERROR(ctx_.registry().renewHostCertificate(host_id, host->receipt_public_key,
                                                              cert.fingerprint, previous,
                                                              absl::ToUnixMillis(cert.not_after)));
  identity.unlock();
  ctx_.log->recordEvent(host_id, "certificate-renewed", detail);
  return resp;
}

absl::StatusOr<v1::RenewCertificateResponse> CertificateIssuer::renewOperator(
    const v1::RenewCertificateRequest& req, const OperatorRecord& caller) {
  WARDEN_ASSIGN_OR_RETURN(CertRenewal r, parseRenewal(req.renewal(), req.csr_pem()));
  std::unique_lock<std::shared_mutex> identity(ctx_.identity_mu);
  // As the registry says now: a revocation may have landed since the call was authorised.
  auto now = ctx_.registry().findOperator(caller.name);
  if (!now.ok() || !now->holdsCertificate(caller.cert_fingerprint)) {
    return absl::PermissionDeniedError(
        absl::StrFormat("operator %s was revoked or changed while the call waited", caller.name));
  }
  WARDEN_RETURN_IF_ERROR(checkOperatorRenewal(r, req.renewal(), req.signature(), *now));
  WARDEN_RETURN_IF_ERROR(challenges_.consume(r.subject, r.challenge, absl::Now()));
  WARDEN_ASSIGN_OR_RETURN(Issued cert,
                          issue(req.csr_pem(), r.subject, ctx_.lifetimes.operator_cert));
  const std::string detail = absl::StrFormat(
      "operator %s's certificate %s renewed (authenticated by certificate %s); valid until %s",
      caller.name, cert.fingerprint.substr(0, 16), caller.cert_fingerprint.substr(0, 16),
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", cert.not_after, absl::UTCTimeZone()));
  WARDEN_ASSIGN_OR_RETURN(auto resp, logAndAnswer(r, req, "", cert, detail));
  WARDEN_RETURN_IF_ERROR(ctx_.registry().renewOperatorCertificate(
      caller.name, cert.fingerprint, caller.cert_fingerprint, absl::ToUnixMillis(cert.not_after)));
  logInfo("%s", detail);
  return resp;
}

}  // namespace warden
