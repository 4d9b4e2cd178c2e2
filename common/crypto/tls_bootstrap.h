// The one TLS connection Warden makes without verifying its peer: an enrolling agent fetches
// the certificate chain the controller presents, to find the CA certificate whose fingerprint
// its join token pins.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::crypto {

// Connects to host:port with TLS 1.3 *without* verifying the peer and returns the
// certificate chain the server presented (leaf first), PEM. Used once, at enrollment, to
// fetch the CA certificate whose fingerprint the join token pins; the caller must check that
// fingerprint before trusting anything.
absl::StatusOr<std::vector<std::string>> fetchPeerChain(std::string_view host, std::uint16_t port,
                                                        absl::Duration timeout);

}  // namespace warden::crypto
