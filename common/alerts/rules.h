// Alert rules (DESIGN.md "Automation"): which alerts contain which host, how, and the
// guardrails around all of it. An admin writes them in YAML and applies them as a signed
// request (`warden rules apply`), so the exact text of every version is in the log; the
// controller and the offline verifier parse that text with this same code.
//
//   rules:
//     - name: ssh-bruteforce
//       format: alertmanager          # alertmanager | falco | json; omitted: any
//       senders: [prometheus-prod]    # named sources; omitted: any
//       match: ['alertname="SSHBruteForce"', 'severity=~"critical|page"']
//       host_from: [hostname, instance]
//       action: isolate               # isolate | kill-sessions | block | collect
//       with: {allow: ["198.51.100.7:22"]}
//       mode: enforce                 # dry-run (default) | approve | enforce
//   guardrails: {window: 10m, max_isolations: 3, ...}
//   notify: [{url: https://...}]
//
// Parsing is strict: an unknown key, a wrong type, a bad matcher, duration, address or action
// argument is an error naming its line and column ("line 7, column 9: ..."), and a file with
// any error is refused whole. Refused too: YAML anchors, aliases, tags and a second document
// (rules_yaml.h says why), `with: {for: ...}` (timed release does not exist yet), and actions
// shutdown and image, which are never automated.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/alerts/alert.h"
#include "common/alerts/matcher.h"

namespace warden {

inline constexpr std::size_t kMaxRulesFileBytes = 256 * 1024;
inline constexpr std::size_t kMaxRules = 256;

enum class RuleMode { kDryRun, kApprove, kEnforce };
const char* ruleModeName(RuleMode m);  // "dry-run", "approve", "enforce"

struct AlertRule {
  std::string name;                    // unique in the file; [a-z0-9][a-z0-9._-]{0,63}
  int line = 0;                        // where the rule starts in the file (1-based), for messages
  std::vector<AlertFormat> formats;    // empty: any format
  std::vector<std::string> senders;    // empty: any source
  std::vector<Matcher> match;          // all must hold; empty matches everything
  std::vector<std::string> host_from;  // label names, in order of precedence; at least one
  std::string action;                  // isolate | kill-sessions | block | collect
  // The action's arguments, checked: isolate: allow (AllowEntry text, as `--allow`);
  // kill-sessions: user_from (a label name); block: address_from (a label name).
  std::vector<std::string> allow;
  std::string user_from;
  std::string address_from;
  RuleMode mode = RuleMode::kDryRun;
};

// The defaults are DESIGN.md's; durations in milliseconds.
struct Guardrails {
  std::int64_t window_ms = 10 * 60 * 1000;
  std::uint32_t max_isolations = 3;
  std::uint32_t max_hosts_per_alert = 3;
  std::uint32_t max_blocks = 20;
  std::int64_t cooldown_ms = 30 * 60 * 1000;
  std::int64_t dedupe_ms = 60 * 60 * 1000;
  std::int64_t max_alert_age_ms = 60 * 60 * 1000;
  std::int64_t approval_ttl_ms = 60 * 60 * 1000;
  std::vector<std::string> protected_hosts;
  std::vector<std::string> never_block;  // canonical IpPrefix text
};

struct NotifyTarget {
  std::string url;  // https:// only
};

struct RuleSet {
  std::vector<AlertRule> rules;
  Guardrails guardrails;
  std::vector<NotifyTarget> notify;
};

// Parses and checks a rules file. Errors name the line and column.
absl::StatusOr<RuleSet> parseRules(std::string_view yaml);

}  // namespace warden
