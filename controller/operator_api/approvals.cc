// A person's part in automation: the decisions waiting for approval (ListApprovals), an
// operator's signed answer to one (SettleApproval: approve dispatches the decided action as the
// automation's request naming the approval; reject closes it), and the breaker that turns every
// automated action into a question (SetBreaker, GetBreaker). Every answer is a signed request in
// the log before it has any effect.
#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "common/audit/automation_record.h"
#include "common/command.h"
#include "common/log.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {
namespace {

constexpr int kMaxApprovalsListed = 500;

// "decision=d-<16 hex>", the one argument of an approve or reject request.
absl::StatusOr<std::string> decisionArg(const Request& r) {
  if (r.args.size() != 1 || !r.args[0].starts_with("decision=")) {
    return absl::InvalidArgumentError("an approval names exactly one decision=ID");
  }
  return r.args[0].substr(9);
}

}  // namespace

absl::StatusOr<Request> OperatorService::automationRequest(
    const OperatorRecord& op, const std::string& bytes, const std::string& signature,
    std::initializer_list<const char*> kinds) {
  auto request = policy_.verifySignedRequest(op, bytes, signature);
  if (request.ok()) {
    bool known = false;
    for (const char* k : kinds) known = known || request->kind == k;
    if (!known) {
      request = absl::InvalidArgumentError(
          absl::StrFormat("request kind '%s' does not belong here", request->kind));
    } else if (!request->hosts.empty() || request->all_hosts || !request->allow.empty() ||
               !request->addresses.empty()) {
      request = absl::InvalidArgumentError("an automation request names no hosts or addresses");
    }
  }
  if (!request.ok()) {
    ctx_.log->logRefusal(
        "operator:" + op.name, "", "",
        absl::StrFormat("automation request refused: %s", request.status().message()));
  }
  return request;
}

absl::StatusOr<std::uint64_t> OperatorService::logSignedRequest(const OperatorRecord& op,
                                                                const Request& request,
                                                                const std::string& bytes,
                                                                const std::string& signature,
                                                                const std::string& host_id) {
  LogEntry e;
  e.type = entry_type::kRequest;
  e.actor = "operator:" + op.name;
  e.host_id = host_id;
  e.ref = request.id;
  e.body = bytes;
  e.signature = signature;
  auto logged = ctx_.log->appendEntry(e);
  if (!logged.ok()) {
    return absl::UnavailableError(
        absl::StrFormat("the action log refused the request: %s", logged.status().message()));
  }
  return logged;
}

