// Durations as operators type them (warden --ttl, --timeout, isolate --for; warden-controller
// --*-validity).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden {

// "90s", "15m", "24h", "7d", "1h30m".
absl::StatusOr<absl::Duration> parseDuration(const std::string& text);

}  // namespace warden
