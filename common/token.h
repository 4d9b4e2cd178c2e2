// One-time join tokens. A token carries a random id, a random secret and the SHA-256
// fingerprint of the controller's CA certificate, so an enrolling agent authenticates the
// controller on first contact (no trust on first use), as kubeadm's discovery hash does.
//   wdn1.<id: 16 hex>.<secret: base64url of 32 bytes>.<CA fingerprint: 64 hex>
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

struct JoinToken {
  std::string id;
  std::string secret;          // raw bytes
  std::string ca_fingerprint;  // lower-case hex
  std::string toString() const;
  static absl::StatusOr<JoinToken> parse(std::string_view text);
  static absl::StatusOr<JoinToken> generate(const std::string& ca_fingerprint);
};

}  // namespace warden
