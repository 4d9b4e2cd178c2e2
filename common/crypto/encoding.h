// Text encodings of bytes: lower-case hex, and base64 in the standard alphabet with padding
// (RFC 4648 §4) and the URL-safe one without (§5). The decoders are strict: each byte string
// has exactly one accepted encoding, so a signed value cannot be re-encoded unnoticed.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden::crypto {

// Lower-case hex.
std::string hex(std::string_view bytes);
absl::StatusOr<std::string> unhex(std::string_view text);
// Standard base64 with padding (RFC 4648 §4), and the URL-safe alphabet without padding (§5).
std::string base64(std::string_view bytes);
absl::StatusOr<std::string> unbase64(std::string_view text);
std::string base64url(std::string_view bytes);
absl::StatusOr<std::string> unbase64url(std::string_view text);

}  // namespace warden::crypto
