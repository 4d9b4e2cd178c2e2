// Opening the controller's action log: the genesis of a new log, and the registry catching up
// with receipts the log holds but a crash kept from being stored.
#include <algorithm>
#include <map>

#include "absl/strings/str_format.h"
#include "common/audit/key_record.h"
#include "common/crypto/encoding.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/log_writer.h"

namespace warden {

absl::StatusOr<std::unique_ptr<LogWriter>> LogWriter::open(const ControllerKeys& keys,
                                                           std::size_t max_entry_bytes) {
  ActionLogOptions o{keys.data_dir + "/log", keys.log_origin, keys.log_key};
  o.max_entry_bytes = max_entry_bytes;
  WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<ActionLog> log, ActionLog::open(std::move(o)));
  std::unique_ptr<LogWriter> w(new LogWriter(keys, std::move(log)));
  ActionLog& l = w->log();
  if (l.size() > 0) {
    WARDEN_ASSIGN_OR_RETURN(std::string last, l.entry(l.size() - 1));
    WARDEN_ASSIGN_OR_RETURN(LogEntry e, decodeLogEntry(last));
    w->last_logged_ms_ = e.logged_unix_ms;
  }
  WARDEN_RETURN_IF_ERROR(w->writeGenesis());
  WARDEN_RETURN_IF_ERROR(w->logAutomationKey());
  WARDEN_RETURN_IF_ERROR(w->recoverReceipts());
  logInfo("action log: %d entries", l.size());
  return w;
}

absl::Status LogWriter::writeGenesis() {
  WARDEN_ASSIGN_OR_RETURN(std::vector<LogEntry> genesis, genesisEntries());
  if (log_->size() >= genesis.size()) return absl::OkStatus();
  for (std::uint64_t i = 0; i < log_->size(); ++i) {
    WARDEN_ASSIGN_OR_RETURN(std::string bytes, log_->entry(i));
    WARDEN_ASSIGN_OR_RETURN(LogEntry have, decodeLogEntry(bytes));
    if (have.type != genesis[i].type || have.body != genesis[i].body) {
      return absl::DataLossError(absl::StrFormat(
          "action log: entry %d is not the genesis entry expected there; not touching it", i));
    }
  }
  for (std::size_t i = log_->size(); i < genesis.size(); ++i) {
    WARDEN_RETURN_IF_ERROR(appendEntry(genesis[i]).status());
  }
  logInfo("action log: genesis written (%d entries)", genesis.size());
  return absl::OkStatus();
}

absl::StatusOr<std::vector<LogEntry>> LogWriter::genesisEntries() {
  std::vector<LogEntry> out;
  LogEntry e;
  e.type = entry_type::kKey;
  e.actor = "controller";
  e.body =
      encodeKeyRecord(KeyRecord{kKeyRecordVersion, "log", "controller", "", keys_.log_vkey, ""});
  e.detail = "action log created; checkpoints are signed by this key";
  out.push_back(e);
  e.body = encodeKeyRecord(
      KeyRecord{kKeyRecordVersion, "command", "controller", "", keys_.command_key.publicKey(), ""});
  e.detail = "commands are signed by this key";
  out.push_back(e);
  WARDEN_ASSIGN_OR_RETURN(auto operators, keys_.registry->listOperators());
  for (const auto& op : operators) {
    LogEntry o;
    o.type = entry_type::kOperator;
    o.actor = "controller";
    o.body = encodeKeyRecord(KeyRecord{kKeyRecordVersion, "operator", op.name, op.role,
                                       op.signing_public_key, op.cert_fingerprint});
    o.detail = absl::StrFormat("operator %s (%s)", op.name, op.role);
    out.push_back(o);
  }
  WARDEN_ASSIGN_OR_RETURN(auto hosts, keys_.registry->listHosts());
  for (const auto& h : hosts) {
    LogEntry a;
    a.type = entry_type::kEnrollment;
    a.actor = "agent:" + h.host_id;
    a.host_id = h.host_id;
    a.body = encodeKeyRecord(KeyRecord{kKeyRecordVersion, "agent", h.host_id, "",
                                       h.receipt_public_key, h.cert_fingerprint});
    a.detail = "enrolled before the action log existed";
    out.push_back(a);
  }
  return out;
}

absl::Status LogWriter::logAutomationKey() {
  const std::string key = keys_.automation_key.publicKey();
  const std::string marker = crypto::hex(key);
  if (auto logged = keys_.registry->meta("automation_key_logged");
      logged.ok() && *logged == marker) {
    return absl::OkStatus();
  }
  LogEntry e;
  e.type = entry_type::kKey;
  e.actor = "controller";
  e.body = encodeKeyRecord(KeyRecord{kKeyRecordVersion, "automation", "controller", "", key, ""});
  e.detail = "automated requests (alert rules) are signed by this key";
  WARDEN_RETURN_IF_ERROR(appendEntry(e).status());
  return keys_.registry->setMeta("automation_key_logged", marker);
}

// A controller that died between logging a receipt and storing it in the registry: the log is
// the truth, so the registry catches up (and the receipt is never logged twice).
absl::Status LogWriter::recoverReceipts() {
  WARDEN_ASSIGN_OR_RETURN(auto waiting, keys_.registry->actionsAwaitingReceipt());
  if (waiting.empty()) return absl::OkStatus();
  std::map<std::string, const ActionRecord*> by_id;
  std::uint64_t from = log_->size();
  for (const auto& a : waiting) {
    by_id[a.id] = &a;
    from = std::min(from, static_cast<std::uint64_t>(a.log_index));
  }
  for (std::uint64_t i = from; i < log_->size(); ++i) {
    WARDEN_ASSIGN_OR_RETURN(std::string bytes, log_->entry(i));
    auto e = decodeLogEntry(bytes);
    if (!e.ok() || e->type != entry_type::kReceipt || !by_id.contains(e->ref)) continue;
    auto r = decodeReceipt(e->body);
    if (!r.ok()) continue;
    auto stored = keys_.registry->finishAction(e->ref, std::string(receiptStatusName(r->status)),
                                               r->message, e->body, e->signature, e->logged_unix_ms,
                                               containmentAfter(by_id.at(e->ref)->kind, *r));
    if (stored.ok() && *stored) {
      logInfo("action %s: receipt recovered from action log entry %d", e->ref, i);
    }
  }
  return absl::OkStatus();
}

}  // namespace warden
