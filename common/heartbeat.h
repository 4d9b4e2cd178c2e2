// The agent's signed heartbeat: proof, every few seconds, that the agent still runs and which
// rules it has in force. Canonical bytes (common/canonical.h, tag "warden/heartbeat") signed
// with the agent's receipt key; the distinct tag keeps a heartbeat from ever passing for a
// receipt. The controller judges a host by them (controller/health/host_health.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/crypto/ed25519.h"

namespace warden {

inline constexpr std::uint64_t kHeartbeatVersion = 1;
// The interval an agent may claim: a peer must not be able to make "unresponsive" mean never.
inline constexpr std::uint64_t kMinHeartbeatIntervalMs = 200;
inline constexpr std::uint64_t kMaxHeartbeatIntervalMs = 300'000;

struct HeartbeatRecord {
  std::uint64_t version = kHeartbeatVersion;
  std::string host_id;
  std::uint64_t seq = 0;  // increases by one per heartbeat of an agent process
  std::int64_t sent_unix_ms = 0;
  std::uint64_t interval_ms = 0;  // when the next one is due
  // SHA-256 hex of Warden's own firewall objects as read back now: the same digest the
  // containment receipts carry as `installed_sha256`.
  std::string ruleset_sha256;
  std::string ruleset_error;  // why the digest could not be taken; then ruleset_sha256 is ""
};

std::string encodeHeartbeat(const HeartbeatRecord& h);
absl::StatusOr<HeartbeatRecord> decodeHeartbeat(std::string_view bytes);

struct SignedHeartbeatBytes {
  std::string bytes;
  std::string signature;
};

absl::StatusOr<SignedHeartbeatBytes> signHeartbeat(const HeartbeatRecord& h,
                                                   const crypto::Ed25519Key& key);
// The heartbeat in `bytes` if `signature` verifies under `public_key` and it names `host_id`
// with an interval in bounds; an error otherwise (nothing of it is to be trusted then).
absl::StatusOr<HeartbeatRecord> verifyHeartbeat(std::string_view public_key, std::string_view bytes,
                                                std::string_view signature,
                                                const std::string& host_id);

}  // namespace warden
