#include "controller/renewal/challenges.h"

#include <algorithm>

#include "common/audit/cert_renewal.h"
#include "common/crypto/hash.h"

namespace warden {

void RenewalChallenges::forget(std::string challenge, std::string subject) {
  // (Copies: the caller's may live in the entry erased here.)
  by_challenge_.erase(challenge);
  auto it = by_subject_.find(subject);
  if (it == by_subject_.end()) return;
  std::deque<std::string>& held = it->second;
  held.erase(std::remove(held.begin(), held.end(), challenge), held.end());
  if (held.empty()) by_subject_.erase(it);
}

absl::StatusOr<RenewalChallenges::Issued> RenewalChallenges::issue(const std::string& subject,
                                                                   absl::Time now) {
  auto bytes = crypto::randomBytes(kRenewalChallengeBytes);
  if (!bytes.ok()) return bytes.status();
  std::lock_guard<std::mutex> lock(mu_);
  // Forget what expired, oldest first (and drop the order's record of what went already).
  while (!order_.empty()) {
    auto it = by_challenge_.find(order_.front());
    if (it != by_challenge_.end() && it->second.expires > now) break;
    if (it != by_challenge_.end()) forget(order_.front(), it->second.subject);
    order_.pop_front();
  }
  // What eviction left behind in the order: compacted before it outgrows what is held, so a
  // flood at one host behind another's live challenge cannot grow it without bound.
  if (order_.size() > 2 * by_challenge_.size() + 64) {
    std::erase_if(order_, [&](const std::string& c) { return !by_challenge_.contains(c); });
  }
  std::deque<std::string>& held = by_subject_[subject];
  if (held.size() >= kPerSubject) {
    forget(held.front(), subject);
  } else if (by_challenge_.size() >= kMaxOutstanding) {
    if (held.empty()) by_subject_.erase(subject);
    return absl::ResourceExhaustedError(
        "too many certificate renewals under way: ask again in a minute");
  }
  by_challenge_[*bytes] = Entry{subject, now + kLifetime};
  by_subject_[subject].push_back(*bytes);
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
  forget(challenge, entry.subject);
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
