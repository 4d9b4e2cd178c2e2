// The manifest an agent signs for each evidence item (agent/runtime/evidence_upload.cc writes
// it: JSON, schema warden-evidence-manifest/1), as far as the controller reads it: which item
// and action it describes, and the content's hash.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

struct ManifestFacts {
  std::string evidence_id;
  std::string action_id;
  std::string sha256;       // hex, as the agent hashed the content
  std::string source_path;  // the device or file on the host
};

// The facts above ("" for a field that is missing or not a string); InvalidArgument when
// `json` does not parse.
absl::StatusOr<ManifestFacts> readManifest(std::string_view json);

}  // namespace warden
