#include "common/duration.h"

#include <cstdlib>

#include "absl/strings/str_format.h"

namespace warden {

absl::StatusOr<absl::Duration> parseDuration(const std::string& text) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid duration '%s' (examples: 90s, 15m, 24h, 7d)", text));
  };
  absl::Duration d;
  const std::string& t = text;
  // absl has no days; accept a whole number of days on its own (1 to 99999, no overflow).
  if (t.size() > 1 && t.back() == 'd' && t.find_first_not_of("0123456789") == t.size() - 1) {
    const int days = t.size() <= 6 ? std::atoi(t.c_str()) : 0;
    if (days <= 0) return invalid();
    return absl::Hours(24) * days;
  }
  // absl also accepts "inf"; a duration here must be finite and positive.
  if (!absl::ParseDuration(t, &d) || d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return invalid();
  }
  return d;
}

}  // namespace warden
