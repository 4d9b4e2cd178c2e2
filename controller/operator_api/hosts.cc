// The fleet as operators see it: every enrolled host, connected or not, with its facts,
// containment and latest events, a page at a time (paging.h) in order of host id.
#include "absl/strings/str_format.h"
#include "common/command.h"
#include "controller/operator_api/operator_service.h"
#include "controller/paging.h"
#include "controller/renewal/expiry_warnings.h"
#include "controller/rpc_status.h"

namespace warden {

v1::Host OperatorService::hostView(const HostRecord& h, absl::Time now) {
  v1::Host out;
  out.set_host_id(h.host_id);
  out.set_connected(ctx_.sessions.find(h.host_id) != nullptr);
  out.set_cert_not_after_unix_ms(h.cert_not_after_ms);
  out.set_cert_warning(hostCertificateWarning(h.cert_not_after_ms, out.connected(), now));
  out.set_last_seen_unix_ms(h.last_seen_ms);
  out.set_enrolled_unix_ms(h.enrolled_ms);
  *out.mutable_facts() = h.facts;
  // What the agent reports is the truth about its rules; the registry is the fallback.
  out.set_containment(h.facts.isolated() ? "isolated" : h.containment);
  out.set_peer(h.peer);
  const HostHealthView health = ctx_.health.view(h.host_id, nowUnixMs());
  out.set_health(std::string(hostHealthName(health.health)));
  out.set_health_detail(health.detail);
  out.set_last_heartbeat_unix_ms(health.last_heartbeat_unix_ms);
  out.set_heartbeat_interval_ms(health.heartbeat_interval_ms);
  if (auto labels = ctx_.registry().labels(h.host_id); labels.ok()) {
    for (const auto& [k, v] : *labels) (*out.mutable_labels())[k] = v;
  }
  if (auto events = ctx_.registry().recentEvents(h.host_id, 10); events.ok()) {
    for (const auto& e : *events) {
      auto* ev = out.add_events();
      ev->set_kind(e.kind);
      ev->set_detail(e.detail);
      ev->set_at_unix_ms(e.at_ms);
    }
  }
  return out;
}

grpc::Status OperatorService::ListHosts(grpc::ServerContext* ctx, const v1::ListHostsRequest* req,
                                        v1::ListHostsResponse* resp) {
  auto op = authz_.authorize(ctx, "ListHosts");
  if (!op.ok()) return toGrpc(op.status());
  auto after = decodePageToken(req->page_token(), "hosts", "");
  if (!after.ok()) return toGrpc(after.status());
  const int size = servedPageSize(req->page_size());
  auto page = ctx_.registry().listHostsPage(after->has_value() ? (*after)->name : "", size);
  if (!page.ok()) return toGrpc(page.status());
  // The CA's and the controller's own certificates, on every page.
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
  // The registry counted stored bytes; the page is held to what it sends (events too).
  PageBudget budget(size);
  bool more = page->more;
  std::string last;
  for (const HostRecord& h : page->rows) {
    v1::Host host = hostView(h, now);
    if (!budget.take(repeatedFieldBytes(host.ByteSizeLong()))) {
      more = true;
      break;
    }
    *resp->add_hosts() = std::move(host);
    last = h.host_id;
  }
  if (more) resp->set_next_page_token(encodePageToken("hosts", "", PageCursor{0, last}));
  return grpc::Status::OK;
}

grpc::Status OperatorService::SetLabels(grpc::ServerContext* ctx, const v1::SetLabelsRequest* req,
                                        v1::SetLabelsResponse* resp) {
  auto op = authz_.authorize(ctx, "SetLabels");
  if (!op.ok()) return toGrpc(op.status());
  std::map<std::string, std::string> set(req->set().begin(), req->set().end());
  std::vector<std::string> remove(req->remove().begin(), req->remove().end());
  if (set.size() + remove.size() > 64) {
    return toGrpc(absl::InvalidArgumentError("too many labels in one call"));
  }
  if (auto s = ctx_.registry().setLabels(req->host_id(), set, remove); !s.ok()) {
    return toGrpc(absl::IsNotFound(s) ? absl::InvalidArgumentError(s.message()) : s);
  }
  std::string what;
  for (const auto& [k, v] : set) what += absl::StrFormat(" %s=%s", k, v);
  for (const auto& k : remove) what += absl::StrFormat(" %s-", k);
  ctx_.log->recordLoggedEvent("operator:" + op->name, req->host_id(), "labels",
                              "labels set by " + op->name + ":" + what);
  auto now = ctx_.registry().labels(req->host_id());
  if (!now.ok()) return toGrpc(now.status());
  for (const auto& [k, v] : *now) (*resp->mutable_labels())[k] = v;
  return grpc::Status::OK;
}

}  // namespace warden
