// What automation puts in the action log (DESIGN.md "Automation", "Provable"): each alert
// received is an ALERT entry whose body is an AlertRecord, each decision about it a DECISION
// entry whose body is a DecisionRecord. Both are attested by the checkpoints (the controller
// signs them); an automated action is then a REQUEST signed by the controller's automation key
// whose id the decision names, so `warden audit verify` re-derives every automated dispatch
// from the alert, the rules an admin applied and the guardrails in force.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

inline constexpr std::uint64_t kAlertRecordVersion = 1;
inline constexpr std::uint64_t kDecisionRecordVersion = 1;

// The operator name automated requests are made under, and their log actor.
inline constexpr char kAutomationName[] = "automation";
// The request kind an admin signs to apply a rules file (args: "rules=<the YAML text>").
inline constexpr char kApplyRulesKind[] = "apply-rules";

struct AlertRecord {
  std::uint64_t version = kAlertRecordVersion;
  std::string id;           // "al-" + 16 hex
  std::string source;       // the named source that sent it
  std::string format;       // alertmanager | falco | json
  std::string receiver;     // Alertmanager's receiver, else empty
  std::string fingerprint;  // the sender's, or the label hash (common/alerts/alert.h)
  std::string status;       // firing | resolved
  std::int64_t starts_unix_ms = 0;
  std::vector<std::string> labels;  // "name=value", sorted by name
  std::string payload_sha256;       // hex SHA-256 of the whole body it came in
  std::int64_t received_unix_ms = 0;
};

std::string encodeAlertRecord(const AlertRecord& a);
absl::StatusOr<AlertRecord> decodeAlertRecord(std::string_view bytes);

// Decision outcomes and reason codes, as DESIGN.md names them.
namespace decision {
inline constexpr char kActed[] = "acted";
inline constexpr char kDryRun[] = "dry-run";
inline constexpr char kPendingApproval[] = "pending-approval";
inline constexpr char kNoAction[] = "no-action";
}  // namespace decision

struct DecisionRecord {
  std::uint64_t version = kDecisionRecordVersion;
  std::string id;  // "d-" + 16 hex
  std::string alert_id;
  std::string rules_version;       // the apply-rules request id in force; empty if none applied
  std::string rule;                // the rule that matched; empty if none
  std::string host;                // the host it resolved to; empty if none
  std::string via;                 // the label value that named the host (cut of :port and domain)
  std::string outcome;             // acted | dry-run | pending-approval | no-action
  std::string reason;              // rule-matched, deduplicated, cooldown, ...
  std::string action;              // the rule's action (isolate, kill-sessions, block, collect)
  std::vector<std::string> allow;  // isolate: canonical allow entries
  std::vector<std::string> addresses;  // block: canonical address
  std::vector<std::string> args;       // kill-sessions: "user=NAME"
  std::string request_id;              // acted: the automated request it makes; else empty
  std::string dedupe_key;              // hex SHA-256 of (source, receiver, fingerprint, status)
  std::uint64_t group_hosts = 0;       // distinct hosts the acting rules name in the alert's group
};

std::string encodeDecisionRecord(const DecisionRecord& d);
absl::StatusOr<DecisionRecord> decodeDecisionRecord(std::string_view bytes);

// The reason an automated request carries (signed by the automation key): it names the alert
// and the decision it follows from and, for a decision that waited for a person, the operator's
// logged request that approved it; nothing else reaches the host.
std::string automatedReason(const std::string& alert_id, const std::string& decision_id,
                            const std::string& approval_request = "");

// The parts of an automated request's reason; nullopt when it is not one automatedReason() makes.
struct AutomatedReasonParts {
  std::string alert_id, decision_id, approval_request;
};
std::optional<AutomatedReasonParts> parseAutomatedReason(std::string_view reason);

// Operator requests about automation (no hosts): approving or rejecting a pending decision
// (args: "decision=d-..."), opening or closing the breaker (no args).
inline constexpr char kApproveKind[] = "approve-decision";
inline constexpr char kRejectKind[] = "reject-decision";
inline constexpr char kBreakerOpenKind[] = "breaker-open";
inline constexpr char kBreakerCloseKind[] = "breaker-close";

}  // namespace warden
