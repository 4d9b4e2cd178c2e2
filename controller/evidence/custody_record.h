// The controller's chain-of-custody record of a complete evidence item (ID.record in the
// store, see store.h): who asked, which action and host, what arrived (sizes, both hashes, the
// stored file's own hash), when, and how (streams, bytes on the wire). One line of JSON,
// schema warden-evidence-record/1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

// How an item's content is stored.
enum class Compression { kNone, kZstd };

std::string_view compressionName(Compression c);

struct EvidenceRecord {
  std::string id;
  std::string action_id;
  std::string host_id;
  std::string operator_name;      // who requested the action
  std::string kind;               // "image", "collect"
  std::string source;             // the device or file on the host
  std::uint64_t size = 0;         // content bytes
  std::string agent_sha256;       // raw: what the agent read
  std::string controller_sha256;  // raw: what the controller received and hashed itself
  std::string manifest_sha256;    // raw: of the agent's manifest bytes
  std::string stored_name;        // file name in the store
  std::uint64_t stored_size = 0;  // bytes of that file (compressed size for zstd)
  std::string stored_sha256;      // raw: of that file's bytes
  Compression compression = Compression::kNone;
  bool immutable = false;
  std::int64_t started_unix_ms = 0;  // first byte received (by this controller process)
  std::int64_t finished_unix_ms = 0;
  std::uint64_t wire_bytes = 0;  // content bytes that arrived over the network, re-sends included
  std::uint32_t streams = 0;     // upload streams it took (1 + resumptions)

  std::string toJson() const;
  static absl::StatusOr<EvidenceRecord> fromJson(std::string_view json);
};

}  // namespace warden
