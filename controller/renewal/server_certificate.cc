#include "controller/renewal/server_certificate.h"

#include "absl/strings/str_format.h"
#include "common/audit/cert_renewal.h"
#include "common/cert_lifetime.h"
#include "common/command.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/log_writer.h"

namespace warden {

absl::StatusOr<std::unique_ptr<ServerCertificate>> ServerCertificate::load(
    const ControllerKeys& keys, absl::Duration validity) {
  std::unique_ptr<ServerCertificate> out(new ServerCertificate(keys, validity));
  WARDEN_ASSIGN_OR_RETURN(out->ca_, crypto::certValidity(keys.ca.cert_pem));
  WARDEN_ASSIGN_OR_RETURN(out->cert_pem_, readFile(keys.data_dir + "/server.pem"));
  WARDEN_ASSIGN_OR_RETURN(out->validity_, crypto::certValidity(out->cert_pem_));
  return out;
}

std::string ServerCertificate::keyPath() const { return keys_.data_dir + "/server.key"; }
std::string ServerCertificate::chainPath() const { return keys_.data_dir + "/server-chain.pem"; }
std::string ServerCertificate::caPath() const { return keys_.data_dir + "/ca.pem"; }

crypto::CertValidity ServerCertificate::validity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return validity_;
}

absl::Status ServerCertificate::writeChain(const std::string& cert_pem) {
  // The CA goes with the certificate: an enrolling agent fetches the chain and checks the CA's
  // fingerprint against its join token.
  const std::string chain = cert_pem + keys_.ca.cert_pem;
  if (auto now = readFile(chainPath()); now.ok() && *now == chain) return absl::OkStatus();
  return writeFileAtomic(chainPath(), chain, 0644);
}

absl::StatusOr<bool> ServerCertificate::renewIfDue(absl::Time now, LogWriter& log) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!renewalDue(validity_, now) || endsWithCa(validity_, ca_)) {
    WARDEN_RETURN_IF_ERROR(writeChain(cert_pem_));
    return false;
  }
  WARDEN_ASSIGN_OR_RETURN(crypto::CertProfile profile,
                          controllerCertProfile(keys_.advertise, lifetime_));
  // The same key: the TLS port's provider reads key and chain as two files, and a key that never
  // changes can never be read with the other's certificate.
  WARDEN_ASSIGN_OR_RETURN(std::string cert,
                          crypto::issueCertificate(keys_.ca, keys_.server_key_pem, profile));
  WARDEN_ASSIGN_OR_RETURN(std::string fp, crypto::certFingerprint(cert));
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity v, crypto::certValidity(cert));
  CertRenewal r;
  r.subject = "controller";
  r.proof = renewal_proof::kCaKey;
  r.issued_unix_ms = nowUnixMs();
  LogEntry e;
  e.type = entry_type::kRenewal;
  e.actor = "controller";
  e.ref = fp;
  e.body = encodeCertRenewal(r);
  e.detail =
      absl::StrFormat("controller TLS certificate %s renewed (the previous one %s); valid until %s",
                      fp.substr(0, 16), describeExpiry(validity_.not_after, now),
                      absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", v.not_after, absl::UTCTimeZone()));
  // Logged first: a certificate the controller serves is one the log knows.
  WARDEN_RETURN_IF_ERROR(log.appendEntry(e).status());
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(keys_.data_dir + "/server.pem", cert, 0644));
  WARDEN_RETURN_IF_ERROR(writeChain(cert));
  logInfo("%s", e.detail);
  cert_pem_ = std::move(cert);
  validity_ = v;
  return true;
}

}  // namespace warden