grpc::Status OperatorService::ListApprovals(grpc::ServerContext* ctx,
                                            const v1::ListApprovalsRequest*,
                                            v1::ListApprovalsResponse* resp) {
  auto op = authz_.authorize(ctx, "ListApprovals");
  if (!op.ok()) return toGrpc(op.status());
  auto rows = alert_store_.pendingApprovals(nowUnixMs(), kMaxApprovalsListed);
  if (!rows.ok()) return toGrpc(rows.status());
  for (const auto& r : *rows) {
    *resp->add_pending() = alertView(r);
    resp->add_expires_unix_ms(r.received_ms + r.approval_ttl_ms);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::SettleApproval(grpc::ServerContext* ctx,
                                             const v1::SettleApprovalRequest* req,
                                             v1::SubmitResponse* resp) {
  auto op = authz_.authorize(ctx, "SettleApproval");
  if (!op.ok()) return toGrpc(op.status());
  const std::string actor = "operator:" + op->name;
  auto request =
      automationRequest(*op, req->request(), req->request_signature(), {kApproveKind, kRejectKind});
  if (!request.ok()) return toGrpc(request.status());
  const bool approve = request->kind == kApproveKind;
  auto decision_id = decisionArg(*request);
  absl::StatusOr<AlertDecisionRecord> row =
      decision_id.ok() ? alert_store_.findDecision(*decision_id)
                       : absl::StatusOr<AlertDecisionRecord>(decision_id.status());
  const std::int64_t now = nowUnixMs();
  if (row.ok()) {
    if (row->outcome != decision::kPendingApproval) {
      row = absl::FailedPreconditionError(
          absl::StrFormat("decision %s is %s (%s), not waiting for approval", row->decision_id,
                          row->outcome, row->reason));
    } else if (!row->approval.empty()) {
      row = absl::FailedPreconditionError(absl::StrFormat(
          "decision %s was already %s by %s", row->decision_id, row->approval, row->approval_by));
    } else if (auto logged = automation_.checkLogged(*row); !logged.ok()) {
      row = logged;
    } else if (now >= row->received_ms + row->approval_ttl_ms) {
      row = absl::FailedPreconditionError(absl::StrFormat(
          "decision %s expired unapproved at %s UTC: it counts as rejected (the alert must fire "
          "again, or act by hand)",
          row->decision_id,
          absl::FormatTime("%Y-%m-%d %H:%M:%S",
                           absl::FromUnixMillis(row->received_ms + row->approval_ttl_ms),
                           absl::UTCTimeZone())));
    }
  } else if (absl::IsNotFound(row.status())) {
    row = absl::InvalidArgumentError(row.status().message());
  }
  if (!row.ok()) {
    ctx_.log->logRefusal(actor, "", request->id,
                         absl::StrFormat("request %s (%s) refused: %s", request->id, request->kind,
                                         row.status().message()));
    return toGrpc(row.status());
  }
  std::vector<std::string> ids;
  {
    std::shared_lock<std::shared_mutex> identity(ctx_.identity_mu);
    if (auto still = authz_.stillAuthorized(*op, "SettleApproval"); !still.ok()) {
      return toGrpc(still);
    }
    if (auto logged =
            logSignedRequest(*op, *request, req->request(), req->request_signature(), row->host);
        !logged.ok()) {
      return toGrpc(logged.status());
    }
    auto settled = alert_store_.settleApproval(row->decision_id, approve ? "approved" : "rejected",
                                               op->name, request->id, now);
    if (!settled.ok()) return toGrpc(settled.status());
    if (!*settled) {
      return toGrpc(absl::FailedPreconditionError(
          absl::StrFormat("decision %s was settled by someone else meanwhile", row->decision_id)));
    }
  }
  logInfo("operator %s %s decision %s (%s on %s)", op->name, approve ? "approved" : "rejected",
          row->decision_id, row->action, row->host);
  if (!approve) return grpc::Status::OK;
  auto created = automation_.dispatchApproved(*row, request->id);
  if (!created.ok()) return toGrpc(created.status());
  for (const auto& a : *created) ids.push_back(a.id);
  if (auto waited = waitForActions(ctx, ids, req->wait_ms(), resp); !waited.ok()) {
    return toGrpc(waited);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::SetBreaker(grpc::ServerContext* ctx, const v1::SetBreakerRequest* req,
                                         v1::BreakerState* resp) {
  auto op = authz_.authorize(ctx, "SetBreaker");
  if (!op.ok()) return toGrpc(op.status());
  auto request = automationRequest(*op, req->request(), req->request_signature(),
                                   {kBreakerOpenKind, kBreakerCloseKind});
  if (!request.ok()) return toGrpc(request.status());
  if (!request->args.empty()) {
    return toGrpc(absl::InvalidArgumentError("the breaker takes no arguments"));
  }
  const bool open = request->kind == kBreakerOpenKind;
  {
    std::shared_lock<std::shared_mutex> identity(ctx_.identity_mu);
    if (auto still = authz_.stillAuthorized(*op, "SetBreaker"); !still.ok()) return toGrpc(still);
    if (auto logged = logSignedRequest(*op, *request, req->request(), req->request_signature(), "");
        !logged.ok()) {
      return toGrpc(logged.status());
    }
    const std::int64_t now = nowUnixMs();
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{Automation::kBreakerMeta, open ? "open" : "closed"},
          {std::string(Automation::kBreakerMeta) + "_by", op->name},
          {std::string(Automation::kBreakerMeta) + "_ms", std::to_string(now)}}) {
      if (auto s = ctx_.registry().setMeta(key, value); !s.ok()) return toGrpc(s);
    }
  }
  logWarning("operator %s %s the automation breaker", op->name, open ? "opened" : "closed");
  return GetBreaker(ctx, nullptr, resp);
}

grpc::Status OperatorService::GetBreaker(grpc::ServerContext* ctx, const v1::GetBreakerRequest*,
                                         v1::BreakerState* resp) {
  auto op = authz_.authorize(ctx, "GetBreaker");
  if (!op.ok()) return toGrpc(op.status());
  resp->set_open(automation_.breakerOpen());
  const std::string key = Automation::kBreakerMeta;
  if (auto by = ctx_.registry().meta(key + "_by"); by.ok()) resp->set_changed_by(*by);
  if (auto ms = ctx_.registry().meta(key + "_ms"); ms.ok()) {
    resp->set_changed_unix_ms(std::strtoll(ms->c_str(), nullptr, 10));
  }
  return grpc::Status::OK;
}

}  // namespace warden
