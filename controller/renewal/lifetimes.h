// How long the certificates the controller issues are valid (`warden-controller serve
// --agent-cert-validity`, `--operator-cert-validity`, `--controller-cert-validity`; at least
// kMinCertValidity each). Renewal (controller/renewal/) keeps them from ever running out.
#pragma once

#include "absl/time/time.h"

namespace warden {

struct CertificateLifetimes {
  absl::Duration agent = absl::Hours(24 * 365);
  absl::Duration operator_cert = absl::Hours(24 * 365);
  absl::Duration controller = absl::Hours(24 * 365 * 5);
};

}  // namespace warden
