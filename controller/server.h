// The controller's gRPC server: the agent channel (enrollment, command stream) and the
// operator API on one mutually authenticated TLS port.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controller/data_dir.h"
#include "controller/evidence/store.h"
#include "controller/renewal/lifetimes.h"

namespace grpc {
class Server;
}

namespace warden {

struct ServeOptions {
  std::string listen_override;  // empty: the address stored by `init`
  // The HTTPS alert intake's address; empty: the one stored by `init`; "off": none.
  std::string alerts_listen_override;
  absl::Duration default_expiry = absl::Hours(24);
  EvidenceQuota evidence_quota;
  CertificateLifetimes cert_lifetimes;
};

class ControllerServer {
 public:
  static absl::StatusOr<std::unique_ptr<ControllerServer>> start(ControllerKeys keys,
                                                                 const ServeOptions& options);
  ~ControllerServer();
  int port() const;
  int alertsPort() const;  // 0 when the intake is off
  void wait();
  void shutdown();

  struct Impl;

 private:
  explicit ControllerServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace warden
