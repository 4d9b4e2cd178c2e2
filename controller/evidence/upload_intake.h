// Evidence intake (DESIGN.md "Disk imaging"): agents upload the images and bundles of their
// image and collect actions here, resumably; each item is checked against the action it
// belongs to and, at its end, against the manifest the agent signed.
#pragma once

#include <grpcpp/grpcpp.h>

#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "controller/context.h"
#include "warden/v1/agent.pb.h"

namespace warden {

// Serves the agent channel's GetUploadState and UploadEvidence. At most kMaxConcurrentUploads
// transfers run at once, kMaxUploadsPerHost of them from one host: each holds a file, a zstd
// context and a thread of the server.
class EvidenceIntake {
 public:
  explicit EvidenceIntake(ControllerContext& ctx) : ctx_(ctx) {}

  // Where an item's transfer stands: complete (with the stored hashes and manifest), or the
  // offset and prefix hash to resume from.
  grpc::Status uploadState(grpc::ServerContext* ctx, const v1::UploadRef& req,
                           v1::UploadState* resp);
  // One upload stream: chunks from the offset the store holds, then a last message with the
  // total size, hash and the signed manifest. A stream that ends early leaves the item
  // resumable.
  grpc::Status upload(grpc::ServerContext* ctx, grpc::ServerReader<v1::EvidenceChunk>* reader,
                      v1::UploadResult* result);

 private:
  static constexpr int kMaxConcurrentUploads = 8;
  static constexpr int kMaxUploadsPerHost = 2;

  struct Upload;
  absl::StatusOr<Upload> uploadingAction(grpc::ServerContext* ctx, const std::string& command_id,
                                         const std::string& evidence_id);
  absl::Status claimSlot(const std::string& host_id);
  void releaseSlot(const std::string& host_id);
  grpc::Status finishUpload(const Upload& up, const v1::EvidenceChunk& m, v1::UploadResult* result);

  ControllerContext& ctx_;
  std::mutex slots_mu_;
  int uploads_running_ = 0;                     // guarded by slots_mu_
  std::map<std::string, int> uploads_by_host_;  // guarded by slots_mu_
};

}  // namespace warden
