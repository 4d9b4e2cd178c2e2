// "Log before act": what rides along with a dispatched command so the agent can check it was
// logged first, and that check.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace warden {

// What rides along with a dispatched command so the agent can check it was logged first.
struct DispatchProof {
  std::string checkpoint;  // signed note
  std::uint64_t index = 0;
  std::string entry;               // the DISPATCH log entry (canonical bytes)
  std::vector<std::string> proof;  // RFC 9162 inclusion proof (raw 32-byte hashes)
};

// OK only when `proof.checkpoint` is signed by `log_vkey`, `proof.entry` is a DISPATCH entry
// whose body is exactly `command` (and whose signature is `signature`), and the inclusion proof
// puts that entry at `index` in the checkpoint's tree. The error says which check failed.
absl::Status verifyDispatchProof(std::string_view log_vkey, std::string_view command,
                                 std::string_view signature, const DispatchProof& proof);

}  // namespace warden
