// The stream each agent keeps open (DESIGN.md "Trust model": agents dial out): a hello that
// names its host, then heartbeats with the host's facts, probes of the channel, receipts and
// events, while commands flow the other way (dispatch/dispatcher.h).
#include "absl/strings/str_format.h"
#include "common/command.h"
#include "common/log.h"
#include "controller/agent_channel/agent_service.h"
#include "controller/authz.h"
#include "controller/rpc_status.h"

namespace warden {
namespace {

// One line for the first message dropped and then every hundredth.
void noteDropped(const std::string& host_id, const char* what, std::uint64_t dropped) {
  if (dropped == 1 || dropped % 100 == 0) {
    logWarning("host %s: %s rate limit exceeded, %d dropped so far on this stream", host_id, what,
               dropped);
  }
}

}  // namespace

grpc::Status AgentChannelService::Connect(grpc::ServerContext* ctx, AgentStream* stream) {
  auto id = peerIdentity(ctx);
  if (!id.ok()) return toGrpc(id.status());
  const std::optional<std::string> agent = agentHostId(*id);
  if (!agent) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "only agent certificates may open the agent channel");
  }
  const std::string host_id = *agent;
  Registry& registry = ctx_.registry();
  auto host = registry.findHost(host_id);
  if (!host.ok()) return toGrpc(absl::PermissionDeniedError("host is not enrolled"));
  if (!host->holdsCertificate(id->fingerprint)) {
    return toGrpc(absl::PermissionDeniedError("certificate was replaced or revoked"));
  }
  // The first connection with a renewed certificate retires the one it replaced; a host
  // enrolled before expiries were kept gets its expiry recorded.
  if (id->fingerprint == host->cert_fingerprint &&
      (!host->prev_cert_fingerprint.empty() || host->cert_not_after_ms == 0)) {
    if (auto s = registry.noteHostCertificate(host_id, id->fingerprint, certNotAfterMs(*id));
        !s.ok()) {
      logWarning("host %s: cannot record its certificate: %s", host_id, s.message());
    }
  }
  v1::AgentMessage first;
  if (!stream->Read(&first) || !first.has_hello() || first.hello().host_id() != host_id) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected hello for this host");
  }
  auto session = std::make_shared<AgentSession>(host_id, ctx->peer(), ctx, stream);
  session->receipt_public_key = host->receipt_public_key;
  ctx_.sessions.add(session);
  (void)registry.updateHostSeen(host_id, session->peer, &first.hello().facts());
  logInfo("host %s connected from %s", host_id, session->peer);
  dispatcher_.deliverPending(host_id);

  v1::AgentMessage msg;
  while (stream->Read(&msg)) {
    switch (msg.msg_case()) {
      case v1::AgentMessage::kHeartbeat:
        heartbeats_.acceptHeartbeat(*session, msg.heartbeat());
        break;
      case v1::AgentMessage::kProbe: {
        // An agent probes once per containment change; more is dropped (the agent's probe
        // then times out and it rolls back, which only harms the host that flooded).
        if (!session->limits.probes.take(nowUnixMs())) {
          noteDropped(host_id, "probe", session->limits.probes.dropped());
          break;
        }
        v1::ControllerMessage ack;
        ack.mutable_probe_ack()->set_nonce(msg.probe().nonce());
        session->send(ack);
        break;
      }
      case v1::AgentMessage::kReceipt:
        receipts_.acceptReceipt(*session, host_id, msg.receipt());
        break;
      case v1::AgentMessage::kEvent:
        if (!session->limits.events.take(nowUnixMs())) {
          noteDropped(host_id, "event", session->limits.events.dropped());
          break;
        }
        if (msg.event().kind() == "release") {
          receipts_.acceptRelease(*session, host_id, msg.event());
          break;
        }
        ctx_.log->recordLoggedEvent("agent:" + host_id, host_id, msg.event().kind().substr(0, 64),
                                    msg.event().detail().substr(0, 4096),
                                    msg.event().command_id().substr(0, 64));
        break;
      default:
        break;
    }
  }
  session->writer.close();
  ctx_.sessions.remove(session);
  (void)registry.updateHostSeen(host_id, session->peer, nullptr);
  logInfo("host %s disconnected", host_id);
  return grpc::Status::OK;
}

}  // namespace warden
