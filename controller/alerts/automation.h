// Where a received alert becomes a logged decision and, when the rules and guardrails allow
// it, an automated action (DESIGN.md "Automation"). Decisions are made one at a time: each
// sees every earlier one (budgets, dedupe, cooldown), and the log holds them in
// that order, so the offline verifier re-derives each decision exactly as it was made.
//
// For each alert: its ALERT entry, the decision (common/alerts/decide.h) and its DECISION entry,
// then for an `acted` decision a REQUEST signed by the automation key naming both, dispatched
// like an operator's. Every entry is durable before receive() returns, so the intake's 2xx
// means the alerts and their decisions are in the log.
//
// Throughput: requests are decided in batches by a leader (receive()): every request queued
// when it starts, in order; their entries take their places in the log at once
// (ActionLog::enqueueInOrder) and their rows go into the store in one transaction. Then the
// next leader decides the next batch while this one's entries are written, so they can share
// a commit. The next decisions see rows whose entries are not durable yet; if those entries
// are lost (an append fails), the log fails every entry queued behind them too, and before anything
// is decided again the store is made to match the log (settle()): rows never logged are dropped,
// decisions logged but not stored are added. At start, catchUpFromLog does the same after a crash.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/alerts/alert.h"
#include "common/alerts/rules.h"
#include "common/audit/automation_record.h"
#include "controller/action_log.h"
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

  // OK when the log holds the decision `row` names (an approval must follow a logged
  // decision); FailedPrecondition when its entry was never written.
  absl::Status checkLogged(const AlertDecisionRecord& row);

  // `warden breaker open`: every automated action needs approval until it is closed. Kept in
  // the registry (meta kBreakerMeta), so it holds across restarts.
  static constexpr char kBreakerMeta[] = "automation_breaker";
  bool breakerOpen();

 private:
  struct Rules {
    std::string version;
    std::shared_ptr<const RuleSet> set;
  };
  // One alert as decided: its ALERT and DECISION records and its store row.
  struct Decided {
    AlertRecord alert;
    DecisionRecord decision;
    AlertDecisionRecord row;
  };
  struct Job;
  class History;
  Rules rules();
  // The deciding leader's work for the requests queued (receive()): settles the store if
  // needed, decides each request's alerts in order, places all their entries in the log at
  // once and stores their rows. The ticket to wait for, or none (each job's status says why).
  std::optional<ActionLog::Ticket> decideJobs(const std::vector<Job*>& jobs);
  // Waits for the jobs' entries to be durable; a failure goes to every job.
  void finishJobs(const std::vector<Job*>& jobs, ActionLog::Ticket& ticket);
  // Decides every alert of a request, in order, each seeing the ones decided before it.
  absl::Status decideAll(Job& job, History& history);
  // Before deciding (the deciding leader only): after a failed append or store write, waits
  // for the requests in flight and makes the store match the log.
  absl::Status settle();
  // Drops stored decisions from log index `from` on whose entries are not in the log.
  absl::Status dropUnlogged(std::uint64_t from);
  // Whether the log holds decision `decision_id` at `index` (false: past the end, or another
  // entry there); an error when the log cannot be read.
  absl::StatusOr<bool> logHolds(const std::string& decision_id, std::uint64_t index);
  // The automated request for an acted decision: logged, planned and dispatched.
  absl::StatusOr<std::string> act(const DecisionRecord& d, std::vector<ActionRecord>* created,
                                  const std::string& approval_request = "");
  absl::StatusOr<DecisionRecord> decisionRecordAt(std::uint64_t index);

  ControllerContext& ctx_;
  AlertStore& store_;
  Dispatcher& dispatcher_;
  RequestPolicy policy_;
  // Requests waiting to be decided; whether a leader is deciding (receive()).
  std::mutex jobs_mu_;
  std::deque<Job*> jobs_;  // guarded by jobs_mu_
  bool deciding_ = false;  // guarded by jobs_mu_
  // ActionLog::failures() the store was last settled with; only the deciding leader uses it.
  std::uint64_t failures_seen_ = 0;
  // Requests decided and stored, not yet known durable; whether the store must be settled, and
  // from which log index rows may be missing from the log.
  std::mutex flight_mu_;
  std::condition_variable flight_cv_;
  int in_flight_ = 0;                         // guarded by flight_mu_
  bool store_behind_ = false;                 // guarded by flight_mu_
  std::uint64_t unlogged_from_ = UINT64_MAX;  // guarded by flight_mu_
  std::mutex rules_mu_;
  Rules rules_;  // guarded by rules_mu_
};

}  // namespace warden
