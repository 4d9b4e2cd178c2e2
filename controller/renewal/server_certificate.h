// The controller's own TLS certificate (DESIGN.md "The hostile host"). The controller holds the
// CA key, so it renews its certificate itself — same key, same names, a fresh validity — at start
// and whenever the watch (certificate_watch.h) finds it due, and logs each renewal. The TLS port
// serves DIR/server-chain.pem through a file-watching certificate provider, so a renewal takes
// effect for new connections within seconds, without a restart and without dropping a stream.
// The CA itself cannot be renewed this way; a certificate it issues never outlives it, so a
// certificate that already ends with the CA is left alone (and warned about).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/x509.h"
#include "controller/data_dir.h"

namespace warden {

class LogWriter;

class ServerCertificate {
 public:
  // Reads DIR/server.pem; `validity`: the lifetime renewals give it.
  static absl::StatusOr<std::unique_ptr<ServerCertificate>> load(const ControllerKeys& keys,
                                                                 absl::Duration validity);

  // Renews the certificate when due and a renewal can push its expiry later, logging the renewal
  // in `log`; writes DIR/server-chain.pem when it renews or when the file does not hold the
  // certificate and CA of now. True when it renewed.
  absl::StatusOr<bool> renewIfDue(absl::Time now, LogWriter& log);

  crypto::CertValidity validity() const;
  const crypto::CertValidity& caValidity() const { return ca_; }
  // What the TLS port's certificate provider reads.
  std::string keyPath() const;
  std::string chainPath() const;
  std::string caPath() const;

 private:
  ServerCertificate(const ControllerKeys& keys, absl::Duration validity)
      : keys_(keys), lifetime_(validity) {}
  absl::Status writeChain(const std::string& cert_pem);

  const ControllerKeys& keys_;
  const absl::Duration lifetime_;
  crypto::CertValidity ca_;
  mutable std::mutex mu_;
  std::string cert_pem_;           // guarded by mu_
  crypto::CertValidity validity_;  // guarded by mu_
};

}  // namespace warden
