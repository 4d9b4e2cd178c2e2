// What a renewal request must show before the controller issues a certificate for it, as pure
// functions of the request and of what the registry holds (no gRPC, no clock: unit-tested).
//
// Always: the signed record is well-formed, names the CSR sent with it (SHA-256) and the CSR
// asks for exactly the record's subject; the record is signed by the subject's enrolled key.
// An agent with a client certificate: it is that host's current or previous certificate (a
// replaced identity renews nothing), and the record says so (proof "certificate"). An agent
// without one: the record says proof "enrolled-key", and the enrolled key alone stands for the
// host — which is why the challenge it signs is single-use and bound to that host id. An
// operator: authorised by its certificate (authz.h) and renewing its own identity only.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/audit/cert_renewal.h"
#include "controller/authz.h"
#include "controller/registry.h"

namespace warden {

// The record in `renewal_bytes` when it is well-formed and matches `csr_pem`.
absl::StatusOr<CertRenewal> parseRenewal(std::string_view renewal_bytes, std::string_view csr_pem);

// `host` is the registry's record of the host the record's subject names.
absl::Status checkAgentRenewal(const CertRenewal& r, std::string_view renewal_bytes,
                               std::string_view signature, const std::optional<PeerIdentity>& peer,
                               const HostRecord& host);

// `caller`: the operator the call was authorised as.
absl::Status checkOperatorRenewal(const CertRenewal& r, std::string_view renewal_bytes,
                                  std::string_view signature, const OperatorRecord& caller);

}  // namespace warden
