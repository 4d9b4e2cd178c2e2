#include "controller/alerts/alert_store.h"

#include "absl/strings/str_format.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS alert_sources(
  name TEXT PRIMARY KEY, token_sha256 TEXT UNIQUE NOT NULL, cert_fingerprint TEXT NOT NULL,
  created_ms INTEGER NOT NULL, created_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rule_versions(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT UNIQUE NOT NULL, yaml TEXT NOT NULL,
  applied_by TEXT NOT NULL, applied_ms INTEGER NOT NULL, log_index INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alerts(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT UNIQUE NOT NULL, source TEXT NOT NULL,
  format TEXT NOT NULL, receiver TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
  labels TEXT NOT NULL, received_ms INTEGER NOT NULL, alert_log_index INTEGER NOT NULL,
  decision_id TEXT NOT NULL, rules_version TEXT NOT NULL, rule TEXT NOT NULL, host TEXT NOT NULL,
  outcome TEXT NOT NULL, reason TEXT NOT NULL, action TEXT NOT NULL, why TEXT NOT NULL,
  request_id TEXT NOT NULL, action_id TEXT NOT NULL, dedupe_key TEXT NOT NULL,
  decision_log_index INTEGER NOT NULL, approval_ttl_ms INTEGER NOT NULL DEFAULT 0,
  approval TEXT NOT NULL DEFAULT '', approval_by TEXT NOT NULL DEFAULT '',
  approval_request TEXT NOT NULL DEFAULT '', approval_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS alerts_pending ON alerts(outcome, approval, received_ms);
CREATE INDEX IF NOT EXISTS alerts_dedupe ON alerts(dedupe_key, received_ms);
CREATE INDEX IF NOT EXISTS alerts_acted ON alerts(outcome, action, received_ms);
CREATE INDEX IF NOT EXISTS alerts_host ON alerts(host, outcome, received_ms);
)sql";

constexpr char kAlertColumns[] =
    "seq, alert_id, source, format, receiver, fingerprint, status, labels, received_ms, "
    "alert_log_index, decision_id, rules_version, rule, host, outcome, reason, action, why, "
    "request_id, action_id, dedupe_key, decision_log_index, approval_ttl_ms, approval, "
    "approval_by, approval_request, approval_ms";

AlertDecisionRecord readAlert(const Statement& st) {
  AlertDecisionRecord a;
  a.seq = st.integer(0);
  a.alert_id = st.text(1);
  a.source = st.text(2);
  a.format = st.text(3);
  a.receiver = st.text(4);
  a.fingerprint = st.text(5);
  a.status = st.text(6);
  a.labels_json = st.text(7);
  a.received_ms = st.integer(8);
  a.alert_log_index = static_cast<std::uint64_t>(st.integer(9));
  a.decision_id = st.text(10);
  a.rules_version = st.text(11);
  a.rule = st.text(12);
  a.host = st.text(13);
  a.outcome = st.text(14);
  a.reason = st.text(15);
  a.action = st.text(16);
  a.why = st.text(17);
  a.request_id = st.text(18);
  a.action_id = st.text(19);
  a.dedupe_key = st.text(20);
  a.decision_log_index = static_cast<std::uint64_t>(st.integer(21));
  a.approval_ttl_ms = st.integer(22);
  a.approval = st.text(23);
  a.approval_by = st.text(24);
  a.approval_request = st.text(25);
  a.approval_ms = st.integer(26);
  return a;
}

absl::StatusOr<AlertSourceRecord> oneSource(Statement& st, const char* what) {
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return absl::NotFoundError(absl::StrFormat("no alert source with that %s", what));
  return AlertSourceRecord{st.text(0), st.text(1), st.text(2), st.integer(3), st.text(4)};
}

}  // namespace

absl::StatusOr<std::unique_ptr<AlertStore>> AlertStore::open(const std::string& db_path) {
  WARDEN_ASSIGN_OR_RETURN(auto db, Database::open(db_path, Database::Sync::kNormal));
  WARDEN_RETURN_IF_ERROR(db->exec(kSchema));
  return std::unique_ptr<AlertStore>(new AlertStore(std::move(db)));
}

absl::Status AlertStore::synced(absl::FunctionRef<absl::Status()> write) {
  WARDEN_RETURN_IF_ERROR(db_->exec("PRAGMA synchronous=FULL"));
  absl::Status st = write();
  if (auto back = db_->exec("PRAGMA synchronous=NORMAL"); st.ok()) st = back;
  return st;
}

