#include "controller/renewal/expiry_warnings.h"

#include "absl/strings/str_format.h"
#include "common/cert_lifetime.h"

namespace warden {

std::vector<ExpiryWarning> controllerExpiryWarnings(const crypto::CertValidity& ca,
                                                    const crypto::CertValidity& served,
                                                    absl::Time now) {
  std::vector<ExpiryWarning> out;
  if (ca.not_after - now <= kControllerCertWarning) {
    out.push_back(ExpiryWarning{
        "ca", ca.not_after,
        absl::StrFormat("the Warden CA %s: the controller cannot renew it, and no agent, operator "
                        "or controller certificate outlives it; plan a new CA and re-enrollment "
                        "before then",
                        describeExpiry(ca.not_after, now))});
  }
  if (served.not_after - now <= kControllerCertWarning) {
    std::string why;
    if (endsWithCa(served, ca)) {
      why = ": it already ends with the CA, so renewing it cannot help";
    } else if (renewalDue(served, now)) {
      why = ": its renewal is due; the controller's log says why it has not happened";
    } else {
      why = absl::StrFormat(
          ": the controller renews it itself from %s",
          absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", renewalStart(served), absl::UTCTimeZone()));
    }
    out.push_back(ExpiryWarning{"controller", served.not_after,
                                absl::StrFormat("the controller's TLS certificate %s%s",
                                                describeExpiry(served.not_after, now), why)});
  }
  return out;
}

std::string hostCertificateWarning(std::int64_t not_after_ms, bool connected, absl::Time now) {
  if (not_after_ms <= 0) return "";
  const absl::Time not_after = absl::FromUnixMillis(not_after_ms);
  if (not_after - now > kHostCertWarning) return "";
  if (not_after <= now) {
    return absl::StrFormat(
        "certificate %s: the agent renews it with its enrolled key when it "
        "next connects",
        describeExpiry(not_after, now));
  }
  return absl::StrFormat("certificate %s%s", describeExpiry(not_after, now),
                         connected ? ": the agent renews it over the channel (see its log if it "
                                     "does not)"
                                   : ": the host is offline; it renews when it connects");
}

}  // namespace warden
