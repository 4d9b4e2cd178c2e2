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
  const std::size_t total = v.size();
  std::size_t used = 0;
  while (!v.empty() && out.size() < limit) {
    const std::size_t n = utf8Length(v);  // RFC 3629 §4; 0 when invalid
    const unsigned char c = static_cast<unsigned char>(v[0]);
    const unsigned char c1 = n > 1 ? static_cast<unsigned char>(v[1]) : 0;
    const unsigned char c2 = n > 2 ? static_cast<unsigned char>(v[2]) : 0;
    // C1 controls (U+0080-U+009F) and bidi overrides (U+202A-U+202E, U+2066-U+2069) rewrite
    // what a terminal shows as well as C0 controls do; a newline would forge a log line.
    const bool c1_control = n == 2 && c == 0xC2 && c1 <= 0x9F;
    const bool bidi =
        n == 3 && c == 0xE2 &&
        ((c1 == 0x80 && c2 >= 0xAA && c2 <= 0xAE) || (c1 == 0x81 && c2 >= 0xA6 && c2 <= 0xA9));
    if (n == 0 || (n == 1 && (c < 0x20 || c == 0x7f)) || c1_control || bidi) {
      const std::size_t k = n == 0 ? 1 : n;
      for (std::size_t i = 0; i < k; ++i) {
        absl::StrAppendFormat(&out, "\\x%02x", static_cast<unsigned char>(v[i]));
      }
      v.remove_prefix(k);
      used += k;
    } else {
      if (n == 1 && c == '\\') {
        out += "\\\\";
      } else {
        out.append(v.substr(0, n));
      }
      v.remove_prefix(n);
      used += n;
    }
  }
  if (used < total) absl::StrAppendFormat(&out, "... (%d more bytes)", total - used);
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
