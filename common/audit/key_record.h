// A public key and what it is for: the body of the log's key, operator (genesis) and
// enrollment entries.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

inline constexpr std::uint64_t kKeyRecordVersion = 1;

struct KeyRecord {
  std::uint64_t version = kKeyRecordVersion;
  std::string purpose;           // "command", "log", "operator", "agent"
  std::string subject;           // "controller", the operator's name or the host id
  std::string role;              // operators: admin, responder, auditor
  std::string public_key;        // raw 32-byte Ed25519 key (log: the note verifier key text)
  std::string cert_fingerprint;  // TLS certificate bound to the identity, if any
};

std::string encodeKeyRecord(const KeyRecord& k);
absl::StatusOr<KeyRecord> decodeKeyRecord(std::string_view bytes);

}  // namespace warden
