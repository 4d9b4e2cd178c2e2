#include "agent/runtime/command_verifier.h"

#include <cstdint>

#include "absl/strings/str_format.h"
#include "common/crypto/ed25519.h"
#include "common/status.h"

namespace warden {

absl::StatusOr<Command> verifyCommand(const std::string& bytes, const std::string& signature,
                                      const CommandTrust& trust, std::int64_t now) {
  if (auto s = crypto::ed25519Verify(trust.command_public_key, bytes, signature); !s.ok()) {
    return absl::PermissionDeniedError(
        "command is not signed by this agent's controller (signature does not verify)");
  }
  WARDEN_ASSIGN_OR_RETURN(Command c, decodeCommand(bytes));
  if (c.host_id != trust.host_id) {
    return absl::PermissionDeniedError(
        absl::StrFormat("command is for host '%s', not '%s'", c.host_id, trust.host_id));
  }
  if (c.expires_unix_ms <= now) {
    // The difference of two int64s overflows for an expiry near INT64_MIN; as unsigned it is
    // exact (0 <= now - expires < 2^64).
    const std::uint64_t ago_ms =
        static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(c.expires_unix_ms);
    return absl::DeadlineExceededError(absl::StrFormat("command expired %d s ago", ago_ms / 1000));
  }
  if (c.issued_unix_ms > now + trust.max_clock_skew_ms) {
    return absl::PermissionDeniedError("command was issued in the future (clock skew too large)");
  }
  if (!knownCommandKind(c.kind)) {
    return absl::InvalidArgumentError(absl::StrFormat("unknown command kind '%s'", c.kind));
  }
  return c;
}

}  // namespace warden
