// Single-use renewal challenges (DESIGN.md "The hostile host"): random bytes the controller hands
// out for one identity, which that identity's renewal must be signed over within a minute. A
// captured renewal cannot be replayed, and a host whose certificate expired proves with its
// enrolled key that it holds it now, whatever its clock says. Bounded: anyone who reaches the
// port may ask for challenges (an expired host has no certificate to show), so each identity
// holds at most kPerSubject (a new one forgets that identity's oldest: a flood aimed at one
// host never touches another's), and at most kMaxOutstanding are held in all (past that, new
// ones are refused until some expire). The issuer hands them out only for enrolled hosts and
// the calling operator, so the subjects are bounded by the fleet. Kept in memory: a restart
// only costs a renewal in flight one retry. Thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden {

class RenewalChallenges {
 public:
  static constexpr std::size_t kPerSubject = 4;
  static constexpr std::size_t kMaxOutstanding = 1 << 17;
  static constexpr absl::Duration kLifetime = absl::Seconds(60);

  struct Issued {
    std::string challenge;  // kRenewalChallengeBytes random bytes
    absl::Time expires;
  };

  // A fresh challenge for `subject` ("agent:HOST", "operator:NAME"); ResourceExhausted when
  // kMaxOutstanding are held.
  absl::StatusOr<Issued> issue(const std::string& subject, absl::Time now);
  // OK once: for a challenge issued for `subject` that has not expired. It is gone afterwards,
  // and a challenge presented for another subject is gone too (it was seen by the wrong party).
  absl::Status consume(const std::string& subject, const std::string& challenge, absl::Time now);
  std::size_t outstanding() const;

 private:
  struct Entry {
    std::string subject;
    absl::Time expires;
  };
  // Forgets `challenge` (held, of `subject`). Caller holds mu_.
  void forget(std::string challenge, std::string subject);

  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> by_challenge_;  // guarded by mu_
  // Each subject's challenges held, oldest first (at most kPerSubject).
  std::unordered_map<std::string, std::deque<std::string>> by_subject_;
  std::deque<std::string> order_;  // issue order; may hold forgotten ones, at most twice as many
};

}  // namespace warden
