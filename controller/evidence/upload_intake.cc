#include "controller/evidence/upload_intake.h"

#include <cstdlib>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/authz.h"
#include "controller/evidence/chunk_pipeline.h"
#include "controller/evidence/manifest.h"
#include "controller/rpc_status.h"

namespace warden {
namespace {

constexpr std::size_t kMaxEvidenceChunk = 1 << 20;
constexpr int kMaxEvidencePerAction = 64;  // ids ACTION-1 .. ACTION-64 (collect: ACTION-1)

}  // namespace

struct EvidenceIntake::Upload {
  HostRecord host;
  ActionRecord action;
  Compression compression = Compression::kNone;
};

grpc::Status EvidenceIntake::uploadState(grpc::ServerContext* ctx, const v1::UploadRef& req,
                                         v1::UploadState* resp) {
  auto up = uploadingAction(ctx, req.command_id(), req.evidence_id());
  if (!up.ok()) return toGrpc(up.status());
  EvidenceStore& store = *ctx_.evidence;
  auto rp = store.begin(req.evidence_id(), up->compression, /*stream=*/false);
  if (rp.status().code() == absl::StatusCode::kAlreadyExists) {
    auto done = store.find(req.evidence_id());
    if (!done.ok()) return toGrpc(done.status());
    auto manifest = store.manifest(req.evidence_id());
    if (!manifest.ok()) return toGrpc(manifest.status());
    resp->set_complete(true);
    resp->set_size(done->record.size);
    resp->set_sha256(done->record.controller_sha256);
    resp->set_manifest_sha256(done->record.manifest_sha256);
    resp->set_immutable(done->record.immutable);
    resp->set_manifest(manifest->first);
    resp->set_manifest_signature(manifest->second);
    return grpc::Status::OK;
  }
  if (!rp.ok()) return toGrpc(rp.status());
  store.end(req.evidence_id());
  resp->set_offset(rp->offset);
  resp->set_prefix_sha256(rp->prefix_sha256);
  return grpc::Status::OK;
}

absl::Status EvidenceIntake::claimSlot(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(slots_mu_);
  // UNAVAILABLE: the agent retries (RESOURCE_EXHAUSTED means a full evidence disk).
  if (uploads_running_ >= kMaxConcurrentUploads) {
    return absl::UnavailableError(
        absl::StrFormat("%d evidence uploads are running; try again later", kMaxConcurrentUploads));
  }
  // One host cannot take every slot (a compromised one might try).
  if (uploads_by_host_[host_id] >= kMaxUploadsPerHost) {
    return absl::UnavailableError(
        absl::StrFormat("%s already has %d evidence uploads running; try again later", host_id,
                        kMaxUploadsPerHost));
  }
  ++uploads_running_;
  ++uploads_by_host_[host_id];
  return absl::OkStatus();
}

void EvidenceIntake::releaseSlot(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(slots_mu_);
  --uploads_running_;
  if (--uploads_by_host_[host_id] == 0) uploads_by_host_.erase(host_id);
}

grpc::Status EvidenceIntake::upload(grpc::ServerContext* ctx,
                                    grpc::ServerReader<v1::EvidenceChunk>* reader,
                                    v1::UploadResult* result) {
  v1::EvidenceChunk m;
  if (!reader->Read(&m)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty evidence upload");
  }
  auto up = uploadingAction(ctx, m.command_id(), m.evidence_id());
  if (!up.ok()) return toGrpc(up.status());
  const std::string id = m.evidence_id();
  const std::string host_id = up->host.host_id;
  if (auto slot = claimSlot(host_id); !slot.ok()) return toGrpc(slot);
  absl::Cleanup release_slot = [&] { releaseSlot(host_id); };
  EvidenceStore& store = *ctx_.evidence;
  auto rp = store.begin(id, up->compression, /*stream=*/true, host_id);
  if (!rp.ok()) return toGrpc(rp.status());
  absl::Cleanup end = [&] { store.end(id); };
  if (m.offset() != rp->offset) {
    return toGrpc(absl::FailedPreconditionError(
        absl::StrFormat("evidence %s: the controller holds %d bytes; resume there, not at %d", id,
                        rp->offset, m.offset())));
  }
  // Two stages, so receiving (TLS, protobuf) and storing (chunk hash, content hash, write)
  // use two cores: this thread reads the stream, a worker checks and stores, a few chunks
  // apart at most.
  ChunkPipeline pipe(store, id, host_id);
  bool ended_with_last = false;
  for (;;) {
    if (m.evidence_id() != id || m.data().size() > kMaxEvidenceChunk) {
      return toGrpc(absl::InvalidArgumentError("evidence chunk for another id, or too large"));
    }
    store.noteArrival(id, m.data().size(), m.source_size());
    if (m.last()) {
      ended_with_last = true;
      break;
    }
    if (!pipe.push(std::move(m))) break;  // the worker failed: its error is the answer
    m = v1::EvidenceChunk();
    if (!reader->Read(&m)) break;
  }
  auto stored = pipe.finish();
  if (!stored.ok()) {
    if (stored.status().code() == absl::StatusCode::kResourceExhausted) {
      logWarning("evidence %s from %s refused: %s", id, host_id, stored.status().message());
    }
    return toGrpc(stored.status());
  }
  const std::uint64_t held = *stored;
  if (ended_with_last) return finishUpload(*up, m, result);
  // The stream ended without its last message: what arrived is kept (and synced by finish()
  // above), resumable.
  result->set_received(held);
  logWarning("evidence %s from %s: stream ended at %d bytes; resumable", id, host_id, held);
  return grpc::Status(grpc::StatusCode::ABORTED,
                      absl::StrFormat("evidence %s incomplete at %d bytes", id, held));
}

// The agent on the other end, if `command_id` is an unfinished evidence action of its host
// and `evidence_id` belongs to it.
absl::StatusOr<EvidenceIntake::Upload> EvidenceIntake::uploadingAction(
    grpc::ServerContext* ctx, const std::string& command_id, const std::string& evidence_id) {
  WARDEN_ASSIGN_OR_RETURN(PeerIdentity id, peerIdentity(ctx));
  const std::optional<std::string> agent = agentHostId(id);
  if (!agent) return absl::PermissionDeniedError("only agents upload evidence");
  Upload up;
  WARDEN_ASSIGN_OR_RETURN(up.host, ctx_.registry().findHost(*agent));
  if (!up.host.holdsCertificate(id.fingerprint)) {
    return absl::PermissionDeniedError("certificate was replaced or revoked");
  }
  auto action = ctx_.registry().findAction(command_id);
  if (!action.ok() || action->host_id != up.host.host_id ||
      (action->kind != "image" && action->kind != "collect") || action->finished()) {
    return absl::PermissionDeniedError(absl::StrFormat("%s has no unfinished evidence action %s",
                                                       up.host.host_id, command_id.substr(0, 64)));
  }
  // ACTION-n, n from 1: one per source the action names (one bundle for collect), so an agent
  // cannot make up items the operator did not ask for.
  const std::string suffix =
      evidence_id.rfind(command_id + "-", 0) == 0 ? evidence_id.substr(command_id.size() + 1) : "";
  const int limit = action->kind == "collect" ? 1 : kMaxEvidencePerAction;
  if (!EvidenceStore::validId(evidence_id) || suffix.empty() || suffix.size() > 2 ||
      suffix.find_first_not_of("0123456789") != std::string::npos || suffix[0] == '0' ||
      std::atoi(suffix.c_str()) > limit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid evidence id '%s'", evidence_id.substr(0, 80)));
  }
  up.action = std::move(*action);
  for (absl::string_view arg : absl::StrSplit(up.action.params, ' ')) {
    if (arg == "compress=zstd") up.compression = Compression::kZstd;
  }
  return up;
}

grpc::Status EvidenceIntake::finishUpload(const Upload& up, const v1::EvidenceChunk& m,
                                          v1::UploadResult* result) {
  if (auto v =
          crypto::ed25519Verify(up.host.receipt_public_key, m.manifest(), m.manifest_signature());
      !v.ok()) {
    return toGrpc(absl::PermissionDeniedError("the evidence manifest's signature does not verify"));
  }
  // The manifest must describe this item: its id, action and hash.
  auto manifest = readManifest(m.manifest());
  if (!manifest.ok()) return toGrpc(manifest.status());
  if (manifest->evidence_id != m.evidence_id() || manifest->action_id != m.command_id() ||
      manifest->sha256 != crypto::hex(m.total_sha256())) {
    return toGrpc(
        absl::InvalidArgumentError("the evidence manifest names another item, action or hash"));
  }
  EvidenceRecord record;
  record.source = manifest->source_path;
  record.action_id = up.action.id;
  record.host_id = up.host.host_id;
  record.operator_name = up.action.requested_by;
  record.kind = up.action.kind;
  auto stored = ctx_.evidence->finish(m.evidence_id(), m.total_size(), m.total_sha256(),
                                      m.manifest(), m.manifest_signature(), record);
  if (!stored.ok()) {
    logError("evidence %s from %s: %s", m.evidence_id(), up.host.host_id,
             stored.status().message());
    return toGrpc(stored.status());
  }
  logInfo("evidence %s from %s stored: %d bytes, sha256 %s, %s%s", stored->id, up.host.host_id,
          stored->size, crypto::hex(stored->controller_sha256), stored->stored_name,
          stored->immutable ? ", immutable" : "");
  result->set_received(stored->size);
  result->set_complete(true);
  result->set_sha256(stored->controller_sha256);
  result->set_immutable(stored->immutable);
  return grpc::Status::OK;
}

}  // namespace warden
