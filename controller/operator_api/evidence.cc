// Evidence as operators see it: listing (a page at a time, in order of id: paging.h), showing,
// copying out (every copy is logged: chain of custody) and re-verifying what the store holds
// (evidence/custody_check.h).
#include "absl/strings/str_format.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/evidence/custody_check.h"
#include "controller/operator_api/operator_service.h"
#include "controller/paging.h"
#include "controller/rpc_status.h"

namespace warden {

grpc::Status OperatorService::ListEvidence(grpc::ServerContext* ctx,
                                           const v1::ListEvidenceRequest* req,
                                           v1::ListEvidenceResponse* resp) {
  auto op = authz_.authorize(ctx, "ListEvidence");
  if (!op.ok()) return toGrpc(op.status());
  const std::string filters =
      absl::StrFormat("host=%s\naction=%s", req->host_id(), req->action_id());
  auto after = decodePageToken(req->page_token(), "evidence", filters);
  if (!after.ok()) return toGrpc(after.status());
  auto ids = ctx_.evidence->ids(after->has_value() ? (*after)->name : "");
  if (!ids.ok()) return toGrpc(ids.status());
  const auto progress = ctx_.evidence->progress();
  // Items are read one by one until the page is full: a page never holds more than its budget,
  // and a next page is announced only when an item for it was found.
  PageBudget budget(servedPageSize(req->page_size()));
  for (const std::string& id : *ids) {
    absl::StatusOr<StoredEvidence> e = ctx_.evidence->listed(id);
    if (!e.ok()) continue;  // gone since the directory was read
    v1::EvidenceItem item = evidenceItem(*e, progress);
    if (!req->host_id().empty() && item.host_id() != req->host_id()) continue;
    if (!req->action_id().empty() && item.action_id() != req->action_id()) continue;
    if (!budget.take(repeatedFieldBytes(item.ByteSizeLong()))) {
      resp->set_next_page_token(
          encodePageToken("evidence", filters, PageCursor{0, resp->items().rbegin()->id()}));
      break;
    }
    *resp->add_items() = std::move(item);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::ShowEvidence(grpc::ServerContext* ctx,
                                           const v1::ShowEvidenceRequest* req,
                                           v1::ShowEvidenceResponse* resp) {
  auto op = authz_.authorize(ctx, "ShowEvidence");
  if (!op.ok()) return toGrpc(op.status());
  auto item = findEvidence(req->id());
  if (!item.ok()) return toGrpc(item.status());
  *resp->mutable_item() = std::move(*item);
  if (resp->item().state() == "complete") {
    auto m = ctx_.evidence->manifest(req->id());
    if (!m.ok()) return toGrpc(m.status());
    resp->set_manifest(m->first);
    resp->set_manifest_signature(m->second);
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::GetEvidence(grpc::ServerContext* ctx,
                                          const v1::ShowEvidenceRequest* req,
                                          grpc::ServerWriter<v1::EvidenceData>* writer) {
  auto op = authz_.authorize(ctx, "GetEvidence");
  if (!op.ok()) return toGrpc(op.status());
  auto found = ctx_.evidence->find(req->id());
  if (!found.ok()) return toGrpc(found.status());
  v1::EvidenceData first;
  *first.mutable_item() = evidenceItem(*found, {});
  if (!writer->Write(first)) return grpc::Status(grpc::StatusCode::CANCELLED, "reader gone");
  // Chain of custody: every copy handed out is in the action log.
  LogEntry e;
  e.type = entry_type::kEvent;
  e.actor = "operator:" + op->name;
  e.host_id = found->record.host_id;
  e.ref = req->id();
  e.detail = absl::StrFormat("evidence %s copied out (%d bytes, sha256 %s)", req->id(),
                             found->record.size, crypto::hex(found->record.controller_sha256));
  if (auto logged = ctx_.log->appendEntry(e); !logged.ok()) return toGrpc(logged.status());
  logInfo("operator %s reads evidence %s", op->name, req->id());
  auto s = ctx_.evidence->readContent(req->id(), [&](std::string_view piece) {
    v1::EvidenceData d;
    d.set_data(piece.data(), piece.size());
    return !ctx->IsCancelled() && writer->Write(d);
  });
  return toGrpc(s);
}

grpc::Status OperatorService::VerifyEvidence(grpc::ServerContext* ctx,
                                             const v1::ShowEvidenceRequest* req,
                                             v1::VerifyEvidenceResponse* resp) {
  auto op = authz_.authorize(ctx, "VerifyEvidence");
  if (!op.ok()) return toGrpc(op.status());
  auto found = ctx_.evidence->find(req->id());
  if (!found.ok()) return toGrpc(found.status());
  *resp->mutable_item() = evidenceItem(*found, {});
  const bool all = checkCustody(*found, *ctx_.evidence, ctx_.registry(), ctx_.log->log(), resp);
  resp->set_ok(all);
  logInfo("operator %s verified evidence %s: %s", op->name, req->id(), all ? "ok" : "FAILED");
  LogEntry e;
  e.type = entry_type::kEvent;
  e.actor = "operator:" + op->name;
  e.host_id = found->record.host_id;
  e.ref = req->id();
  std::string failed;
  for (const auto& c : resp->checks()) {
    if (!c.ok()) failed += (failed.empty() ? "" : ", ") + c.name();
  }
  e.detail = all ? absl::StrFormat("evidence %s verified", req->id())
                 : absl::StrFormat("evidence %s FAILED verification: %s", req->id(), failed);
  if (auto logged = ctx_.log->appendEntry(e); !logged.ok()) return toGrpc(logged.status());
  return grpc::Status::OK;
}

v1::EvidenceItem OperatorService::evidenceItem(
    const StoredEvidence& e, const std::map<std::string, TransferProgress>& progress) {
  v1::EvidenceItem item;
  item.set_id(e.id);
  item.set_state(e.state);
  item.set_size(e.size);
  const EvidenceRecord& r = e.record;
  if (e.state == "complete") {
    item.set_action_id(r.action_id);
    item.set_host_id(r.host_id);
    item.set_kind(r.kind);
    item.set_source(r.source);
    item.set_operator_(r.operator_name);
    item.set_sha256(crypto::hex(r.controller_sha256));
    item.set_stored_name(r.stored_name);
    item.set_stored_size(r.stored_size);
    item.set_stored_sha256(crypto::hex(r.stored_sha256));
    item.set_compression(std::string(compressionName(r.compression)));
    item.set_immutable(r.immutable);
    item.set_started_unix_ms(r.started_unix_ms);
    item.set_finished_unix_ms(r.finished_unix_ms);
    item.set_wire_bytes(r.wire_bytes);
    item.set_streams(r.streams);
    item.set_manifest_sha256(crypto::hex(r.manifest_sha256));
    item.set_record_json(r.toJson());
    return item;
  }
  // In progress or given up: what the action and this process's transfer figures say.
  const std::size_t dash = e.id.rfind('-');
  const std::string action_id = dash == std::string::npos ? e.id : e.id.substr(0, dash);
  item.set_action_id(action_id);
  if (auto a = ctx_.registry().findAction(action_id); a.ok()) {
    item.set_host_id(a->host_id);
    item.set_kind(a->kind);
    item.set_operator_(a->requested_by);
    // An action that ended (or expired) without the item: it can no longer complete.
    if (e.state == "receiving" && (a->finished() || a->expires_ms <= nowUnixMs())) {
      item.set_state("incomplete");
    }
  }
  if (auto p = progress.find(e.id); p != progress.end()) {
    item.set_total(p->second.total);
    item.set_started_unix_ms(p->second.started_unix_ms);
    item.set_finished_unix_ms(p->second.updated_unix_ms);
    item.set_wire_bytes(p->second.wire_bytes);
    item.set_streams(p->second.streams);
  }
  return item;
}

absl::StatusOr<v1::EvidenceItem> OperatorService::findEvidence(const std::string& id) {
  if (!EvidenceStore::validId(id)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid evidence id '%s'", id.substr(0, 80)));
  }
  WARDEN_ASSIGN_OR_RETURN(StoredEvidence e, ctx_.evidence->lookup(id));
  return evidenceItem(e, ctx_.evidence->progress());
}

}  // namespace warden
