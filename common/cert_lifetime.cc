#include "common/cert_lifetime.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_format.h"

namespace warden {
namespace {

// "12 days", "3 hours", "40 seconds": the largest unit that fits at least once.
std::string roughly(absl::Duration d) {
  const std::int64_t s = absl::ToInt64Seconds(d);
  const auto unit = [](std::int64_t n, const char* name) {
    return absl::StrFormat("%d %s%s", n, name, n == 1 ? "" : "s");
  };
  if (s >= 2 * 86400) return unit(s / 86400, "day");
  if (s >= 2 * 3600) return unit(s / 3600, "hour");
  if (s >= 2 * 60) return unit(s / 60, "minute");
  return unit(s, "second");
}

}  // namespace

absl::Duration renewalLead(const crypto::CertValidity& v) {
  const absl::Duration lifetime = std::max(v.not_after - v.not_before, absl::ZeroDuration());
  return std::max(lifetime / 3, std::min(kRenewalFloor, lifetime / 2));
}

absl::Time renewalStart(const crypto::CertValidity& v) { return v.not_after - renewalLead(v); }

bool renewalDue(const crypto::CertValidity& v, absl::Time now) { return now >= renewalStart(v); }

bool endsWithCa(const crypto::CertValidity& cert, const crypto::CertValidity& ca) {
  // X.509 times have one-second granularity: a certificate capped at the CA's notAfter carries
  // exactly that second.
  return cert.not_after >= ca.not_after - absl::Seconds(1);
}

absl::Duration renewalRetryDelay(const crypto::CertValidity& v, int failures) {
  const absl::Duration lifetime = std::max(v.not_after - v.not_before, absl::ZeroDuration());
  const absl::Duration cap = std::clamp(lifetime / 10, absl::Seconds(1), absl::Hours(1));
  absl::Duration delay = absl::Seconds(1);
  for (int i = 1; i < failures && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

std::string describeExpiry(absl::Time not_after, absl::Time now) {
  const std::string when =
      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", not_after, absl::UTCTimeZone());
  if (not_after <= now)
    return absl::StrFormat("expired %s ago (%s)", roughly(now - not_after), when);
  return absl::StrFormat("expires in %s (%s)", roughly(not_after - now), when);
}

}  // namespace warden
