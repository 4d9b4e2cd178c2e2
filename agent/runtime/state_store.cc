#include "agent/runtime/state_store.h"

#include "absl/strings/str_format.h"
#include "common/canonical.h"
#include "common/command.h"
#include "common/files.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS settings(key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS containment(id INTEGER PRIMARY KEY CHECK (id = 1), state BLOB NOT NULL,
                                       updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS receipts(command_id TEXT PRIMARY KEY, receipt BLOB NOT NULL,
                                    signature BLOB NOT NULL, at_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS started(command_id TEXT PRIMARY KEY, kind TEXT NOT NULL,
                                   at_ms INTEGER NOT NULL);
)sql";

}  // namespace

std::string encodeContainment(const ContainmentState& s) {
  CanonicalWriter w("containment");
  w.u64(2);
  w.u64(s.isolation ? 1 : 0);
  std::vector<std::string> ctrl, allow, blocked, dhcp;
  std::uint64_t port = 0;
  if (s.isolation) {
    for (const auto& a : s.isolation->controller_addresses) ctrl.push_back(a.toString());
    for (const auto& a : s.isolation->allow) allow.push_back(a.toString());
    for (const auto& a : s.isolation->dhcp_servers) dhcp.push_back(a.toString());
    port = s.isolation->controller_port;
  }
  for (const auto& b : s.blocked) blocked.push_back(b.toString());
  // Version 2 added the DHCP servers learned at isolation.
  w.list(ctrl).u64(port).list(allow).list(blocked).list(dhcp);
  return std::move(w).finish();
}

absl::StatusOr<ContainmentState> decodeContainment(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(auto r, CanonicalReader::open(bytes, "containment"));
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t version, r.u64());
  if (version != 1 && version != 2) {
    return absl::InvalidArgumentError("unknown containment state version");
  }
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t isolated, r.u64());
  WARDEN_ASSIGN_OR_RETURN(auto ctrl, r.list());
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t port, r.u64());
  WARDEN_ASSIGN_OR_RETURN(auto allow, r.list());
  WARDEN_ASSIGN_OR_RETURN(auto blocked, r.list());
  std::vector<std::string> dhcp;
  if (version >= 2) {
    WARDEN_ASSIGN_OR_RETURN(dhcp, r.list());
  }
  WARDEN_RETURN_IF_ERROR(r.done());
  ContainmentState s;
  if (isolated) {
    IsolationPolicy p;
    for (const auto& c : ctrl) {
      WARDEN_ASSIGN_OR_RETURN(auto a, IpPrefix::parse(c));
      p.controller_addresses.push_back(a);
    }
    if (port == 0 || port > 65535) return absl::InvalidArgumentError("bad controller port");
    p.controller_port = static_cast<std::uint16_t>(port);
    for (const auto& a : allow) {
      WARDEN_ASSIGN_OR_RETURN(auto e, AllowEntry::parse(a));
      p.allow.push_back(e);
    }
    for (const auto& d : dhcp) {
      WARDEN_ASSIGN_OR_RETURN(auto a, IpPrefix::parse(d));
      p.dhcp_servers.push_back(a);
    }
    s.isolation = p;
  }
  for (const auto& b : blocked) {
    WARDEN_ASSIGN_OR_RETURN(auto p, IpPrefix::parse(b));
    s.blocked.push_back(p);
  }
  return s;
}

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::open(const std::string& state_dir) {
  WARDEN_RETURN_IF_ERROR(makeDirectory(state_dir, 0700));
  WARDEN_ASSIGN_OR_RETURN(auto db, Database::open(state_dir + "/agent.db"));
  WARDEN_RETURN_IF_ERROR(db->exec(kSchema));
  return std::unique_ptr<StateStore>(new StateStore(state_dir, std::move(db)));
}

absl::Status StateStore::set(const std::string& key, const std::string& value) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("INSERT OR REPLACE INTO settings(key, value) VALUES(?, ?)"));
  return st.bind(1, key).bindBlob(2, value).run();
}

