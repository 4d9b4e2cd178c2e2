#include "agent/runtime/enroll.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "agent/runtime/state_store.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/tls_bootstrap.h"
#include "common/crypto/x509.h"
#include "common/files.h"
#include "common/net.h"
#include "common/status.h"
#include "common/token.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden {

absl::StatusOr<std::string> enrollAgent(const EnrollOptions& o) {
  WARDEN_ASSIGN_OR_RETURN(JoinToken token, JoinToken::parse(o.token));
  WARDEN_ASSIGN_OR_RETURN(HostPort controller, HostPort::parse(o.controller));
  if (o.state_dir.empty()) return absl::InvalidArgumentError("--state-dir is required");
  if (pathExists(o.state_dir + "/tls.crt")) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "%s already holds an enrolled agent; use an empty state directory", o.state_dir));
  }
  std::string host_id = o.host_id;
  if (host_id.empty()) {
    char name[256] = {};
    ::gethostname(name, sizeof(name) - 1);
    host_id = name;
  }

  // 1. Authenticate the controller: the CA it presents must be the one the token pins.
  WARDEN_ASSIGN_OR_RETURN(
      auto chain, crypto::fetchPeerChain(controller.host, controller.port, absl::Seconds(10)));
  std::string ca_pem;
  for (const auto& cert : chain) {
    if (auto fp = crypto::certFingerprint(cert); fp.ok() && *fp == token.ca_fingerprint) {
      ca_pem = cert;
    }
  }
  if (ca_pem.empty()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "controller %s did not present the CA this token pins (%s...): wrong controller or "
        "interception; not enrolling",
        controller.toString(), token.ca_fingerprint.substr(0, 16)));
  }
  if (chain.empty()) return absl::UnavailableError("controller presented no certificate");
  WARDEN_RETURN_IF_ERROR(crypto::verifyCertIssuedBy(chain.front(), ca_pem));

  // 2. Our own keys; only the CSR and the public receipt key leave the host.
  WARDEN_ASSIGN_OR_RETURN(std::string tls_key, crypto::generateEcKeyPem());
  WARDEN_ASSIGN_OR_RETURN(std::string csr, crypto::createCsr(tls_key, "agent:" + host_id));
  WARDEN_ASSIGN_OR_RETURN(auto receipt_key, crypto::Ed25519Key::generate());

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("warden-controller");
  auto channel = grpc::CreateCustomChannel(controller.toString(), grpc::SslCredentials(ssl), args);
  auto stub = v1::AgentChannel::NewStub(channel);
  v1::EnrollRequest req;
  req.set_token(o.token);
  req.set_host_id(host_id);
  req.set_csr_pem(csr);
  req.set_receipt_public_key(receipt_key.publicKey());
  v1::EnrollResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::Status st = stub->Enroll(&ctx, req, &resp);
  if (!st.ok()) {
    const auto code = static_cast<absl::StatusCode>(st.error_code());
    return absl::Status(code, absl::StrFormat("enrollment refused: %s", st.error_message()));
  }
  WARDEN_RETURN_IF_ERROR(crypto::verifyCertIssuedBy(resp.certificate_pem(), ca_pem));
  if (resp.command_public_key().size() != 32) {
    return absl::InternalError("controller sent no valid command key");
  }

  WARDEN_ASSIGN_OR_RETURN(auto store, StateStore::open(o.state_dir));
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(store->path("tls.key"), tls_key, 0600));
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(store->path("receipt.key"), receipt_key.toPem(), 0600));
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(store->path("ca.pem"), ca_pem, 0644));
  WARDEN_RETURN_IF_ERROR(store->set("host_id", resp.host_id()));
  WARDEN_RETURN_IF_ERROR(store->set("controller", controller.toString()));
  WARDEN_RETURN_IF_ERROR(store->set("command_public_key", resp.command_public_key()));
  WARDEN_RETURN_IF_ERROR(store->set("log_vkey", resp.log_vkey()));
  WARDEN_RETURN_IF_ERROR(store->set("firewall", o.firewall));
  // The certificate last: its presence marks a complete enrollment.
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(store->path("tls.crt"), resp.certificate_pem(), 0644));
  return resp.host_id();
}

}  // namespace warden
