// What one agent may make the controller do per second on its stream: probe acks, events
// logged, heartbeats checked. Token buckets (rate per second, burst), one set per stream; what
// exceeds them is dropped and counted, so a hostile host can neither flood the action log nor
// keep a reader thread busy for the others.
#pragma once

#include <algorithm>
#include <cstdint>

namespace warden {

class TokenBucket {
 public:
  TokenBucket(double per_second, double burst)
      : rate_per_ms_(per_second / 1000.0), burst_(burst), tokens_(burst) {}

  // Takes one token at `now_ms` (a monotonic clock); false when none is left.
  bool take(std::int64_t now_ms) {
    if (last_ms_ != 0 && now_ms > last_ms_) {
      tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - last_ms_) * rate_per_ms_);
    }
    last_ms_ = std::max(last_ms_, now_ms);
    if (tokens_ < 1.0) {
      ++dropped_;
      return false;
    }
    tokens_ -= 1.0;
    return true;
  }
  std::uint64_t dropped() const { return dropped_; }

 private:
  const double rate_per_ms_;
  const double burst_;
  double tokens_;
  std::int64_t last_ms_ = 0;
  std::uint64_t dropped_ = 0;
};

// One agent stream's buckets. An agent probes once per containment change (again each second
// until answered), sends events when it notices something and heartbeats every few seconds:
// the rates leave room for bursts of commands and tamper repairs, and nothing more. A probe's
// answer is a few bytes and decides whether an isolation stands, so its bucket is the widest:
// an operator isolating and releasing a host ten times a second must never see a rollback.
struct PeerLimits {
  TokenBucket probes{20, 50};
  TokenBucket events{5, 50};
  TokenBucket heartbeats{5, 10};
  TokenBucket facts{1, 5};  // registry writes of the host's facts
};

}  // namespace warden
