#include "controller/renewal/challenges.h"

#include "common/audit/cert_renewal.h"
#include "common/crypto/hash.h"

namespace warden {

absl::StatusOr<RenewalChallenges::Issued> RenewalChallenges::issue(const std::string& subject,
                                                                   absl::Time now) {
  auto bytes = crypto::randomBytes(kRenewalChallengeBytes);
  if (!bytes.ok()) return bytes.status();
  std::lock_guard<std::mutex> lock(mu_);
  // Forget what expired or was consumed, oldest first; then make room.
  while (!order_.empty()) {
    auto it = by_challenge_.find(order_.front());
    const bool gone = it == by_challenge_.end() || it->second.expires <= now;
    if (!gone && by_challenge_.size() < kMaxOutstanding) break;
    if (it != by_challenge_.end()) by_challenge_.erase(it);
    order_.pop_front();
  }
  by_challenge_[*bytes] = Entry{subject, now + kLifetime};
  order_.push_back(*bytes);
  return Issued{*std::move(bytes), now + kLifetime};
}

absl::Status RenewalChallenges::consume(const std::string& subject, const std::string& challenge,
                                        absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_challenge_.find(challenge);
  if (it == by_challenge_.end()) {
    return absl::PermissionDeniedError(
        "unknown or already used renewal challenge: ask for a new one");
  }
  const Entry entry = it->second;
  by_challenge_.erase(it);
  if (entry.subject != subject) {
    return absl::PermissionDeniedError("the renewal challenge was issued for another identity");
  }
  if (entry.expires <= now) {
    return absl::PermissionDeniedError("the renewal challenge expired: ask for a new one");
  }
  return absl::OkStatus();
}

std::size_t RenewalChallenges::outstanding() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_challenge_.size();
}

}  // namespace warden
