#include "controller/registry.h"

#include "absl/strings/str_format.h"
#include "common/command.h"
#include "common/facts_bounds.h"
#include "common/status.h"
#include "controller/registry_columns.h"

namespace warden {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operators(
  name TEXT PRIMARY KEY, role TEXT NOT NULL, cert_fingerprint TEXT NOT NULL,
  signing_public_key BLOB, created_ms INTEGER NOT NULL,
  prev_cert_fingerprint TEXT NOT NULL DEFAULT '', cert_not_after_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens(
  id TEXT PRIMARY KEY, secret_sha256 BLOB NOT NULL, host_id TEXT NOT NULL DEFAULT '',
  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, created_by TEXT NOT NULL,
  used_ms INTEGER, used_by_host TEXT);
CREATE TABLE IF NOT EXISTS hosts(
  host_id TEXT PRIMARY KEY, cert_fingerprint TEXT NOT NULL, receipt_public_key BLOB NOT NULL,
  enrolled_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL DEFAULT 0, peer TEXT NOT NULL DEFAULT '',
  facts BLOB, containment TEXT NOT NULL DEFAULT 'none',
  prev_cert_fingerprint TEXT NOT NULL DEFAULT '', cert_not_after_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS actions(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, host_id TEXT NOT NULL,
  kind TEXT NOT NULL, state TEXT NOT NULL, requested_by TEXT NOT NULL, reason TEXT NOT NULL,
  params TEXT NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL DEFAULT 0, command BLOB NOT NULL, command_signature BLOB NOT NULL,
  receipt BLOB, receipt_signature BLOB, message TEXT NOT NULL DEFAULT '',
  log_index INTEGER NOT NULL DEFAULT -1);
CREATE INDEX IF NOT EXISTS actions_by_host ON actions(host_id, seq);
CREATE TABLE IF NOT EXISTS fleet_blocks(
  address TEXT PRIMARY KEY, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,
  reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests(
  id TEXT PRIMARY KEY, operator TEXT NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS host_labels(
  host_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(host_id, key));
CREATE INDEX IF NOT EXISTS host_labels_by_value ON host_labels(key, value COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS hosts_by_name ON hosts(host_id COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS incidents(
  id TEXT PRIMARY KEY, codename TEXT UNIQUE NOT NULL, severity INTEGER NOT NULL,
  summary TEXT NOT NULL, opened_by TEXT NOT NULL, opened_ms INTEGER NOT NULL,
  open_log_index INTEGER NOT NULL, closed_by TEXT NOT NULL DEFAULT '',
  closed_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS incident_notes(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, incident TEXT NOT NULL, author TEXT NOT NULL,
  at_ms INTEGER NOT NULL, text TEXT NOT NULL, log_index INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS incident_notes_by_incident ON incident_notes(incident, seq);
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, host_id TEXT NOT NULL, kind TEXT NOT NULL,
  detail TEXT NOT NULL, at_ms INTEGER NOT NULL);
)sql";

}  // namespace

using registry_columns::kActionColumns;
using registry_columns::kHostColumns;
using registry_columns::readHost;

bool ActionRecord::finished() const {
  return state == "succeeded" || state == "failed" || state == "refused" || state == "expired" ||
         state == "interrupted";
}

std::string containmentAfter(const std::string& action_kind, const Receipt& r) {
  // The action's kind, not the receipt's: a host's receipt only says whether it was done.
  if (r.status != ReceiptStatus::kSucceeded || r.kind != action_kind) return "";
  if (action_kind == "isolate") return "isolated";
  if (action_kind == "release") return "none";
  return "";
}

namespace {

// Registries made by an older controller get the columns added since, with their defaults.
absl::Status addColumnIfMissing(Database& db, const char* table, const char* column,
                                const char* declaration) {
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db.prepare(absl::StrFormat("SELECT 1 FROM pragma_table_info('%s') WHERE name = '%s'",
                                          table, column)));
  WARDEN_ASSIGN_OR_RETURN(bool has, st.step());
  if (has) return absl::OkStatus();
  return db.exec(absl::StrFormat("ALTER TABLE %s ADD COLUMN %s %s", table, column, declaration));
}

}  // namespace

bool OperatorRecord::holdsCertificate(const std::string& fingerprint) const {
  return !fingerprint.empty() &&
         (fingerprint == cert_fingerprint || fingerprint == prev_cert_fingerprint);
}

bool HostRecord::holdsCertificate(const std::string& fingerprint) const {
  return !fingerprint.empty() &&
         (fingerprint == cert_fingerprint || fingerprint == prev_cert_fingerprint);
}

absl::StatusOr<std::unique_ptr<Registry>> Registry::open(const std::string& path) {
  WARDEN_ASSIGN_OR_RETURN(auto db, Database::open(path));
  WARDEN_RETURN_IF_ERROR(db->exec(kSchema));
  // Before the action log: no dispatch log index. Before renewal: no certificate columns.
  WARDEN_RETURN_IF_ERROR(
      addColumnIfMissing(*db, "actions", "log_index", "INTEGER NOT NULL DEFAULT -1"));
  for (const char* table : {"hosts", "operators"}) {
    WARDEN_RETURN_IF_ERROR(
        addColumnIfMissing(*db, table, "prev_cert_fingerprint", "TEXT NOT NULL DEFAULT ''"));
    WARDEN_RETURN_IF_ERROR(
        addColumnIfMissing(*db, table, "cert_not_after_ms", "INTEGER NOT NULL DEFAULT 0"));
  }
  return std::unique_ptr<Registry>(new Registry(std::move(db)));
}

absl::Status Registry::setMeta(const std::string& key, const std::string& value) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)"));
  return st.bind(1, key).bind(2, value).run();
}

absl::StatusOr<std::string> Registry::meta(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT value FROM meta WHERE key = ?"));
  st.bind(1, key);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return absl::NotFoundError(absl::StrFormat("no '%s' in the registry", key));
  return st.text(0);
}

absl::Status Registry::addOperator(const OperatorRecord& op) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("INSERT INTO operators(name, role, cert_fingerprint, "
                                       "signing_public_key, created_ms, cert_not_after_ms) "
                                       "VALUES(?, ?, ?, ?, ?, ?)"));
  auto s = st.bind(1, op.name)
               .bind(2, op.role)
               .bind(3, op.cert_fingerprint)
               .bindBlob(4, op.signing_public_key)
               .bind(5, nowUnixMs())
               .bind(6, op.cert_not_after_ms)
               .run();
  if (!s.ok()) {
    return absl::AlreadyExistsError(absl::StrFormat("operator '%s' already exists", op.name));
  }
  return s;
}

absl::Status Registry::revokeOperator(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("UPDATE operators SET role = 'revoked', "
                                                "cert_fingerprint = '', prev_cert_fingerprint = '' "
                                                "WHERE name = ? AND "
                                                "role != 'revoked'"));
  WARDEN_RETURN_IF_ERROR(st.bind(1, name).run());
  if (db_->changes() != 1) {
    return absl::NotFoundError(
        absl::StrFormat("no operator '%s' to revoke (unknown or already revoked)", name));
  }
  return absl::OkStatus();
}

