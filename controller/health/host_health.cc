#include "controller/health/host_health.h"

#include "absl/strings/str_format.h"

namespace warden {

std::string_view hostHealthName(HostHealth h) {
  switch (h) {
    case HostHealth::kHealthy:
      return "healthy";
    case HostHealth::kUnresponsive:
      return "unresponsive";
    case HostHealth::kTampered:
      return "tampered";
    case HostHealth::kUnknown:
      break;
  }
  return "unknown";
}

void HostHealthBook::expectRuleset(const std::string& host_id, const std::string& sha256,
                                   const std::string& action_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = hosts_[host_id];
  e.expected_sha256 = sha256;
  e.expected_action = action_id;
  e.has_expectation = true;
  // Earlier heartbeats were judged against the earlier receipt.
  e.mismatches = 0;
}

bool HostHealthBook::hasExpectation(const std::string& host_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host_id);
  return it != hosts_.end() && it->second.has_expectation;
}

void HostHealthBook::heartbeat(const HeartbeatRecord& h, std::int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  Entry& e = hosts_[h.host_id];
  e.last_ms = now_ms;
  e.interval_ms = static_cast<std::int64_t>(h.interval_ms);
  e.reported_sha256 = h.ruleset_sha256;
  e.reported_error = h.ruleset_error;
  if (e.has_expectation && h.ruleset_sha256 != e.expected_sha256) {
    ++e.mismatches;
  } else {
    e.mismatches = 0;
  }
}

void HostHealthBook::rejected(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ++hosts_[host_id].rejected;
}

std::uint64_t HostHealthBook::rejectedCount(const std::string& host_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host_id);
  return it == hosts_.end() ? 0 : it->second.rejected;
}

HostHealthView HostHealthBook::judge(const Entry& e, std::int64_t now_ms) {
  HostHealthView v;
  v.last_heartbeat_unix_ms = e.last_ms;
  v.heartbeat_interval_ms = e.interval_ms;
  const std::string rejected =
      e.rejected > 0 ? absl::StrFormat("; %d heartbeat(s) rejected", e.rejected) : "";
  if (e.last_ms == 0) {
    v.detail = "no valid heartbeat yet" + rejected;
    return v;
  }
  const std::int64_t silent = now_ms - e.last_ms;
  if (silent > kMissedIntervals * e.interval_ms) {
    v.health = HostHealth::kUnresponsive;
    v.detail = absl::StrFormat("no valid heartbeat for %.1f s (interval %.1f s)%s",
                               static_cast<double>(silent) / 1000.0,
                               static_cast<double>(e.interval_ms) / 1000.0, rejected);
    return v;
  }
  if (e.mismatches >= kMismatchesToTamper) {
    v.health = HostHealth::kTampered;
    v.detail = absl::StrFormat("rules in force %s differ from %s installed by action %s%s",
                               e.reported_sha256.empty()
                                   ? std::string("(not as applied: ") + e.reported_error + ")"
                                   : e.reported_sha256.substr(0, 16),
                               e.expected_sha256.substr(0, 16), e.expected_action, rejected);
    return v;
  }
  v.health = HostHealth::kHealthy;
  v.detail = (e.has_expectation ? "rules match action " + e.expected_action
                                : std::string("no containment receipt to compare")) +
             rejected;
  return v;
}

HostHealthView HostHealthBook::view(const std::string& host_id, std::int64_t now_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hosts_.find(host_id);
  if (it == hosts_.end()) return judge(Entry{}, now_ms);
  return judge(it->second, now_ms);
}

std::vector<HostHealthChange> HostHealthBook::changes(std::int64_t now_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<HostHealthChange> out;
  for (auto& [host, e] : hosts_) {
    HostHealthView v = judge(e, now_ms);
    if (v.health == e.reported) continue;
    out.push_back(HostHealthChange{host, e.reported, v.health, std::move(v.detail)});
    e.reported = v.health;
  }
  return out;
}

}  // namespace warden
