// Streams one evidence source to the controller (issue 5): asks where the transfer stands,
// checks that its own bytes before that point hash the same (the device did not change), then
// reads (a reader thread, O_DIRECT), hashes and sends 1 MiB chunks from there, overlapping the
// three, and ends with the sizes, hashes and a manifest signed with the agent's receipt key.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/os/evidence_source.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/hash.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden {

struct UploadOptions {
  double rate_bytes_per_second = 0;  // 0: as fast as possible
  std::size_t read_size = 4 << 20;   // one device read
  std::size_t chunk_size = 1 << 20;  // one message
  std::string host_id;
  std::string requested_by;  // the operator who asked (from the signed command)
  std::string agent_version;
  // Set (by the agent stopping): the upload ends at the next chunk with Cancelled, resumable.
  const std::atomic<bool>* cancel = nullptr;
  // Called after every chunk with (bytes done, total).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct UploadOutcome {
  bool complete = false;
  std::uint64_t size = 0;
  std::string sha256;             // raw, what the agent read
  std::string controller_sha256;  // raw, what the controller stored
  bool immutable = false;
  std::uint64_t resumed_from = 0;  // bytes the controller already held
  std::vector<EvidenceReadError> read_errors;
  std::string manifest;         // JSON, as signed (empty when the controller had it already)
  std::string manifest_sha256;  // raw, of the manifest the controller stores
};

absl::StatusOr<UploadOutcome> uploadEvidence(v1::AgentChannel::StubInterface& stub,
                                             EvidenceSource& source, const std::string& command_id,
                                             const std::string& evidence_id,
                                             const crypto::Ed25519Key& key,
                                             const UploadOptions& options);

}  // namespace warden
