// Actions and blocks as operators see them: where each command stands (queued, delivered,
// finished, expired) with what its verified receipt says, and the fleet-wide blocks in force.
#include <algorithm>
#include <string>

#include "common/command.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {

v1::Action OperatorService::actionView(const ActionRecord& a) {
  v1::Action out;
  out.set_id(a.id);
  out.set_host_id(a.host_id);
  out.set_kind(a.kind);
  out.set_state(a.state);
  out.set_requested_by(a.requested_by);
  out.set_reason(a.reason);
  out.set_created_unix_ms(a.created_ms);
  out.set_expires_unix_ms(a.expires_ms);
  out.set_finished_unix_ms(a.finished_ms);
  out.set_message(a.message);
  out.set_params(a.params);
  out.set_log_index(a.log_index);
  if (!a.receipt.empty()) {
    if (auto r = decodeReceipt(a.receipt); r.ok()) {
      for (const auto& [k, v] : r->details) (*out.mutable_details())[k] = v;
      out.set_receipt_verified(true);  // only verified receipts are ever stored
    }
  }
  return out;
}

grpc::Status OperatorService::ListActions(grpc::ServerContext* ctx,
                                          const v1::ListActionsRequest* req,
                                          v1::ListActionsResponse* resp) {
  auto op = authz_.authorize(ctx, "ListActions");
  if (!op.ok()) return toGrpc(op.status());
  const int limit = req->limit() == 0 ? 100 : std::min<int>(req->limit(), 10000);
  if (!req->host_id().empty()) {
    if (auto h = ctx_.registry().findHost(req->host_id()); !h.ok()) return toGrpc(h.status());
  }
  auto actions = ctx_.registry().listActions(req->host_id(), limit);
  if (!actions.ok()) return toGrpc(actions.status());
  for (auto& a : *actions) {
    showExpiry(a);
    *resp->add_actions() = actionView(a);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::GetAction(grpc::ServerContext* ctx, const v1::GetActionRequest* req,
                                        v1::Action* resp) {
  auto op = authz_.authorize(ctx, "GetAction");
  if (!op.ok()) return toGrpc(op.status());
  auto a = ctx_.registry().findAction(req->id());
  if (!a.ok()) return toGrpc(a.status());
  showExpiry(*a);
  *resp = actionView(*a);
  return grpc::Status::OK;
}

grpc::Status OperatorService::ListBlocks(grpc::ServerContext* ctx, const v1::ListBlocksRequest*,
                                         v1::ListBlocksResponse* resp) {
  auto op = authz_.authorize(ctx, "ListBlocks");
  if (!op.ok()) return toGrpc(op.status());
  auto blocks = ctx_.registry().fleetBlocks();
  if (!blocks.ok()) return toGrpc(blocks.status());
  for (const auto& b : *blocks) {
    auto* out = resp->add_blocks();
    out->set_address(b[0]);
    out->set_created_by(b[1]);
    out->set_created_unix_ms(std::stoll(b[2]));
    out->set_reason(b[3]);
  }
  return grpc::Status::OK;
}

}  // namespace warden
