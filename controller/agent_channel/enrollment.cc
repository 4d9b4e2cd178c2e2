// Enrollment (DESIGN.md "Trust model"): a host presents a one-time join token bound to this
// controller's CA and a CSR, and leaves with a certificate for its host id. Its receipt key is
// in the action log before any receipt it signs can be.
#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "common/audit/key_record.h"
#include "common/command.h"
#include "common/crypto/hash.h"
#include "common/crypto/x509.h"
#include "common/log.h"
#include "common/status.h"
#include "common/token.h"
#include "controller/agent_channel/agent_service.h"
#include "controller/authz.h"
#include "controller/rpc_status.h"

namespace warden {

grpc::Status AgentChannelService::Enroll(grpc::ServerContext* ctx, const v1::EnrollRequest* req,
                                         v1::EnrollResponse* resp) {
  auto result = enroll(*req, resp);
  if (!result.ok()) {
    logWarning("enrollment of '%s' from %s refused: %s", req->host_id(), ctx->peer(),
               result.message());
    ctx_.log->logAnonymousRefusal(
        validHostId(req->host_id()) ? req->host_id() : "",
        absl::StrFormat("enrollment of '%s' from %s refused: %s", req->host_id().substr(0, 64),
                        ctx->peer(), result.message()));
  }
  return toGrpc(result);
}

absl::Status AgentChannelService::enroll(const v1::EnrollRequest& req, v1::EnrollResponse* resp) {
  const ControllerKeys& keys = ctx_.keys;
  WARDEN_ASSIGN_OR_RETURN(JoinToken token, JoinToken::parse(req.token()));
  if (token.ca_fingerprint != keys.ca_fingerprint) {
    return absl::PermissionDeniedError("join token was issued by another controller");
  }
  if (!validHostId(req.host_id())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid host id '%s' (letters, digits, '.', '-', '_'; at most 63)", req.host_id()));
  }
  if (req.receipt_public_key().size() != 32) {
    return absl::InvalidArgumentError("receipt key must be a raw 32-byte Ed25519 key");
  }
  WARDEN_RETURN_IF_ERROR(
      ctx_.registry().consumeToken(token.id, crypto::sha256(token.secret), req.host_id()));
  crypto::CertProfile profile;
  profile.common_name = "agent:" + req.host_id();
  profile.client = true;
  profile.validity = ctx_.lifetimes.agent;
  WARDEN_ASSIGN_OR_RETURN(std::string cert, crypto::signCsr(keys.ca, req.csr_pem(), profile));
  WARDEN_ASSIGN_OR_RETURN(std::string fp, crypto::certFingerprint(cert));
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity validity, crypto::certValidity(cert));
  HostRecord host;
  host.host_id = req.host_id();
  host.cert_fingerprint = fp;
  host.receipt_public_key = req.receipt_public_key();
  host.enrolled_ms = nowUnixMs();
  host.cert_not_after_ms = absl::ToUnixMillis(validity.not_after);
  // consumeToken let an existing host id through only with a token bound to it: that is a
  // deliberate re-enrollment (a reinstalled host), which replaces the old identity.
  std::unique_lock<std::shared_mutex> identity(ctx_.identity_mu);
  const bool reenroll = ctx_.registry().findHost(req.host_id()).ok();
  // The agent's key is in the log before any receipt it signs can be.
  LogEntry e;
  e.type = entry_type::kEnrollment;
  e.actor = "agent:" + req.host_id();
  e.host_id = req.host_id();
  e.ref = token.id;
  e.body = encodeKeyRecord(
      KeyRecord{kKeyRecordVersion, "agent", req.host_id(), "", req.receipt_public_key(), fp});
  e.detail =
      absl::StrFormat("%s with join token %s", reenroll ? "re-enrolled" : "enrolled", token.id);
  WARDEN_RETURN_IF_ERROR(ctx_.log->appendEntry(e).status());
  WARDEN_RETURN_IF_ERROR(ctx_.registry().addHost(host, reenroll));
  // The replaced identity may not go on acting: its stream ends now.
  if (reenroll) ctx_.sessions.cancel(req.host_id());
  resp->set_host_id(req.host_id());
  resp->set_certificate_pem(cert);
  resp->set_ca_pem(keys.ca.cert_pem);
  resp->set_command_public_key(keys.command_key.publicKey());
  resp->set_log_vkey(keys.log_vkey);
  ctx_.log->recordEvent(req.host_id(), "enrolled",
                        absl::StrFormat("certificate %s", fp.substr(0, 16)));
  // A host that joins later gets the fleet-wide blocks with its first connection.
  if (auto fleet = ctx_.registry().fleetBlocks(); fleet.ok() && !fleet->empty()) {
    std::vector<std::string> addresses;
    for (const auto& b : *fleet) addresses.push_back(b[0]);
    auto a = dispatcher_.createAction("", "controller", req.host_id(), "block",
                                      "fleet-wide blocks in force", "", {}, addresses);
    if (!a.ok()) {
      logError("host %s: cannot queue fleet-wide blocks: %s", req.host_id(), a.status().message());
    }
  }
  return absl::OkStatus();
}

}  // namespace warden
