// Reading the action log (DESIGN.md "Action log"): its entries, its signed checkpoints, and
// inclusion proofs, for `warden audit` to export and verify offline.
#include "absl/strings/str_format.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {
namespace {

constexpr std::size_t kMaxLogReadBytes = 3 << 20;  // one ReadLog response, under the 4 MB cap
// Checkpoints one GetCheckpoint(all) answer carries (~220 bytes each): older ones are thinned.
constexpr std::size_t kMaxCheckpointsListed = 8000;

}  // namespace

grpc::Status OperatorService::ReadLog(grpc::ServerContext* ctx, const v1::ReadLogRequest* req,
                                      v1::ReadLogResponse* resp) {
  auto op = authz_.authorize(ctx, "ReadLog");
  if (!op.ok()) return toGrpc(op.status());
  const ActionLog& log = ctx_.log->log();
  const std::uint64_t size = log.size();
  resp->set_tree_size(size);
  const std::uint64_t limit = req->limit() == 0 ? 100000 : req->limit();
  std::size_t bytes = 0;
  for (std::uint64_t i = req->start(); i < size && i - req->start() < limit; ++i) {
    auto e = log.entry(i);
    if (!e.ok()) return toGrpc(e.status());
    if (bytes + e->size() > kMaxLogReadBytes && resp->entries_size() > 0) break;
    bytes += e->size();
    resp->add_entries(std::move(*e));
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::GetCheckpoint(grpc::ServerContext* ctx,
                                            const v1::GetCheckpointRequest* req,
                                            v1::GetCheckpointResponse* resp) {
  auto op = authz_.authorize(ctx, "GetCheckpoint");
  if (!op.ok()) return toGrpc(op.status());
  ActionLog& log = ctx_.log->log();
  auto cp = log.checkpoint();
  if (!cp.ok()) return toGrpc(cp.status());
  resp->set_checkpoint(*cp);
  resp->set_origin(ctx_.keys.log_origin);
  resp->set_vkey(ctx_.keys.log_vkey);
  if (req->all()) {
    auto all = log.checkpoints();
    if (!all.ok()) return toGrpc(all.status());
    // Identical re-signs once; beyond kMaxCheckpointsListed, an even spread plus the newest.
    std::vector<std::string> distinct;
    for (auto& c : *all) {
      if (distinct.empty() || distinct.back() != c) distinct.push_back(std::move(c));
    }
    const std::size_t n = distinct.size();
    const std::size_t step = n <= kMaxCheckpointsListed ? 1 : n / kMaxCheckpointsListed + 1;
    for (std::size_t i = 0; i < n; ++i) {
      if (i % step == 0 || i + 1 == n) resp->add_checkpoints(std::move(distinct[i]));
    }
  }
  return grpc::Status::OK;
}

grpc::Status OperatorService::ProveEntry(grpc::ServerContext* ctx, const v1::ProveEntryRequest* req,
                                         v1::ProveEntryResponse* resp) {
  auto op = authz_.authorize(ctx, "ProveEntry");
  if (!op.ok()) return toGrpc(op.status());
  ActionLog& log = ctx_.log->log();
  auto cp = log.checkpoint();
  if (!cp.ok()) return toGrpc(cp.status());
  auto parsed = note::parseSignedCheckpoint(*cp);
  if (!parsed.ok()) return toGrpc(parsed.status());
  if (req->index() >= parsed->size) {
    return toGrpc(absl::OutOfRangeError(
        absl::StrFormat("no entry %d: the log has %d entries", req->index(), parsed->size)));
  }
  auto entry = log.entry(req->index());
  if (!entry.ok()) return toGrpc(entry.status());
  auto proof = log.inclusionProof(req->index(), parsed->size);
  if (!proof.ok()) return toGrpc(proof.status());
  resp->set_index(req->index());
  resp->set_tree_size(parsed->size);
  resp->set_entry(*entry);
  for (auto& h : *proof) resp->add_proof(std::move(h));
  resp->set_checkpoint(*cp);
  return grpc::Status::OK;
}

}  // namespace warden