namespace {
constexpr char kOperatorColumns[] =
    "name, role, cert_fingerprint, signing_public_key, prev_cert_fingerprint, cert_not_after_ms";
OperatorRecord readOperator(Statement& st) {
  return OperatorRecord{st.text(0), st.text(1), st.text(2), st.text(3), st.text(4), st.integer(5)};
}
}  // namespace

absl::StatusOr<OperatorRecord> Registry::findOperator(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st,
      db_->prepare(absl::StrFormat("SELECT %s FROM operators WHERE name = ?", kOperatorColumns)));
  st.bind(1, name);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return absl::NotFoundError(absl::StrFormat("unknown operator '%s'", name));
  return readOperator(st);
}

absl::Status Registry::addToken(const std::string& id, const std::string& secret_hash,
                                const std::string& host_id, std::int64_t expires_ms,
                                const std::string& created_by) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("INSERT INTO tokens(id, secret_sha256, host_id, "
                                                "created_ms, expires_ms, created_by) "
                                                "VALUES(?, ?, ?, ?, ?, ?)"));
  return st.bind(1, id)
      .bindBlob(2, secret_hash)
      .bind(3, host_id)
      .bind(4, nowUnixMs())
      .bind(5, expires_ms)
      .bind(6, created_by)
      .run();
}

