// The `warden` operator CLI. main() only calls runCli(); everything here is testable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::cli {

// Exit codes (DESIGN.md, CLI contract).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitNotAuthorised = 3;
inline constexpr int kExitPending = 4;

int runCli(int argc, char** argv);

// "90s", "15m", "24h", "7d", "1h30m".
absl::StatusOr<absl::Duration> parseDuration(const std::string& text);

}  // namespace warden::cli
