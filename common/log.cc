#include "common/log.h"

#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace warden {

void logLine(std::string_view level, std::string_view message) {
  static std::mutex mu;
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "%s %s %.*s\n", ts.c_str(), std::string(level).c_str(),
               static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
}

}  // namespace warden
