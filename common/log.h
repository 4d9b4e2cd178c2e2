// Daemon logging: one line per event on stderr (journald adds the rest). Library code
// returns errors; only daemons and the CLI log them. Messages quote what hosts sent (argv,
// utmp, receipt text): every line is escaped and bounded, so no host can forge a line, move a
// terminal's cursor or flood the journal with one message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/strings/str_format.h"

namespace warden {

// `v` with control characters (C0, DEL, C1), bidi overrides and bytes that are not UTF-8 as
// \xNN, backslashes doubled, and cut after `limit` bytes of output with a count of the rest.
std::string escapeLogText(std::string_view v, std::size_t limit = 16 * 1024);

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
