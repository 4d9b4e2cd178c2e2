// Enrollment: turn a one-time join token into this agent's identity. The controller is
// authenticated by the CA fingerprint the token pins; the agent makes its own keys and only
// a certificate request leaves the host.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace warden {

struct EnrollOptions {
  std::string controller;  // HOST:PORT
  std::string token;
  std::string state_dir;
  std::string host_id;  // default: the host name
  std::string firewall = "auto";
};

// Returns the enrolled host id.
absl::StatusOr<std::string> enrollAgent(const EnrollOptions& options);

}  // namespace warden
