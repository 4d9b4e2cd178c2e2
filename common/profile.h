// An operator profile: everything the `warden` CLI needs to reach the controller as one
// operator — controller address, the CA to trust, the operator's client certificate and key,
// and the operator's Ed25519 signing key. A secret: written with mode 0600.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace warden {

struct OperatorProfile {
  std::string controller;  // HOST:PORT
  std::string name;        // operator name
  std::string role;        // admin, responder, auditor
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string signing_key_pem;
};

absl::StatusOr<OperatorProfile> loadProfile(const std::string& path);
// Written atomically (temp file, fsync, rename) with `mode`: a renewal rewrites a profile with
// the mode it had.
absl::Status saveProfile(const std::string& path, const OperatorProfile& profile,
                         unsigned mode = 0600);

}  // namespace warden
