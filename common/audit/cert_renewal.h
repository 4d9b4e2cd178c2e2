// A certificate renewal (DESIGN.md "The hostile host"): what an agent or an operator signs with
// its long-term Ed25519 key (the agent's receipt key, the operator's profile signing key) when it
// asks the controller for a new TLS certificate, and what the controller records when it renews
// its own. The body of the log's "renewal" entries, so an auditor checks offline that every
// certificate the controller issued after enrollment was asked for by the holder of the key the
// log recorded for that identity — and not made up by the controller.
//
// Canonical bytes (common/canonical.h, tag "warden/renewal"): the tag keeps a renewal from ever
// passing for a receipt, heartbeat or request signed by the same key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

inline constexpr std::uint64_t kCertRenewalVersion = 1;

// How the subject proved who it is, as the record says and the controller checked.
namespace renewal_proof {
// The subject's current, valid certificate (mutual TLS) and its signature.
inline constexpr char kCertificate[] = "certificate";
// No valid certificate (it expired while the host was offline): the signature of the agent's
// enrolled key over a fresh, single-use controller challenge alone.
inline constexpr char kEnrolledKey[] = "enrolled-key";
// The controller's own TLS certificate, issued with the CA key it holds.
inline constexpr char kCaKey[] = "ca-key";
}  // namespace renewal_proof

// Size of a renewal challenge (random bytes the controller hands out, each usable once).
inline constexpr std::size_t kRenewalChallengeBytes = 16;

struct CertRenewal {
  std::uint64_t version = kCertRenewalVersion;
  std::string subject;     // "agent:HOST", "operator:NAME" or "controller"
  std::string proof;       // renewal_proof::*
  std::string challenge;   // raw kRenewalChallengeBytes; empty for the controller
  std::string csr_sha256;  // raw SHA-256 of the CSR PEM sent with it; empty for the controller
  std::int64_t issued_unix_ms = 0;  // the subject's clock: informative only
};

std::string encodeCertRenewal(const CertRenewal& r);
absl::StatusOr<CertRenewal> decodeCertRenewal(std::string_view bytes);

// Whether the record is well-formed for its subject: a known subject kind and proof that fits it
// (operators renew with their certificate only, the controller with its CA key), a challenge and
// CSR digest of the right size unless it is the controller's own. InvalidArgument saying what is
// wrong otherwise.
absl::Status checkCertRenewalShape(const CertRenewal& r);

// The host id of "agent:HOST" and the name of "operator:NAME"; empty for anything else.
std::string renewalAgentHost(std::string_view subject);
std::string renewalOperatorName(std::string_view subject);

}  // namespace warden
