// A release the agent made on its own (DESIGN.md "Network containment semantics"): the end of
// `isolate --for DURATION`, which the agent enforces with or without a controller. The agent
// signs it with its receipt key and sends it when it next reaches the controller, which logs it
// as the body of an "agent-release" entry; `warden audit verify` checks that the isolation it
// ends was dispatched to that host with a duration, and that it ends once.
//
// Canonical bytes (common/canonical.h, tag "warden/agent-release"): the tag keeps it from ever
// passing for a receipt, heartbeat or renewal signed by the same key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

inline constexpr std::uint64_t kAgentReleaseVersion = 1;

// Why the agent released by itself.
inline constexpr char kTimedRelease[] = "timed";  // the isolation's --for ran out

struct AgentRelease {
  std::uint64_t version = kAgentReleaseVersion;
  std::string host_id;
  std::string cause;                  // kTimedRelease
  std::string command_id;             // the isolate command whose duration ran out
  std::int64_t deadline_unix_ms = 0;  // when it was due (the host's clock)
  std::int64_t released_unix_ms = 0;  // when the agent released (the host's clock)
  bool released = false;              // false: the release failed, `message` says why
  std::string message;                // at most kMaxAgentReleaseMessage bytes
  // SHA-256 hex of Warden's rules in force after it (what heartbeats report from then on).
  std::string installed_sha256;
};

inline constexpr std::size_t kMaxAgentReleaseMessage = 1024;

std::string encodeAgentRelease(const AgentRelease& r);
// Strict: the tag, version 1, every field, nothing after; a known cause.
absl::StatusOr<AgentRelease> decodeAgentRelease(std::string_view bytes);

// The isolate argument that bounds the isolation: "for_ms=N", N milliseconds from when the
// agent applied it, within [kMinIsolateForMs, kMaxIsolateForMs].
inline constexpr std::int64_t kMinIsolateForMs = 1000;
inline constexpr std::int64_t kMaxIsolateForMs = 30LL * 24 * 3600 * 1000;
// The duration in an isolate command's arguments: 0 when there is none,
// InvalidArgument when the arguments are anything but at most one valid for_ms.
absl::StatusOr<std::int64_t> isolateForMs(const std::vector<std::string>& args);

}  // namespace warden
