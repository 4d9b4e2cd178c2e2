// The fleet as operators see it: every enrolled host, connected or not, with its facts,
// containment and latest events.
#include "common/command.h"
#include "controller/operator_api/operator_service.h"
#include "controller/renewal/expiry_warnings.h"
#include "controller/rpc_status.h"

namespace warden {

grpc::Status OperatorService::ListHosts(grpc::ServerContext* ctx, const v1::ListHostsRequest*,
                                        v1::ListHostsResponse* resp) {
  auto op = authz_.authorize(ctx, "ListHosts");
  if (!op.ok()) return toGrpc(op.status());
  auto hosts = ctx_.registry().listHosts();
  if (!hosts.ok()) return toGrpc(hosts.status());
  const absl::Time now = absl::Now();
  const ServerCertificate& served = *ctx_.server_certificate;
  resp->set_ca_not_after_unix_ms(absl::ToUnixMillis(served.caValidity().not_after));
  resp->set_controller_cert_not_after_unix_ms(absl::ToUnixMillis(served.validity().not_after));
  for (const ExpiryWarning& w :
       controllerExpiryWarnings(served.caValidity(), served.validity(), now)) {
    auto* out = resp->add_warnings();
    out->set_subject(w.subject);
    out->set_not_after_unix_ms(absl::ToUnixMillis(w.not_after));
    out->set_message(w.message);
  }
  for (const auto& h : *hosts) {
    auto* out = resp->add_hosts();
    out->set_host_id(h.host_id);
    out->set_connected(ctx_.sessions.find(h.host_id) != nullptr);
    out->set_cert_not_after_unix_ms(h.cert_not_after_ms);
    out->set_cert_warning(hostCertificateWarning(h.cert_not_after_ms, out->connected(), now));
    out->set_last_seen_unix_ms(h.last_seen_ms);
    out->set_enrolled_unix_ms(h.enrolled_ms);
    *out->mutable_facts() = h.facts;
    // What the agent reports is the truth about its rules; the registry is the fallback.
    out->set_containment(h.facts.isolated() ? "isolated" : h.containment);
    out->set_peer(h.peer);
    const HostHealthView health = ctx_.health.view(h.host_id, nowUnixMs());
    out->set_health(std::string(hostHealthName(health.health)));
    out->set_health_detail(health.detail);
    out->set_last_heartbeat_unix_ms(health.last_heartbeat_unix_ms);
    out->set_heartbeat_interval_ms(health.heartbeat_interval_ms);
    if (auto events = ctx_.registry().recentEvents(h.host_id, 10); events.ok()) {
      for (const auto& e : *events) {
        auto* ev = out->add_events();
        ev->set_kind(e.kind);
        ev->set_detail(e.detail);
        ev->set_at_unix_ms(e.at_ms);
      }
    }
  }
  return grpc::Status::OK;
}

}  // namespace warden
