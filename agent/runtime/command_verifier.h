// Decides whether the agent may act on a command: signed by the pinned controller command
// key, addressed to this host, not expired, not issued in the future, of a known kind.
// (Replays are answered from the receipt store before execution, never executed twice.)
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/command.h"

namespace warden {

struct CommandTrust {
  std::string command_public_key;  // raw Ed25519, pinned at enrollment
  std::string host_id;
  std::string log_vkey;  // note verifier key of the controller's action log, pinned at enrollment
  std::int64_t max_clock_skew_ms = 5 * 60 * 1000;
};

absl::StatusOr<Command> verifyCommand(const std::string& command_bytes,
                                      const std::string& signature, const CommandTrust& trust,
                                      std::int64_t now_unix_ms);

}  // namespace warden
