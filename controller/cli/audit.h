// The signed action log, asked of the controller: `warden audit show|checkpoint|prove|export`.
// (`audit verify` works offline: audit_verify.h.)
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "controller/cli/client.h"

namespace warden::cli {

// Every log entry from `start` to `end` (exclusive), page by page, handed to `each` with its
// index; the first error stops it.
absl::Status forEachLogEntry(
    Client& c, std::uint64_t start, std::uint64_t end,
    const std::function<absl::Status(std::uint64_t, std::string_view)>& each);

// The timeline: the last `last` entries (0: all), or with `host` the last `last` about it.
int auditShow(const Globals& g, const std::string& host, std::uint64_t last);
// The latest signed checkpoint, as a signed note (or its fields with --json).
int auditCheckpoint(const Globals& g);
// Entry `index`'s inclusion proof, checked here against the checkpoint before it is shown.
int auditProve(const Globals& g, std::uint64_t index);
// The whole log, its checkpoints and keys in one file (`out_path`, never overwritten).
int auditExport(const Globals& g, const std::string& out_path);

}  // namespace warden::cli
