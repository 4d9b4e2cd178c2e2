#include "common/heartbeat.h"

#include "absl/strings/str_format.h"
#include "common/canonical.h"
#include "common/status.h"

namespace warden {

std::string encodeHeartbeat(const HeartbeatRecord& h) {
  return canonicalRecord("heartbeat", h.version, h.host_id, h.seq, h.sent_unix_ms, h.interval_ms,
                         h.ruleset_sha256, h.ruleset_error);
}

absl::StatusOr<HeartbeatRecord> decodeHeartbeat(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader rd, CanonicalReader::open(bytes, "heartbeat"));
  HeartbeatRecord h;
  WARDEN_RETURN_IF_ERROR(rd.version(h.version, kHeartbeatVersion, "heartbeat"));
  WARDEN_RETURN_IF_ERROR(rd.fields(h.host_id, h.seq, h.sent_unix_ms, h.interval_ms,
                                   h.ruleset_sha256, h.ruleset_error));
  WARDEN_RETURN_IF_ERROR(rd.done());
  return h;
}

absl::StatusOr<SignedHeartbeatBytes> signHeartbeat(const HeartbeatRecord& h,
                                                   const crypto::Ed25519Key& key) {
  SignedHeartbeatBytes out;
  out.bytes = encodeHeartbeat(h);
  WARDEN_ASSIGN_OR_RETURN(out.signature, key.sign(out.bytes));
  return out;
}

absl::StatusOr<HeartbeatRecord> verifyHeartbeat(std::string_view public_key, std::string_view bytes,
                                                std::string_view signature,
                                                const std::string& host_id) {
  WARDEN_RETURN_IF_ERROR(crypto::ed25519Verify(public_key, bytes, signature));
  WARDEN_ASSIGN_OR_RETURN(HeartbeatRecord h, decodeHeartbeat(bytes));
  if (h.host_id != host_id) {
    return absl::PermissionDeniedError("heartbeat names another host");
  }
  if (h.interval_ms < kMinHeartbeatIntervalMs || h.interval_ms > kMaxHeartbeatIntervalMs) {
    return absl::InvalidArgumentError(
        absl::StrFormat("heartbeat interval %d ms out of bounds", h.interval_ms));
  }
  return h;
}

}  // namespace warden
