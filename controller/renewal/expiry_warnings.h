// What expires soon, in the words `warden hosts` and the controller's log use (DESIGN.md "The
// hostile host": reported weeks ahead). Pure: the clock is passed in.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/crypto/x509.h"

namespace warden {

struct ExpiryWarning {
  std::string subject;  // "ca", "controller"
  absl::Time not_after;
  std::string message;
};

// The CA or the certificate the controller serves expiring within kControllerCertWarning (60
// days), or expired.
std::vector<ExpiryWarning> controllerExpiryWarnings(const crypto::CertValidity& ca,
                                                    const crypto::CertValidity& served,
                                                    absl::Time now);

// What to say about a host whose certificate expires at `not_after_ms` (0: not known): "" unless
// it expires within kHostCertWarning (30 days) or has expired.
std::string hostCertificateWarning(std::int64_t not_after_ms, bool connected, absl::Time now);

}  // namespace warden
