// Submit: every action on hosts (isolate, release, block, and the host actions) is one signed
// operator request, logged (REQUEST) before anything is dispatched, then optionally waited for
// until every host has answered.
#include <algorithm>
#include <chrono>
#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/command.h"
#include "common/log.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {
namespace {

constexpr std::uint32_t kMaxWaitMs = 10 * 60 * 1000;

}  // namespace

absl::Status OperatorService::refuseOffline(const DispatchPlan& plan) const {
  if (!plan.needs_connected_host) return absl::OkStatus();
  for (const auto& host : plan.hosts) {
    if (ctx_.sessions.find(host) == nullptr) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "host %s is not connected: %s --rotate-root seals the new root password to this CLI's "
          "one-time key, which would die with the CLI before the host came back to read the "
          "command; nothing was dispatched (lock the accounts without --rotate-root to queue it)",
          host, plan.kind));
    }
  }
  return absl::OkStatus();
}

absl::Status OperatorService::waitForActions(grpc::ServerContext* ctx,
                                             const std::vector<std::string>& ids,
                                             std::uint32_t wait_ms, v1::SubmitResponse* resp) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::min<std::uint32_t>(wait_ms, kMaxWaitMs));
  for (;;) {
    bool all_done = true;
    resp->clear_actions();
    for (const auto& id : ids) {
      auto a = ctx_.registry().findAction(id);
      if (!a.ok()) return a.status();
      all_done = all_done && a->finished();
      *resp->add_actions() = actionView(*a);
    }
    if (all_done || wait_ms == 0 || ctx->IsCancelled() ||
        std::chrono::steady_clock::now() >= deadline) {
      return absl::OkStatus();
    }
    dispatcher_.waitForFinished(
        std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200)));
  }
}

grpc::Status OperatorService::Submit(grpc::ServerContext* ctx, const v1::SubmitRequest* req,
                                     v1::SubmitResponse* resp) {
  auto op = authz_.authorize(ctx, "Submit");
  if (!op.ok()) return toGrpc(op.status());
  const std::string actor = "operator:" + op->name;
  LogWriter& log = *ctx_.log;
  auto request = policy_.verifySignedRequest(*op, req->request(), req->request_signature());
  if (request.ok() && !knownCommandKind(request->kind)) {
    // Only actions on hosts come through here: an incident change, rules or an approval
    // logged as a Submit would mean something to the verifier that the controller never did.
    request = absl::InvalidArgumentError(
        absl::StrFormat("unknown action '%s'", request->kind.substr(0, 40)));
  }
  if (!request.ok()) {
    logWarning("operator %s: unsigned or invalid request refused: %s", op->name,
               request.status().message());
    log.logRefusal(actor, "", "",
                   absl::StrFormat("request refused: %s", request.status().message()));
    return toGrpc(request.status());
  }
  // A fleet-wide change and an enrollment (which sends the fleet-wide blocks in force) are
  // logged one after the other, never interleaved: the log then says which blocks each
  // enrolling host was sent, and why.
  std::shared_lock<std::shared_mutex> identity(ctx_.identity_mu, std::defer_lock);
  std::unique_lock<std::shared_mutex> fleet_lock(ctx_.identity_mu, std::defer_lock);
  if (request->all_hosts) {
    fleet_lock.lock();
  } else {
    identity.lock();
  }
  // Authorised before waiting for the lock; revoked in the meantime means refused.
  if (auto still = authz_.stillAuthorized(*op, "Submit"); !still.ok()) {
    log.logRefusal(actor, "", request->id,
                   absl::StrFormat("request %s refused: %s", request->id, still.message()));
    return toGrpc(still);
  }
  LogEntry e;
  e.type = entry_type::kRequest;
  e.actor = actor;
  e.ref = request->id;
  e.body = req->request();
  e.signature = req->request_signature();
  if (auto logged = log.appendEntry(e); !logged.ok()) {
    logError("operator %s: request %s not logged, refused: %s", op->name, request->id,
             logged.status().ToString());
    return toGrpc(absl::UnavailableError(
        absl::StrFormat("the action log refused the request: %s", logged.status().message())));
  }
  ctx_.faults.afterRequestLogged();
  // Validated before anything is dispatched; after an error part way, `created` holds what was
  // logged and queued.
  std::vector<ActionRecord> created;
  absl::Status dispatched;
  if (auto plan = policy_.plan(*request); !plan.ok()) {
    dispatched = plan.status();
  } else if (auto offline = refuseOffline(*plan); !offline.ok()) {
    dispatched = offline;
  } else {
    dispatched = dispatcher_.dispatch(op->name, request->id, *plan, &created);
  }
  if (fleet_lock.owns_lock()) fleet_lock.unlock();
  if (identity.owns_lock()) identity.unlock();
  // Sent outside the lock: a host that does not read its stream holds up nobody else.
  std::vector<std::string> ids;
  for (const auto& a : created) {
    dispatcher_.deliver(a);
    ids.push_back(a.id);
  }
  if (!dispatched.ok()) {
    logWarning("operator %s: %s %s rejected: %s", op->name, request->kind,
               absl::StrJoin(request->hosts, ","), dispatched.message());
    log.logRefusal(actor, "", request->id,
                   absl::StrFormat("request %s (%s) refused: %s", request->id, request->kind,
                                   dispatched.message()));
    return toGrpc(dispatched);
  }
  // Wait for every receipt (or the deadline, or the operator giving up).
  if (auto waited = waitForActions(ctx, ids, req->wait_ms(), resp); !waited.ok()) {
    return toGrpc(waited);
  }
  return grpc::Status::OK;
}

}  // namespace warden
