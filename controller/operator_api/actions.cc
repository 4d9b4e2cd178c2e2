// Actions and blocks as operators see them: where each command stands (queued, delivered,
// finished, expired) with what its verified receipt says, a page at a time (paging.h), and the
// fleet-wide blocks in force.
#include <string>

#include "absl/strings/str_format.h"
#include "common/command.h"
#include "controller/operator_api/operator_service.h"
#include "controller/paging.h"
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
  if (!req->host_id().empty()) {
    if (auto h = ctx_.registry().findHost(req->host_id()); !h.ok()) return toGrpc(h.status());
  }
  // A page follows on only from a page of the same list: same host, same newest N.
  const std::string filters = absl::StrFormat("host=%s\nlimit=%d", req->host_id(), req->limit());
  auto after = decodePageToken(req->page_token(), "actions", filters);
  if (!after.ok()) return toGrpc(after.status());
  ActionPageQuery q;
  q.host_id = req->host_id();
  q.after_seq = after->has_value() ? (*after)->number : 0;
  q.newest = req->limit();
  q.with_receipts = req->view() != v1::ACTION_VIEW_BASIC;
  q.max_rows = servedPageSize(req->page_size());
  auto page = ctx_.registry().listActionsPage(q);
  if (!page.ok()) return toGrpc(page.status());
  // The registry counted stored bytes; the page is held to what it sends.
  PageBudget budget(q.max_rows);
  bool more = page->more;
  std::int64_t last = 0;
  for (ActionRow& row : page->rows) {
    showExpiry(row.action);
    v1::Action a = actionView(row.action);
    if (!q.with_receipts) a.set_receipt_verified(row.has_receipt);
    if (!budget.take(repeatedFieldBytes(a.ByteSizeLong()))) {
      more = true;
      break;
    }
    *resp->add_actions() = std::move(a);
    last = row.seq;
  }
  if (more) resp->set_next_page_token(encodePageToken("actions", filters, PageCursor{last, ""}));
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
