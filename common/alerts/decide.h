// Where an alert becomes a decision (DESIGN.md "Automation", "Decisions"): the first rule that
// matches it, the one host it names, and the guardrails in force, in one pure function. The
// controller calls it with what its store knows, `warden rules test` with an empty history, and
// `warden audit verify` re-derives each logged automated action with what the log knows, so
// all three decide exactly alike.
//
// The order is fixed and is the explanation a responder reads: deduplicated, resolved, no rule,
// which host (unknown, ambiguous), protected, the action's own inputs, dry-run, cooldown, breaker,
// approval mode, stale, too many hosts, budget, acted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/alerts/alert.h"
#include "common/alerts/rules.h"

namespace warden {

// Reason codes (DESIGN.md), plus the two that say a rule's action could not get its input.
namespace reason {
inline constexpr char kRuleMatched[] = "rule-matched";
inline constexpr char kDeduplicated[] = "deduplicated";
inline constexpr char kCooldown[] = "cooldown";
inline constexpr char kProtected[] = "protected";
inline constexpr char kNoRule[] = "no-rule";
inline constexpr char kUnknownHost[] = "unknown-host";
inline constexpr char kAmbiguousHost[] = "ambiguous-host";
inline constexpr char kBudgetExhausted[] = "budget-exhausted";
inline constexpr char kTooManyHosts[] = "too-many-hosts";
inline constexpr char kBreakerOpen[] = "breaker-open";
inline constexpr char kStale[] = "stale";
inline constexpr char kResolved[] = "resolved";
inline constexpr char kModeApprove[] = "mode-approve";
inline constexpr char kMissingLabel[] = "missing-label";  // user_from/address_from absent or bad
inline constexpr char kNeverBlock[] = "never-block";      // the address is in never_block
}  // namespace reason

// What the decision needs to know about the past, all counted at `now` (the alert's arrival).
class AutomationHistory {
 public:
  virtual ~AutomationHistory() = default;
  // A decision with this dedupe key was made at or after `since_ms`.
  virtual bool decidedSince(const std::string& dedupe_key, std::int64_t since_ms) = 0;
  // Automated actions of `action` (acted decisions) at or after `since_ms`, fleet-wide.
  virtual std::uint32_t actedSince(const std::string& action, std::int64_t since_ms) = 0;
  // The last automated action on `host` or operator release of it, if any (cooldown).
  virtual std::optional<std::int64_t> lastContainmentChange(const std::string& host) = 0;
  virtual bool breakerOpen() = 0;
};

// The enrolled hosts a label value names: by host id, or by the host's `warden.alias` label.
class HostDirectory {
 public:
  virtual ~HostDirectory() = default;
  virtual std::vector<std::string> hostsNamed(const std::string& value) = 0;
  // The host carries the label warden.protected=true.
  virtual bool protectedByLabel(const std::string&) { return false; }
};

struct AlertContext {
  std::string source;
  AlertFormat format = AlertFormat::kJson;
  std::string receiver;
  std::int64_t now_unix_ms = 0;
  // How many distinct hosts the acting rules name across the alert's whole group (its payload);
  // 0: count only this alert.
  std::uint32_t group_hosts = 0;
};

struct Decision {
  std::string rule;  // empty: none matched
  std::string host;
  std::string via;      // the label value that named it, cut
  std::string outcome;  // acted | dry-run | pending-approval | no-action
  std::string reason;   // a reason code above
  std::string action;
  std::vector<std::string> allow, addresses, args;
  std::string dedupe_key;
  std::string why;  // one sentence for people: which rule, which label, which guardrail
};

// The dedupe key of (source, receiver, fingerprint, status): hex SHA-256.
std::string dedupeKey(const std::string& source, const std::string& receiver,
                      const std::string& fingerprint, bool resolved);

// A label value as a host name: ":port" cut ("host-42:9100", "[2001:db8::1]:22"), then the
// domain ("host-42.example.org" → "host-42"); an IP address stays whole. Lower-cased.
std::string hostNameOf(const std::string& value);

// The first rule that matches `alert` as sent by `ctx.source` in `ctx.format`, or null.
const AlertRule* firstMatchingRule(const RuleSet& rules, const Alert& alert,
                                   const AlertContext& ctx);

// The host an alert names through `rule`: its first host_from label that is set. Fills
// `host`/`via` or the unknown/ambiguous reason.
struct HostPick {
  std::string host, via, reason, why;
};
HostPick pickHost(const AlertRule& rule, const Alert& alert, HostDirectory& hosts);

Decision decide(const RuleSet* rules, const Alert& alert, const AlertContext& ctx,
                AutomationHistory& history, HostDirectory& hosts);

}  // namespace warden
