#include "common/log.h"

#include <cstdio>
#include <mutex>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"

namespace warden {

std::string escapeLogText(std::string_view v, std::size_t limit) {
  std::string out;
  while (!v.empty() && out.size() < limit) {
    const TextUnit u = nextTextUnit(v);
    if (!u.safe) {
      for (std::size_t i = 0; i < u.size; ++i) {
        absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(v[i]));
      }
    } else if (u.size == 1 && v[0] == '\\') {
      out += "\\\\";
    } else {
      out.append(v.substr(0, u.size));
    }
    v.remove_prefix(u.size);
  }
  if (!v.empty()) absl::StrAppendFormat(&out, "... (%d more bytes)", v.size());
  return out;
}

void logLine(std::string_view level, std::string_view message) {
  static std::mutex mu;
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  // One event, one line, whatever a host put in the text it is quoted in.
  const std::string text = escapeLogText(message);
  std::lock_guard<std::mutex> lock(mu);
  std::fprintf(stderr, "%s %s %s\n", ts.c_str(), std::string(level).c_str(), text.c_str());
  std::fflush(stderr);
}

}  // namespace warden
