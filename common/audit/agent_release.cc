#include "common/audit/agent_release.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "common/canonical.h"
#include "common/status.h"

namespace warden {

std::string encodeAgentRelease(const AgentRelease& r) {
  return canonicalRecord("agent-release", r.version, r.host_id, r.cause, r.command_id,
                         r.deadline_unix_ms, r.released_unix_ms,
                         std::uint64_t{r.released ? 1u : 0u}, r.message, r.installed_sha256);
}

absl::StatusOr<AgentRelease> decodeAgentRelease(std::string_view bytes) {
  AgentRelease r;
  std::uint64_t released = 0;
  WARDEN_RETURN_IF_ERROR(readCanonicalRecord(bytes, "agent-release", "agent release",
                                             kAgentReleaseVersion, r.version, r.host_id, r.cause,
                                             r.command_id, r.deadline_unix_ms, r.released_unix_ms,
                                             released, r.message, r.installed_sha256));
  if (released > 1) return absl::InvalidArgumentError("agent release: released is not 0 or 1");
  r.released = released == 1;
  if (r.cause != kTimedRelease) {
    return absl::InvalidArgumentError(
        absl::StrFormat("agent release: unknown cause '%s'", r.cause.substr(0, 40)));
  }
  return r;
}

absl::StatusOr<std::int64_t> isolateForMs(const std::vector<std::string>& args) {
  std::int64_t ms = 0;
  for (const auto& a : args) {
    std::int64_t v = 0;
    if (!a.starts_with("for_ms=") || ms != 0 || !absl::SimpleAtoi(a.substr(7), &v) ||
        a.size() > 7 + 12 || a.find_first_not_of("0123456789", 7) != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid isolate argument '%s'", a.substr(0, 40)));
    }
    if (v < kMinIsolateForMs || v > kMaxIsolateForMs) {
      return absl::InvalidArgumentError(
          absl::StrFormat("an isolation's duration must be between 1 s and 30 days, not %d ms", v));
    }
    ms = v;
  }
  return ms;
}

}  // namespace warden