absl::Status Registry::consumeToken(const std::string& id, const std::string& secret_hash,
                                    const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("SELECT secret_sha256, host_id, expires_ms, used_ms, used_by_host "
                            "FROM tokens WHERE id = ?"));
  st.bind(1, id);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return absl::PermissionDeniedError("join token is not known to this controller");
  if (st.text(0) != secret_hash) {
    return absl::PermissionDeniedError("join token secret does not match");
  }
  if (!st.isNull(3)) {
    return absl::PermissionDeniedError(
        absl::StrFormat("join token was already used (by %s)", st.text(4)));
  }
  if (st.integer(2) <= nowUnixMs()) return absl::PermissionDeniedError("join token has expired");
  if (!st.text(1).empty() && st.text(1) != host_id) {
    return absl::PermissionDeniedError(
        absl::StrFormat("join token is bound to host '%s', not '%s'", st.text(1), host_id));
  }
  // Taking over an enrolled host id replaces its identity: only a token made for exactly that
  // host (`warden token create --host-id`) may do it.
  if (st.text(1).empty()) {
    WARDEN_ASSIGN_OR_RETURN(auto exists, db_->prepare("SELECT 1 FROM hosts WHERE host_id = ?"));
    exists.bind(1, host_id);
    WARDEN_ASSIGN_OR_RETURN(bool taken, exists.step());
    if (taken) {
      return absl::AlreadyExistsError(
          absl::StrFormat("host '%s' is already enrolled; to re-enroll it, use a token made with "
                          "'warden token create --host-id %s'",
                          host_id, host_id));
    }
  }
  WARDEN_ASSIGN_OR_RETURN(auto up, db_->prepare("UPDATE tokens SET used_ms = ?, used_by_host = ? "
                                                "WHERE id = ? AND used_ms IS NULL"));
  WARDEN_RETURN_IF_ERROR(up.bind(1, nowUnixMs()).bind(2, host_id).bind(3, id).run());
  if (db_->changes() != 1) return absl::PermissionDeniedError("join token was already used");
  return absl::OkStatus();
}

absl::Status Registry::addHost(const HostRecord& h, bool replace) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string verb = replace ? "INSERT OR REPLACE" : "INSERT";
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(verb + " INTO hosts(host_id, cert_fingerprint, receipt_public_key, "
                                   "enrolled_ms, containment, cert_not_after_ms) "
                                   "VALUES(?, ?, ?, ?, ?, ?)"));
  auto s = st.bind(1, h.host_id)
               .bind(2, h.cert_fingerprint)
               .bindBlob(3, h.receipt_public_key)
               .bind(4, h.enrolled_ms)
               .bind(5, h.containment)
               .bind(6, h.cert_not_after_ms)
               .run();
  if (!s.ok() && !replace) {
    return absl::AlreadyExistsError(absl::StrFormat("host '%s' is already enrolled", h.host_id));
  }
  return s;
}

absl::StatusOr<HostRecord> Registry::findHost(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare(absl::StrFormat(
                                       "SELECT %s FROM hosts WHERE host_id = ?", kHostColumns)));
  st.bind(1, host_id);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return absl::NotFoundError(absl::StrFormat("unknown host '%s'", host_id));
  return readHost(st);
}

absl::StatusOr<std::vector<HostRecord>> Registry::listHosts() {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare(absl::StrFormat(
                                       "SELECT %s FROM hosts ORDER BY host_id", kHostColumns)));
  std::vector<HostRecord> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(readHost(st));
  }
  return out;
}

absl::Status Registry::updateHostSeen(const std::string& host_id, const std::string& peer,
                                      const v1::Facts* facts) {
  std::lock_guard<std::mutex> lock(mu_);
  if (facts != nullptr) {
    // The agent's unsigned word: bounded before it is kept (and listed in every hosts page).
    v1::Facts bounded = *facts;
    boundFacts(bounded);
    WARDEN_ASSIGN_OR_RETURN(
        auto st,
        db_->prepare("UPDATE hosts SET last_seen_ms = ?, peer = ?, facts = ? WHERE host_id = ?"));
    return st.bind(1, nowUnixMs())
        .bind(2, peer)
        .bindBlob(3, bounded.SerializeAsString())
        .bind(4, host_id)
        .run();
  }
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("UPDATE hosts SET last_seen_ms = ?, peer = ? WHERE host_id = ?"));
  return st.bind(1, nowUnixMs()).bind(2, peer).bind(3, host_id).run();
}

absl::Status Registry::setContainment(const std::string& host_id, const std::string& containment) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("UPDATE hosts SET containment = ? WHERE host_id = ?"));
  return st.bind(1, containment).bind(2, host_id).run();
}

absl::Status Registry::addAction(const ActionRecord& a) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("INSERT INTO actions(id, host_id, kind, state, requested_by, reason, "
                            "params, created_ms, expires_ms, command, command_signature, "
                            "log_index) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  return st.bind(1, a.id)
      .bind(2, a.host_id)
      .bind(3, a.kind)
      .bind(4, a.state)
      .bind(5, a.requested_by)
      .bind(6, a.reason)
      .bind(7, a.params)
      .bind(8, a.created_ms)
      .bind(9, a.expires_ms)
      .bindBlob(10, a.command)
      .bindBlob(11, a.command_signature)
      .bind(12, a.log_index)
      .run();
}