absl::Status AlertStore::addSource(const AlertSourceRecord& s) {
  std::lock_guard<std::mutex> lock(mu_);
  {
    WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT 1 FROM alert_sources WHERE name = ?"));
    st.bind(1, s.name);
    WARDEN_ASSIGN_OR_RETURN(bool taken, st.step());
    if (taken) {
      return absl::AlreadyExistsError(absl::StrFormat("alert source %s already exists", s.name));
    }
  }
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("INSERT INTO alert_sources(name, token_sha256, "
                                                "cert_fingerprint, created_ms, created_by) "
                                                "VALUES(?, ?, ?, ?, ?)"));
  return synced([&] {
    return st.bind(1, s.name)
        .bind(2, s.token_sha256)
        .bind(3, s.cert_fingerprint)
        .bind(4, s.created_ms)
        .bind(5, s.created_by)
        .run();
  });
}

absl::StatusOr<AlertSourceRecord> AlertStore::sourceByToken(const std::string& token_sha256) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT name, token_sha256, cert_fingerprint, "
                                                "created_ms, created_by FROM alert_sources "
                                                "WHERE token_sha256 = ?"));
  st.bind(1, token_sha256);
  return oneSource(st, "token");
}

absl::StatusOr<AlertSourceRecord> AlertStore::sourceByCertificate(const std::string& fingerprint) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fingerprint.empty()) return absl::NotFoundError("no client certificate");
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT name, token_sha256, cert_fingerprint, "
                                                "created_ms, created_by FROM alert_sources "
                                                "WHERE cert_fingerprint = ?"));
  st.bind(1, fingerprint);
  return oneSource(st, "certificate");
}

absl::StatusOr<std::vector<AlertSourceRecord>> AlertStore::listSources() {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT name, token_sha256, cert_fingerprint, "
                                                "created_ms, created_by FROM alert_sources "
                                                "ORDER BY name"));
  std::vector<AlertSourceRecord> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back({st.text(0), st.text(1), st.text(2), st.integer(3), st.text(4)});
  }
  return out;
}

absl::Status AlertStore::addRulesVersion(const RulesVersionRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("INSERT INTO rule_versions(version, yaml, "
                                                "applied_by, applied_ms, log_index) "
                                                "VALUES(?, ?, ?, ?, ?)"));
  return synced([&] {
    return st.bind(1, r.version)
        .bind(2, r.yaml)
        .bind(3, r.applied_by)
        .bind(4, r.applied_ms)
        .bind(5, static_cast<std::int64_t>(r.log_index))
        .run();
  });
}

absl::StatusOr<RulesVersionRecord> AlertStore::currentRules() {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT version, yaml, applied_by, applied_ms, "
                                                "log_index FROM rule_versions "
                                                "ORDER BY seq DESC LIMIT 1"));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return absl::NotFoundError("no rules have been applied");
  return RulesVersionRecord{st.text(0), st.text(1), st.text(2), st.integer(3),
                            static_cast<std::uint64_t>(st.integer(4))};
}

absl::Status AlertStore::addAlert(const AlertDecisionRecord& a) { return addAlerts({a}); }

absl::Status AlertStore::addAlerts(const std::vector<AlertDecisionRecord>& rows) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_RETURN_IF_ERROR(db_->exec("BEGIN IMMEDIATE"));
  absl::Status st = [&]() -> absl::Status {
    for (const AlertDecisionRecord& a : rows) {
      WARDEN_ASSIGN_OR_RETURN(auto ins, db_->prepare(absl::StrFormat(
                                            "INSERT OR IGNORE INTO alerts(%s) VALUES(NULL, ?, ?, "
                                            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                                            "?, ?, ?, '', '', '', 0)",
                                            kAlertColumns)));
      WARDEN_RETURN_IF_ERROR(ins.bind(1, a.alert_id)
                                 .bind(2, a.source)
                                 .bind(3, a.format)
                                 .bind(4, a.receiver)
                                 .bind(5, a.fingerprint)
                                 .bind(6, a.status)
                                 .bind(7, a.labels_json)
                                 .bind(8, a.received_ms)
                                 .bind(9, static_cast<std::int64_t>(a.alert_log_index))
                                 .bind(10, a.decision_id)
                                 .bind(11, a.rules_version)
                                 .bind(12, a.rule)
                                 .bind(13, a.host)
                                 .bind(14, a.outcome)
                                 .bind(15, a.reason)
                                 .bind(16, a.action)
                                 .bind(17, a.why)
                                 .bind(18, a.request_id)
                                 .bind(19, a.action_id)
                                 .bind(20, a.dedupe_key)
                                 .bind(21, static_cast<std::int64_t>(a.decision_log_index))
                                 .bind(22, a.approval_ttl_ms)
                                 .run());
    }
    return absl::OkStatus();
  }();
  if (!st.ok()) {
    (void)db_->exec("ROLLBACK");
    return st;
  }
  if (auto c = db_->exec("COMMIT"); !c.ok()) {
    (void)db_->exec("ROLLBACK");
    return c;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::uint64_t>>> AlertStore::decisionsFrom(
    std::uint64_t log_index) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT decision_id, decision_log_index FROM "
                                                "alerts WHERE decision_log_index >= ?"));
  st.bind(1, static_cast<std::int64_t>(log_index));
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.emplace_back(st.text(0), static_cast<std::uint64_t>(st.integer(1)));
  }
  return out;
}

