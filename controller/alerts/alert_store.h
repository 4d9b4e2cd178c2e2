// What automation remembers between alerts and across restarts (DESIGN.md "Automation"): the
// named sources and their token hashes, every applied rules version, and each alert with its
// decision. The guardrails' counters (budgets, dedupe, cooldown) are queries over the decisions,
// so they survive a restart with nothing else to save. Its own connection to DIR/warden.db.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "common/sqlite.h"

namespace warden {

struct AlertSourceRecord {
  std::string name;
  std::string token_sha256;      // hex; the token itself is only ever printed once
  std::string cert_fingerprint;  // a client certificate issued for the source, if any
  std::int64_t created_ms = 0;
  std::string created_by;
};

struct RulesVersionRecord {
  std::string version;  // the apply-rules request id
  std::string yaml;
  std::string applied_by;
  std::int64_t applied_ms = 0;
  std::uint64_t log_index = 0;
};

// One alert and the decision made about it.
struct AlertDecisionRecord {
  std::int64_t seq = 0;
  std::string alert_id, source, format, receiver, fingerprint, status;
  std::string labels_json;  // {"name":"value",...}
  std::int64_t received_ms = 0;
  std::uint64_t alert_log_index = 0;
  std::string decision_id, rules_version, rule, host, outcome, reason, action, why;
  std::string request_id, action_id;  // acted: the automated request and the action it made
  std::string dedupe_key;
  std::uint64_t decision_log_index = 0;
  // pending-approval: how long an operator has to approve (the rules' approval_ttl then), and
  // what became of it: "" (waiting, or expired once received_ms + approval_ttl_ms passed),
  // "approved" or "rejected", by whom, in which signed request, when.
  std::int64_t approval_ttl_ms = 0;
  std::string approval, approval_by, approval_request;
  std::int64_t approval_ms = 0;
};

class AlertStore {
 public:
  static absl::StatusOr<std::unique_ptr<AlertStore>> open(const std::string& db_path);

  absl::Status addSource(const AlertSourceRecord& s);  // AlreadyExists for a taken name
  absl::StatusOr<AlertSourceRecord> sourceByToken(const std::string& token_sha256);
  absl::StatusOr<AlertSourceRecord> sourceByCertificate(const std::string& fingerprint);
  absl::StatusOr<std::vector<AlertSourceRecord>> listSources();

  absl::Status addRulesVersion(const RulesVersionRecord& r);
  // The version in force: the last one applied. NotFound when none was.
  absl::StatusOr<RulesVersionRecord> currentRules();

  absl::Status addAlert(const AlertDecisionRecord& a);
  // Several, in one transaction: all or none.
  absl::Status addAlerts(const std::vector<AlertDecisionRecord>& rows);
  // Decisions stored with a log index at or past `log_index` (decision id, index): the ones
  // whose entries may not have reached the log (Automation repairs after a failed append).
  absl::StatusOr<std::vector<std::pair<std::string, std::uint64_t>>> decisionsFrom(
      std::uint64_t log_index);
  absl::Status removeDecision(const std::string& decision_id);
  absl::Status setActionId(const std::string& decision_id, const std::string& action_id);
  absl::StatusOr<AlertDecisionRecord> findDecision(const std::string& decision_id);
  // Approves or rejects a pending decision; false when it is not pending (any more).
  absl::StatusOr<bool> settleApproval(const std::string& decision_id, const std::string& approval,
                                      const std::string& by, const std::string& request,
                                      std::int64_t at_ms);
  // Decisions waiting for an operator and not expired at `now_ms`, oldest first.
  absl::StatusOr<std::vector<AlertDecisionRecord>> pendingApprovals(std::int64_t now_ms, int limit);
  // Newest first; at most `limit`, before `before_seq` (0: from the newest).
  absl::StatusOr<std::vector<AlertDecisionRecord>> listAlerts(int limit, std::int64_t before_seq);
  // The highest log index of a decision stored, for catching up from the log after a crash.
  absl::StatusOr<std::uint64_t> lastDecisionLogIndex();

  // The guardrails' history (common/alerts/decide.h).
  absl::StatusOr<bool> decidedSince(const std::string& dedupe_key, std::int64_t since_ms);
  absl::StatusOr<std::uint32_t> actedSince(const std::string& action, std::int64_t since_ms);
  absl::StatusOr<std::optional<std::int64_t>> lastActedOn(const std::string& host);
  // When an operator last had `host` released (the registry's actions, in the same database).
  absl::StatusOr<std::optional<std::int64_t>> lastReleaseOf(const std::string& host);

 private:
  explicit AlertStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  // Alerts and their decisions are in the action log first and rebuilt from it
  // (Automation::catchUpFromLog), so the store commits them without a sync. What is only here
  // (sources, rules versions, approvals) is committed with one. Caller holds mu_.
  absl::Status synced(absl::FunctionRef<absl::Status()> write);
  std::mutex mu_;
  std::unique_ptr<Database> db_;
};

}  // namespace warden
