// Daemon logging: one line per event on stderr (journald adds the rest). Library code
// returns errors; only daemons and the CLI log them.
#pragma once

#include <string_view>

#include "absl/strings/str_format.h"

namespace warden {

void logLine(std::string_view level, std::string_view message);

template <typename... Args>
void logInfo(const absl::FormatSpec<Args...>& fmt, const Args&... args) {
  logLine("info", absl::StrFormat(fmt, args...));
}
template <typename... Args>
void logWarning(const absl::FormatSpec<Args...>& fmt, const Args&... args) {
  logLine("warning", absl::StrFormat(fmt, args...));
}
template <typename... Args>
void logError(const absl::FormatSpec<Args...>& fmt, const Args&... args) {
  logLine("error", absl::StrFormat(fmt, args...));
}

}  // namespace warden