absl::StatusOr<ActionRecord> Registry::readAction(Statement& st) {
  ActionRecord a;
  a.id = st.text(0);
  a.host_id = st.text(1);
  a.kind = st.text(2);
  a.state = st.text(3);
  a.requested_by = st.text(4);
  a.reason = st.text(5);
  a.params = st.text(6);
  a.created_ms = st.integer(7);
  a.expires_ms = st.integer(8);
  a.finished_ms = st.integer(9);
  a.command = st.text(10);
  a.command_signature = st.text(11);
  a.receipt = st.text(12);
  a.receipt_signature = st.text(13);
  a.message = st.text(14);
  a.log_index = st.integer(15);
  return a;
}

absl::StatusOr<std::vector<ActionRecord>> Registry::readActions(Statement& st) {
  std::vector<ActionRecord> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    WARDEN_ASSIGN_OR_RETURN(auto a, readAction(st));
    out.push_back(std::move(a));
  }
  return out;
}

absl::StatusOr<ActionRecord> Registry::findAction(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare(absl::StrFormat(
                                       "SELECT %s FROM actions WHERE id = ?", kActionColumns)));
  st.bind(1, id);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return absl::NotFoundError(absl::StrFormat("unknown action '%s'", id));
  return readAction(st);
}

absl::StatusOr<std::vector<ActionRecord>> Registry::listActions(const std::string& host_id,
                                                                int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare(absl::StrFormat(
                                       "SELECT %s FROM (SELECT * FROM actions WHERE (? = '' OR "
                                       "host_id = ?) ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                                       kActionColumns)));
  st.bind(1, host_id).bind(2, host_id).bind(3, static_cast<std::int64_t>(limit));
  return readActions(st);
}

absl::StatusOr<std::vector<ActionRecord>> Registry::pendingActions(const std::string& host_id) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::int64_t now = nowUnixMs();
  WARDEN_ASSIGN_OR_RETURN(auto exp,
                          db_->prepare("UPDATE actions SET state = 'expired', finished_ms = ?, "
                                       "message = 'expired before the host picked it up' "
                                       "WHERE host_id = ? AND state IN ('queued', 'delivered') "
                                       "AND expires_ms <= ?"));
  WARDEN_RETURN_IF_ERROR(exp.bind(1, now).bind(2, host_id).bind(3, now).run());
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(absl::StrFormat("SELECT %s FROM actions WHERE host_id = ? AND state "
                                            "IN ('queued', 'delivered') ORDER BY seq",
                                            kActionColumns)));
  st.bind(1, host_id);
  return readActions(st);
}

absl::Status Registry::markDelivered(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st,
      db_->prepare("UPDATE actions SET state = 'delivered' WHERE id = ? AND state = 'queued'"));
  return st.bind(1, id).run();
}

absl::StatusOr<bool> Registry::finishAction(const std::string& id, const std::string& state,
                                            const std::string& message, const std::string& receipt,
                                            const std::string& receipt_signature,
                                            std::int64_t finished_ms,
                                            const std::string& containment) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_RETURN_IF_ERROR(db_->exec("BEGIN IMMEDIATE"));
  auto store = [&]() -> absl::StatusOr<bool> {
    WARDEN_ASSIGN_OR_RETURN(
        auto st,
        db_->prepare("UPDATE actions SET state = ?, message = ?, receipt = ?, "
                     "receipt_signature = ?, finished_ms = ? WHERE id = ? AND (state IN "
                     "('queued', 'delivered') OR (state = 'expired' AND receipt IS NULL))"));
    WARDEN_RETURN_IF_ERROR(st.bind(1, state)
                               .bind(2, message)
                               .bindBlob(3, receipt)
                               .bindBlob(4, receipt_signature)
                               .bind(5, finished_ms)
                               .bind(6, id)
                               .run());
    if (db_->changes() != 1) return false;
    if (!containment.empty()) {
      // Unless a later isolate or release of the host has succeeded already: a receipt stored
      // late (re-sent, or recovered from the log after a restart) must not undo it.
      WARDEN_ASSIGN_OR_RETURN(
          auto host,
          db_->prepare("UPDATE hosts SET containment = ? WHERE host_id = (SELECT host_id FROM "
                       "actions WHERE id = ?) AND NOT EXISTS (SELECT 1 FROM actions b, actions a "
                       "WHERE a.id = ? AND b.host_id = a.host_id AND b.id != a.id AND b.kind IN "
                       "('isolate', 'release') AND b.state = 'succeeded' AND b.created_ms > "
                       "a.created_ms)"));
      WARDEN_RETURN_IF_ERROR(host.bind(1, containment).bind(2, id).bind(3, id).run());
    }
    return true;
  };
  absl::StatusOr<bool> stored = store();
  if (!stored.ok()) {
    (void)db_->exec("ROLLBACK");
    return stored.status();
  }
  if (absl::Status committed = db_->exec("COMMIT"); !committed.ok()) {
    // SQLite leaves the transaction open after a failed COMMIT (SQLITE_FULL, IOERR, BUSY).
    (void)db_->exec("ROLLBACK");
    return committed;
  }
  return *stored;
}

