// An agent's certificate renewal (renewal/certificate_issuer.h): with its certificate, or — the
// certificate expired while the host was offline — without one, proven by its enrolled key over
// a single-use challenge. Every refusal is logged, rate-limited when the caller showed no
// certificate (anyone who reaches the port can cause those).
#include "absl/strings/str_format.h"
#include "common/audit/cert_renewal.h"
#include "common/log.h"
#include "controller/agent_channel/agent_service.h"
#include "controller/authz.h"
#include "controller/rpc_status.h"

namespace warden {

grpc::Status AgentChannelService::GetRenewalChallenge(grpc::ServerContext* ctx,
                                                      const v1::RenewalChallengeRequest* req,
                                                      v1::RenewalChallenge* resp) {
  auto peer = optionalPeerIdentity(ctx);
  if (!peer.ok()) return toGrpc(peer.status());
  if (renewalAgentHost(req->subject()).empty()) {
    return toGrpc(absl::InvalidArgumentError("the agent channel renews agent:HOST certificates"));
  }
  auto challenge = issuer_.challenge(req->subject());
  if (!challenge.ok()) return toGrpc(challenge.status());
  *resp = *std::move(challenge);
  return grpc::Status::OK;
}

grpc::Status AgentChannelService::RenewCertificate(grpc::ServerContext* ctx,
                                                   const v1::RenewCertificateRequest* req,
                                                   v1::RenewCertificateResponse* resp) {
  auto peer = optionalPeerIdentity(ctx);
  if (!peer.ok()) return toGrpc(peer.status());
  auto renewed = issuer_.renewAgent(*req, *peer, ctx->peer());
  if (renewed.ok()) {
    *resp = *std::move(renewed);
    return grpc::Status::OK;
  }
  const std::string why = absl::StrFormat(
      "certificate renewal from %s (%s) refused: %s", ctx->peer(),
      peer->has_value() ? (*peer)->common_name.substr(0, 80) : std::string("no certificate"),
      renewed.status().message());
  logWarning("%s", why);
  if (peer->has_value() && agentHostId(**peer)) {
    ctx_.log->logRefusal((*peer)->common_name, *agentHostId(**peer), "", why);
  } else {
    ctx_.log->logAnonymousRefusal("", why);
  }
  return toGrpc(renewed.status());
}

}  // namespace warden