absl::Status AlertStore::removeDecision(const std::string& decision_id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("DELETE FROM alerts WHERE decision_id = ?"));
  return st.bind(1, decision_id).run();
}

absl::StatusOr<AlertDecisionRecord> AlertStore::findDecision(const std::string& decision_id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st,
      db_->prepare(absl::StrFormat("SELECT %s FROM alerts WHERE decision_id = ?", kAlertColumns)));
  st.bind(1, decision_id);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return absl::NotFoundError(absl::StrFormat("no decision %s", decision_id));
  return readAlert(st);
}

absl::StatusOr<bool> AlertStore::settleApproval(const std::string& decision_id,
                                                const std::string& approval, const std::string& by,
                                                const std::string& request, std::int64_t at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("UPDATE alerts SET approval = ?, approval_by = ?, "
                                                "approval_request = ?, approval_ms = ? WHERE "
                                                "decision_id = ? AND outcome = 'pending-approval' "
                                                "AND approval = ''"));
  WARDEN_RETURN_IF_ERROR(synced([&] {
    return st.bind(1, approval)
        .bind(2, by)
        .bind(3, request)
        .bind(4, at_ms)
        .bind(5, decision_id)
        .run();
  }));
  return db_->changes() == 1;
}

absl::StatusOr<std::vector<AlertDecisionRecord>> AlertStore::pendingApprovals(std::int64_t now_ms,
                                                                              int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(absl::StrFormat(
                   "SELECT %s FROM alerts WHERE outcome = 'pending-approval' AND approval = '' "
                   "AND received_ms + approval_ttl_ms > ? ORDER BY seq LIMIT ?",
                   kAlertColumns)));
  st.bind(1, now_ms).bind(2, static_cast<std::int64_t>(limit));
  std::vector<AlertDecisionRecord> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(readAlert(st));
  }
  return out;
}

absl::Status AlertStore::setActionId(const std::string& decision_id, const std::string& action_id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("UPDATE alerts SET action_id = ? WHERE decision_id = ?"));
  return st.bind(1, action_id).bind(2, decision_id).run();
}

absl::StatusOr<std::vector<AlertDecisionRecord>> AlertStore::listAlerts(int limit,
                                                                        std::int64_t before_seq) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(absl::StrFormat(
                   "SELECT %s FROM alerts WHERE (? = 0 OR seq < ?) ORDER BY seq DESC LIMIT ?",
                   kAlertColumns)));
  st.bind(1, before_seq).bind(2, before_seq).bind(3, static_cast<std::int64_t>(limit));
  std::vector<AlertDecisionRecord> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(readAlert(st));
  }
  return out;
}

absl::StatusOr<std::uint64_t> AlertStore::lastDecisionLogIndex() {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("SELECT COALESCE(MAX(decision_log_index), 0) FROM alerts"));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  return row ? static_cast<std::uint64_t>(st.integer(0)) : 0;
}

absl::StatusOr<bool> AlertStore::decidedSince(const std::string& dedupe_key,
                                              std::int64_t since_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st,
      db_->prepare("SELECT 1 FROM alerts WHERE dedupe_key = ? AND received_ms >= ? LIMIT 1"));
  st.bind(1, dedupe_key).bind(2, since_ms);
  return st.step();
}

absl::StatusOr<std::uint32_t> AlertStore::actedSince(const std::string& action,
                                                     std::int64_t since_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT COUNT(*) FROM alerts WHERE outcome = "
                                                "'acted' AND action = ? AND received_ms >= ?"));
  st.bind(1, action).bind(2, since_ms);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  return row ? static_cast<std::uint32_t>(st.integer(0)) : 0u;
}

absl::StatusOr<std::optional<std::int64_t>> AlertStore::lastActedOn(const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT MAX(received_ms) FROM alerts WHERE host = "
                                                "? AND outcome = 'acted'"));
  st.bind(1, host);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row || st.isNull(0)) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(st.integer(0));
}

absl::StatusOr<std::optional<std::int64_t>> AlertStore::lastReleaseOf(const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT MAX(created_ms) FROM actions WHERE "
                                                "host_id = ? AND kind = 'release'"));
  st.bind(1, host);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row || st.isNull(0)) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(st.integer(0));
}

}  // namespace warden
