// The registry's record of each identity's TLS certificate: renewals, and the first use of a
// renewed certificate, which retires the one it replaced (registry.h, OperatorRecord).
#include "absl/strings/str_format.h"
#include "common/status.h"
#include "controller/registry.h"

namespace warden {

absl::Status Registry::renewHostCertificate(const std::string& host_id,
                                            const std::string& receipt_public_key,
                                            const std::string& fingerprint,
                                            const std::string& previous,
                                            std::int64_t not_after_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("UPDATE hosts SET cert_fingerprint = ?, prev_cert_fingerprint = ?, "
                            "cert_not_after_ms = ? WHERE host_id = ? AND receipt_public_key = ?"));
  WARDEN_RETURN_IF_ERROR(st.bind(1, fingerprint)
                             .bind(2, previous)
                             .bind(3, not_after_ms)
                             .bind(4, host_id)
                             .bindBlob(5, receipt_public_key)
                             .run());
  if (db_->changes() != 1) {
    return absl::PermissionDeniedError(
        absl::StrFormat("host '%s' was re-enrolled while its renewal was made", host_id));
  }
  return absl::OkStatus();
}

absl::Status Registry::renewOperatorCertificate(const std::string& name,
                                                const std::string& fingerprint,
                                                const std::string& previous,
                                                std::int64_t not_after_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("UPDATE operators SET cert_fingerprint = ?, prev_cert_fingerprint = ?, "
                            "cert_not_after_ms = ? WHERE name = ? AND role != 'revoked'"));
  WARDEN_RETURN_IF_ERROR(
      st.bind(1, fingerprint).bind(2, previous).bind(3, not_after_ms).bind(4, name).run());
  if (db_->changes() != 1) {
    return absl::PermissionDeniedError(
        absl::StrFormat("operator '%s' was revoked while its renewal was made", name));
  }
  return absl::OkStatus();
}

absl::Status Registry::noteHostCertificate(const std::string& host_id,
                                           const std::string& fingerprint,
                                           std::int64_t not_after_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("UPDATE hosts SET prev_cert_fingerprint = '', cert_not_after_ms = ? "
                            "WHERE host_id = ? AND cert_fingerprint = ?"));
  return st.bind(1, not_after_ms).bind(2, host_id).bind(3, fingerprint).run();
}

absl::Status Registry::noteOperatorCertificate(const std::string& name,
                                               const std::string& fingerprint,
                                               std::int64_t not_after_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st,
      db_->prepare("UPDATE operators SET prev_cert_fingerprint = '', cert_not_after_ms = ? "
                   "WHERE name = ? AND cert_fingerprint = ?"));
  return st.bind(1, not_after_ms).bind(2, name).bind(3, fingerprint).run();
}

}  // namespace warden
