// Incidents: open, note and close (ChangeIncident, each an operator's signed request, logged
// before it takes effect), and the controller's record of them (ListIncidents, GetIncident).
// The codename and summary stay here and in the log; commands carry only the incident's id.
#include <algorithm>
#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "common/audit/incident.h"
#include "common/command.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {
namespace {

constexpr int kMaxIncidentsListed = 1000;

v1::IncidentView incidentView(const IncidentRecord& i) {
  v1::IncidentView v;
  v.set_id(i.id);
  v.set_codename(i.codename);
  v.set_severity(i.severity);
  v.set_summary(i.summary);
  v.set_state(i.open() ? "open" : "closed");
  v.set_opened_by(i.opened_by);
  v.set_opened_unix_ms(i.opened_ms);
  v.set_closed_by(i.closed_by);
  v.set_closed_unix_ms(i.closed_ms);
  v.set_open_log_index(static_cast<std::uint64_t>(i.open_log_index));
  return v;
}

}  // namespace

absl::Status OperatorService::changeIncident(const OperatorRecord& op,
                                             const v1::ChangeIncidentRequest& req,
                                             v1::IncidentView* resp) {
  const std::string actor = "operator:" + op.name;
  auto refused = [&](const std::string& ref, absl::Status s) {
    ctx_.log->logRefusal(actor, "", ref,
                         absl::StrFormat("incident request refused: %s", s.message()));
    return s;
  };
  auto request = policy_.verifySignedRequest(op, req.request(), req.request_signature());
  if (!request.ok()) return refused("", request.status());
  auto change = incidentChangeOf(*request);
  if (!change.ok()) return refused(request->id, change.status());
  std::lock_guard<std::mutex> one_at_a_time(incidents_mu_);
  IncidentRecord incident;
  if (change->kind == kIncidentOpenKind) {
    if (auto taken = ctx_.registry().findIncident(change->codename); taken.ok()) {
      return refused(request->id, absl::AlreadyExistsError(absl::StrFormat(
                                      "the codename %s is taken (incident %s, opened by %s)",
                                      change->codename, taken->id, taken->opened_by)));
    }
    if (auto taken = ctx_.registry().findIncident(change->id); taken.ok()) {
      return refused(request->id, absl::AlreadyExistsError(
                                      absl::StrFormat("incident id %s is taken", change->id)));
    }
  } else {
    auto found = ctx_.registry().findIncident(change->id);
    if (!found.ok() || found->id != change->id) {
      return refused(request->id, absl::InvalidArgumentError(
                                      absl::StrFormat("unknown incident %s", change->id)));
    }
    if (change->kind == kIncidentCloseKind && !found->open()) {
      return refused(request->id, absl::FailedPreconditionError(absl::StrFormat(
                                      "incident %s (%s) was closed by %s already", found->codename,
                                      found->id, found->closed_by)));
    }
    incident = std::move(*found);
  }
  // Exclusive: a Submit (shared) logs its request and checks the incident open under the same
  // lock, so no request naming the incident can fall between the close in the log and the
  // close in the registry (the verifier would find it naming a closed incident).
  std::unique_lock<std::shared_mutex> identity(ctx_.identity_mu);
  if (auto still = authz_.stillAuthorized(op, "ChangeIncident"); !still.ok()) return still;
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t index, logSignedRequest(op, *request, req.request(),
                                                                req.request_signature(), ""));
  const std::int64_t now = nowUnixMs();
  if (change->kind == kIncidentOpenKind) {
    incident.id = change->id;
    incident.codename = change->codename;
    incident.severity = change->severity;
    incident.summary = change->summary;
    incident.opened_by = op.name;
    incident.opened_ms = now;
    incident.open_log_index = static_cast<std::int64_t>(index);
    WARDEN_RETURN_IF_ERROR(ctx_.registry().addIncident(incident));
    logInfo("operator %s opened incident %s (%s, severity %d)", op.name, incident.codename,
            incident.id, incident.severity);
  } else if (change->kind == kIncidentCloseKind) {
    WARDEN_RETURN_IF_ERROR(ctx_.registry().closeIncident(incident.id, op.name, now));
    incident.closed_by = op.name;
    incident.closed_ms = now;
    logInfo("operator %s closed incident %s (%s)", op.name, incident.codename, incident.id);
  } else {
    WARDEN_RETURN_IF_ERROR(ctx_.registry().addIncidentNote(
        incident.id, IncidentNote{op.name, now, change->text, static_cast<std::int64_t>(index)}));
  }
  *resp = incidentView(incident);
  return absl::OkStatus();
}

grpc::Status OperatorService::ChangeIncident(grpc::ServerContext* ctx,
                                             const v1::ChangeIncidentRequest* req,
                                             v1::IncidentView* resp) {
  auto op = authz_.authorize(ctx, "ChangeIncident");
  if (!op.ok()) return toGrpc(op.status());
  return toGrpc(changeIncident(*op, *req, resp));
}

grpc::Status OperatorService::ListIncidents(grpc::ServerContext* ctx,
                                            const v1::ListIncidentsRequest* req,
                                            v1::ListIncidentsResponse* resp) {
  auto op = authz_.authorize(ctx, "ListIncidents");
  if (!op.ok()) return toGrpc(op.status());
  const int limit =
      req->limit() == 0
          ? 100
          : static_cast<int>(std::min<std::uint32_t>(req->limit(), kMaxIncidentsListed));
  auto rows = ctx_.registry().listIncidents(limit);
  if (!rows.ok()) return toGrpc(rows.status());
  for (const auto& i : *rows) *resp->add_incidents() = incidentView(i);
  return grpc::Status::OK;
}

grpc::Status OperatorService::GetIncident(grpc::ServerContext* ctx,
                                          const v1::GetIncidentRequest* req,
                                          v1::IncidentView* resp) {
  auto op = authz_.authorize(ctx, "GetIncident");
  if (!op.ok()) return toGrpc(op.status());
  auto found = ctx_.registry().findIncident(req->name());
  if (!found.ok()) return toGrpc(found.status());
  *resp = incidentView(*found);
  if (req->brief()) return grpc::Status::OK;
  auto notes = ctx_.registry().incidentNotes(found->id);
  if (!notes.ok()) return toGrpc(notes.status());
  for (const auto& n : *notes) {
    auto* out = resp->add_notes();
    out->set_by(n.by);
    out->set_at_unix_ms(n.at_ms);
    out->set_text(n.text);
    out->set_log_index(static_cast<std::uint64_t>(n.log_index));
  }
  return grpc::Status::OK;
}

}  // namespace warden