absl::Status Registry::addFleetBlock(const std::string& address, const std::string& created_by,
                                     const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("INSERT OR IGNORE INTO fleet_blocks(address, "
                                       "created_by, created_ms, reason) VALUES(?, ?, ?, ?)"));
  return st.bind(1, address).bind(2, created_by).bind(3, nowUnixMs()).bind(4, reason).run();
}

absl::Status Registry::removeFleetBlock(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("DELETE FROM fleet_blocks WHERE address = ?"));
  return st.bind(1, address).run();
}

absl::StatusOr<std::vector<std::vector<std::string>>> Registry::fleetBlocks() {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT address, created_by, created_ms, reason "
                                                "FROM fleet_blocks ORDER BY created_ms, address"));
  std::vector<std::vector<std::string>> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back({st.text(0), st.text(1), std::to_string(st.integer(2)), st.text(3)});
  }
  return out;
}

absl::Status Registry::addEvent(const HostEventRecord& e) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("INSERT INTO events(host_id, kind, detail, at_ms) VALUES(?, ?, ?, ?)"));
  return st.bind(1, e.host_id).bind(2, e.kind).bind(3, e.detail).bind(4, e.at_ms).run();
}

absl::StatusOr<std::vector<HostEventRecord>> Registry::recentEvents(const std::string& host_id,
                                                                    int limit) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("SELECT host_id, kind, detail, at_ms FROM (SELECT * FROM events WHERE "
                            "host_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq"));
  st.bind(1, host_id).bind(2, static_cast<std::int64_t>(limit));
  std::vector<HostEventRecord> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(HostEventRecord{st.text(0), st.text(1), st.text(2), st.integer(3)});
  }
  return out;
}

absl::Status Registry::addRequestId(const std::string& id, const std::string& operator_name,
                                    std::int64_t at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto check, db_->prepare("SELECT 1 FROM requests WHERE id = ?"));
  check.bind(1, id);
  WARDEN_ASSIGN_OR_RETURN(bool seen, check.step());
  if (seen) {
    return absl::AlreadyExistsError(absl::StrFormat("request %s was already submitted", id));
  }
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("INSERT INTO requests(id, operator, at_ms) VALUES(?, ?, ?)"));
  WARDEN_RETURN_IF_ERROR(st.bind(1, id).bind(2, operator_name).bind(3, at_ms).run());
  // Ids only need remembering while a request with them could still be accepted.
  WARDEN_ASSIGN_OR_RETURN(auto prune, db_->prepare("DELETE FROM requests WHERE at_ms < ?"));
  return prune.bind(1, at_ms - 60 * 60 * 1000).run();
}

absl::StatusOr<std::vector<ActionRecord>> Registry::actionsAwaitingReceipt() {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(absl::StrFormat("SELECT %s FROM actions WHERE receipt IS NULL AND "
                                            "log_index >= 0 AND (state IN ('queued', "
                                            "'delivered') OR (state = 'expired' AND "
                                            "expires_ms > ?)) ORDER BY seq",
                                            kActionColumns)));
  // Expired for more than a day: no receipt is coming, and the start-up scan stays short.
  st.bind(1, nowUnixMs() - 24 * 60 * 60 * 1000);
  return readActions(st);
}

absl::StatusOr<std::vector<OperatorRecord>> Registry::listOperators() {
  std::lock_guard<std::mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare(absl::StrFormat("SELECT %s FROM operators ORDER BY created_ms, name",
                                            kOperatorColumns)));
  std::vector<OperatorRecord> out;
  for (;;) {
    WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
    if (!row) break;
    out.push_back(readOperator(st));
  }
  return out;
}

}  // namespace warden
