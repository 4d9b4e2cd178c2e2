// When a certificate is renewed and when its expiry is worth a warning (DESIGN.md "The hostile
// host": certificates are renewed over the channel well before they expire; an expiring CA or
// controller certificate is reported weeks ahead). Pure: the clock is passed in, so the agent,
// the CLI and the controller decide alike and the decisions are unit-tested.
//
// The rule is cert-manager's (renewBefore = a third of the duration by default), with a floor:
// a certificate is renewed once the last third of its lifetime, or its last 30 days, has begun,
// whichever comes first. The floor never reaches past half the lifetime, so a short-lived
// certificate (tests, minutes) still serves half its life before it is renewed.
#pragma once

#include <string>

#include "absl/time/time.h"
#include "common/crypto/x509.h"

namespace warden {

// The shortest lifetime the controller issues certificates with (serve --*-cert-validity): a
// renewal every few seconds is a test's business, not a fleet's.
inline constexpr absl::Duration kMinCertValidity = absl::Seconds(20);
// Renewal starts at the latest this long before expiry (capped at half the lifetime).
inline constexpr absl::Duration kRenewalFloor = absl::Hours(24 * 30);
// `warden hosts` and the controller's log name a host whose certificate expires within this.
inline constexpr absl::Duration kHostCertWarning = absl::Hours(24 * 30);
// ... and the CA or the controller's own certificate expiring within this.
inline constexpr absl::Duration kControllerCertWarning = absl::Hours(24 * 60);

// How long before notAfter renewal begins: max(lifetime / 3, min(30 days, lifetime / 2)).
absl::Duration renewalLead(const crypto::CertValidity& v);
// When renewal begins.
absl::Time renewalStart(const crypto::CertValidity& v);
bool renewalDue(const crypto::CertValidity& v, absl::Time now);
// A renewal cannot push notAfter later: the certificate already ends when its CA does (the CA
// caps every certificate it issues). Renewing then would only shorten the next lifetime.
bool endsWithCa(const crypto::CertValidity& cert, const crypto::CertValidity& ca);
// How long to wait after `failures` failed renewals in a row (1 or more) before trying again:
// doubling from one second, never more than a tenth of the lifetime, clamped to [1 s, 1 h].
absl::Duration renewalRetryDelay(const crypto::CertValidity& v, int failures);

// "expires in 12 days (2027-03-01 10:00 UTC)", "expired 3 hours ago (...)": for warnings.
std::string describeExpiry(absl::Time not_after, absl::Time now);

}  // namespace warden
