// Where a received alert becomes a logged decision and, when the rules and guardrails allow
// it, an automated action (DESIGN.md "Automation"). One alert at a time: each decision sees
// every earlier one (budgets, dedupe, cooldown), and the log holds them in that order, so the
// offline verifier re-derives each decision exactly as it was made.
//
// For each alert: its ALERT entry, the decision (common/alerts/decide.h) and its DECISION entry,
// then for an `acted` decision a REQUEST signed by the automation key naming both, dispatched
// like an operator's. Every entry is durable before receive() returns, so the intake's 2xx
// means the alert and its decision are in the log.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/alerts/alert.h"
#include "common/alerts/rules.h"
#include "common/audit/automation_record.h"
#include "controller/alerts/alert_store.h"
#include "controller/context.h"
#include "controller/dispatch/dispatcher.h"
#include "controller/dispatch/request_policy.h"

namespace warden {

struct AlertOutcome {
  std::string alert_id, decision_id, outcome, reason, rule, host, action_id, why;
};

class Automation {
 public:
  Automation(ControllerContext& ctx, AlertStore& store, Dispatcher& dispatcher)
      : ctx_(ctx), store_(store), dispatcher_(dispatcher), policy_(ctx.keys) {}

  // At start: the rules version in force, from the store, and the store caught up with
  // decisions the log holds but a crash kept from being stored (the guardrails count them).
  absl::Status loadRules();
  absl::Status catchUpFromLog();
  // A version an admin just applied (already logged and stored).
  void useRules(const std::string& version, std::shared_ptr<const RuleSet> rules);

  absl::StatusOr<std::vector<AlertOutcome>> receive(const std::string& source,
                                                    const AlertBatch& batch,
                                                    const std::string& payload_sha256);

  // An operator approved a pending decision in their logged request `approval_request`: the
  // decided action, as the automation's request naming that approval, logged, dispatched and
  // delivered. The guardrails were the reason to ask; the approval is a person's decision.
  absl::StatusOr<std::vector<ActionRecord>> dispatchApproved(const AlertDecisionRecord& row,
                                                             const std::string& approval_request);

  // `warden breaker open`: every automated action needs approval until it is closed. Kept in
  // the registry (meta kBreakerMeta), so it holds across restarts.
  static constexpr char kBreakerMeta[] = "automation_breaker";
  bool breakerOpen();

 private:
  struct Rules {
    std::string version;
    std::shared_ptr<const RuleSet> set;
  };
  Rules rules();
  absl::StatusOr<AlertOutcome> decideOne(const std::string& source, const AlertBatch& batch,
                                         const Alert& alert, const std::string& payload_sha256,
                                         std::int64_t now, std::uint32_t group_hosts,
                                         const Rules& rules, std::vector<ActionRecord>* created);
  // The automated request for an acted decision: logged, planned and dispatched.
  absl::StatusOr<std::string> act(const DecisionRecord& d, std::vector<ActionRecord>* created,
                                  const std::string& approval_request = "");
  absl::StatusOr<DecisionRecord> decisionRecordAt(std::uint64_t index);

  ControllerContext& ctx_;
  AlertStore& store_;
  Dispatcher& dispatcher_;
  RequestPolicy policy_;
  std::mutex decide_mu_;  // one decision at a time
  std::mutex rules_mu_;
  Rules rules_;  // guarded by rules_mu_
};

}  // namespace warden