absl::StatusOr<std::string> StateStore::get(const std::string& key) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT value FROM settings WHERE key = ?"));
  st.bind(1, key);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) {
    return absl::NotFoundError(
        absl::StrFormat("state %s has no '%s' (is this agent enrolled?)", dir_, key));
  }
  return st.text(0);
}

std::string StateStore::getOr(const std::string& key, const std::string& fallback) {
  auto v = get(key);
  return v.ok() ? *v : fallback;
}

absl::Status StateStore::saveContainment(const ContainmentState& state) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("INSERT OR REPLACE INTO containment(id, state, "
                                                "updated_ms) VALUES(1, ?, ?)"));
  return st.bindBlob(1, encodeContainment(state)).bind(2, nowUnixMs()).run();
}

absl::Status StateStore::saveContainmentWith(
    const ContainmentState& state,
    const std::vector<std::pair<std::string, std::string>>& settings) {
  // Held across the transaction: the connection is shared, and another thread's statement
  // would otherwise run inside it (and be undone by a rollback it never asked for).
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_RETURN_IF_ERROR(db_->exec("BEGIN IMMEDIATE"));
  absl::Status s = saveContainment(state);
  for (const auto& [key, value] : settings) {
    if (s.ok()) s = set(key, value);
  }
  if (s.ok()) s = db_->exec("COMMIT");
  if (!s.ok()) (void)db_->exec("ROLLBACK");  // after a failed COMMIT too: never left open
  return s;
}

absl::StatusOr<ContainmentState> StateStore::loadContainment() {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("SELECT state FROM containment WHERE id = 1"));
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return ContainmentState{};
  return decodeContainment(st.text(0));
}

absl::Status StateStore::saveReceipt(const std::string& command_id, const StoredReceipt& r) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st, db_->prepare("INSERT OR IGNORE INTO receipts(command_id, "
                                                "receipt, signature, at_ms) VALUES(?, ?, ?, ?)"));
  // The receipt is the command's answer now; a crash before this delete leaves a row that
  // findReceipt() shadows, so the order alone keeps it right.
  WARDEN_RETURN_IF_ERROR(st.bind(1, command_id)
                             .bindBlob(2, r.receipt)
                             .bindBlob(3, r.signature)
                             .bind(4, nowUnixMs())
                             .run());
  WARDEN_ASSIGN_OR_RETURN(auto done, db_->prepare("DELETE FROM started WHERE command_id = ?"));
  return done.bind(1, command_id).run();
}

absl::Status StateStore::markStarted(const std::string& command_id, const std::string& kind,
                                     std::int64_t at_unix_ms) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st,
      db_->prepare("INSERT OR IGNORE INTO started(command_id, kind, at_ms) VALUES(?, ?, ?)"));
  return st.bind(1, command_id).bind(2, kind).bind(3, at_unix_ms).run();
}

absl::StatusOr<std::optional<StartedCommand>> StateStore::findStarted(
    const std::string& command_id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(auto st,
                          db_->prepare("SELECT kind, at_ms FROM started WHERE command_id = ?"));
  st.bind(1, command_id);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return std::optional<StartedCommand>();
  return std::optional<StartedCommand>(StartedCommand{st.text(0), st.integer(1)});
}

absl::StatusOr<std::optional<StoredReceipt>> StateStore::findReceipt(
    const std::string& command_id) {
  std::lock_guard<std::recursive_mutex> lock(mu_);
  WARDEN_ASSIGN_OR_RETURN(
      auto st, db_->prepare("SELECT receipt, signature FROM receipts WHERE command_id = ?"));
  st.bind(1, command_id);
  WARDEN_ASSIGN_OR_RETURN(bool row, st.step());
  if (!row) return std::optional<StoredReceipt>();
  return std::optional<StoredReceipt>(StoredReceipt{st.text(0), st.text(1)});
}

}  // namespace warden
