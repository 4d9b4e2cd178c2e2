// What the verifier learns from the log about automation (DESIGN.md "Automation", "Provable"):
// the automation key, every rules version an admin applied, the alerts still waiting for their
// decision, the automated requests decisions promised, and the history the guardrails count
// (dedupe, budgets, cooldown). The decision rule re-derives each decision from these with the
// controller's own code (common/alerts/decide.h); an automated request must be exactly what its
// decision said.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/alerts/decide.h"
#include "common/alerts/rules.h"
#include "common/audit/automation_record.h"
#include "common/audit/verify/public_key.h"

namespace warden::audit_verify {

struct AutomationLog : public AutomationHistory {
  std::optional<PublicKey> key;
  std::unordered_map<std::string, std::shared_ptr<const RuleSet>> versions;  // by request id
  std::string current;  // the version in force ("" before the first)
  std::unordered_map<std::string, AlertRecord> undecided;    // by alert id
  std::unordered_set<std::string> alert_ids;                 // every alert's, for uniqueness
  std::unordered_map<std::string, DecisionRecord> promised;  // acted decisions, by request id
  // pending-approval decisions not yet answered, with when they expire (unix ms).
  struct Pending {
    DecisionRecord decision;
    std::int64_t expires_ms = 0;
  };
  std::unordered_map<std::string, Pending> pending;  // by decision id
  // Approved decisions whose automated request is still to come: by decision id, the approval
  // request's id and the decision.
  std::unordered_map<std::string, std::pair<std::string, DecisionRecord>> approved;
  bool breaker_open = false;
  // The guardrails' history, in the controller's terms (alert arrival times).
  std::unordered_map<std::string, std::int64_t> last_decided;          // by dedupe key
  std::map<std::string, std::vector<std::int64_t>> acted_at;           // by action, ascending
  std::unordered_map<std::string, std::int64_t> last_change;           // by host
  std::unordered_map<std::string, std::set<std::string>> group_hosts;  // by payload + arrival

  bool decidedSince(const std::string& dedupe_key, std::int64_t since_ms) override {
    auto it = last_decided.find(dedupe_key);
    return it != last_decided.end() && it->second >= since_ms;
  }
  std::uint32_t actedSince(const std::string& action, std::int64_t since_ms) override {
    auto it = acted_at.find(action);
    if (it == acted_at.end()) return 0;
    const auto& v = it->second;
    return static_cast<std::uint32_t>(v.end() - std::lower_bound(v.begin(), v.end(), since_ms));
  }
  std::optional<std::int64_t> lastContainmentChange(const std::string& host) override {
    auto it = last_change.find(host);
    if (it == last_change.end()) return std::nullopt;
    return it->second;
  }
  bool breakerOpen() override { return breaker_open; }
  void noteChange(const std::string& host, std::int64_t at_ms) {
    auto& v = last_change[host];
    v = std::max(v, at_ms);
  }
};

}  // namespace warden::audit_verify
