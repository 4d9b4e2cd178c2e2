#include "controller/dispatch/dispatcher.h"

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/log.h"
#include "common/status.h"

namespace warden {

void showExpiry(ActionRecord& a) {
  if (!a.finished() && a.expires_ms <= nowUnixMs()) a.state = "expired";
}

absl::StatusOr<ActionRecord> Dispatcher::createAction(
    const std::string& request_id, const std::string& requested_by, const std::string& host_id,
    const std::string& kind, const std::string& reason, const std::string& incident,
    const std::vector<std::string>& allow, const std::vector<std::string>& addresses,
    const std::vector<std::string>& args) {
  WARDEN_ASSIGN_OR_RETURN(std::string rnd, crypto::randomBytes(8));
  const std::int64_t now = nowUnixMs();
  Command c;
  c.id = "a-" + crypto::hex(rnd);
  c.host_id = host_id;
  c.kind = kind;
  c.issued_unix_ms = now;
  c.expires_unix_ms = now + absl::ToInt64Milliseconds(default_expiry_);
  c.requested_by = requested_by;
  // Without an incident or a duration, version 1 with an empty reason: the bytes an agent from
  // before incidents reads, so a fleet can upgrade its controller first. An older agent refuses
  // a version 2 command (unsupported version) rather than isolate without the deadline.
  const bool timed = kind == "isolate" && !args.empty();
  if (incident.empty() && !timed) c.version = 1;
  c.incident = incident;
  c.allow = allow;
  c.addresses = addresses;
  c.args = args;
  const std::string bytes = encodeCommand(c);
  WARDEN_ASSIGN_OR_RETURN(std::string sig, ctx_.keys.command_key.sign(bytes));
  ActionRecord a;
  a.id = c.id;
  a.host_id = host_id;
  a.kind = kind;
  a.state = "queued";
  a.requested_by = requested_by;
  a.reason = reason;
  if (!allow.empty()) a.params = "allow " + absl::StrJoin(allow, ",");
  if (!addresses.empty()) a.params = absl::StrJoin(addresses, ",");
  if (!args.empty()) a.params = absl::StrJoin(args, " ");
  a.created_ms = now;
  a.expires_ms = c.expires_unix_ms;
  a.command = bytes;
  a.command_signature = sig;
  LogEntry e;
  e.type = entry_type::kDispatch;
  e.actor = "controller";
  e.host_id = host_id;
  e.ref = request_id;
  e.body = bytes;
  e.signature = sig;
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t index, ctx_.log->appendEntry(e));
  a.log_index = static_cast<std::int64_t>(index);
  WARDEN_RETURN_IF_ERROR(ctx_.registry().addAction(a));
  logInfo("action %s: %s requested %s on %s%s (log entry %d)", a.id, requested_by, kind, host_id,
          reason.empty() ? "" : " (" + reason + ")", index);
  return a;
}

absl::Status Dispatcher::dispatch(const std::string& operator_name, const std::string& request_id,
                                  const DispatchPlan& plan, std::vector<ActionRecord>* created) {
  if (plan.all_hosts) {
    for (const auto& a : plan.addresses) {
      WARDEN_RETURN_IF_ERROR(plan.kind == "block"
                                 ? ctx_.registry().addFleetBlock(a, operator_name, plan.reason)
                                 : ctx_.registry().removeFleetBlock(a));
    }
    logInfo("operator %s: fleet-wide %s of %s", operator_name, plan.kind,
            absl::StrJoin(plan.addresses, ","));
  }
  for (const auto& h : plan.hosts) {
    auto a = createAction(request_id, operator_name, h, plan.kind, plan.reason, plan.incident,
                          plan.allow, plan.addresses, plan.args);
    if (!a.ok()) {
      // What is logged and queued goes out; the operator hears which hosts did not get it.
      return absl::Status(
          a.status().code(),
          absl::StrFormat("dispatched to %d of %d hosts, then failed on %s: %s", created->size(),
                          plan.hosts.size(), h, a.status().message()));
    }
    created->push_back(std::move(*a));
  }
  return absl::OkStatus();
}

absl::Status Dispatcher::attachProof(const ActionRecord& a, v1::SignedCommand* out) {
  if (a.log_index < 0) return absl::FailedPreconditionError("the command was never logged");
  const auto index = static_cast<std::uint64_t>(a.log_index);
  ActionLog& log = ctx_.log->log();
  WARDEN_ASSIGN_OR_RETURN(std::string cp, log.checkpoint());
  WARDEN_ASSIGN_OR_RETURN(note::Checkpoint parsed, note::parseSignedCheckpoint(cp));
  WARDEN_ASSIGN_OR_RETURN(std::string entry, log.entry(index));
  WARDEN_ASSIGN_OR_RETURN(auto proof, log.inclusionProof(index, parsed.size));
  if (!ctx_.faults.applyToProof(&proof)) return absl::OkStatus();
  out->set_checkpoint(cp);
  out->set_log_index(index);
  out->set_log_entry(entry);
  for (auto& h : proof) out->add_inclusion_proof(std::move(h));
  return absl::OkStatus();
}

void Dispatcher::deliver(const ActionRecord& a) {
  auto s = ctx_.sessions.find(a.host_id);
  if (!s) return;
  v1::ControllerMessage m;
  m.mutable_command()->set_command(a.command);
  m.mutable_command()->set_signature(a.command_signature);
  if (auto p = attachProof(a, m.mutable_command()); !p.ok()) {
    logError("action %s: no log proof, not delivered: %s", a.id, p.ToString());
    return;
  }
  if (s->send(m)) {
    if (a.state == "queued") {
      auto st = ctx_.registry().markDelivered(a.id);
      if (!st.ok()) logError("action %s: %s", a.id, st.ToString());
    }
    logInfo("action %s: delivered %s to %s", a.id, a.kind, a.host_id);
  }
}

void Dispatcher::deliverPending(const std::string& host_id) {
  if (auto pending = ctx_.registry().pendingActions(host_id); pending.ok()) {
    for (const auto& a : *pending) deliver(a);
  }
}

void Dispatcher::actionFinished() {
  // Waiters re-check at least every 200 ms (Submit): a wake-up lost between a waiter's check
  // and its wait costs at most that.
  { std::lock_guard<std::mutex> lock(finished_mu_); }
  finished_cv_.notify_all();
}

void Dispatcher::waitForFinished(std::chrono::steady_clock::time_point until) {
  std::unique_lock<std::mutex> lock(finished_mu_);
  finished_cv_.wait_until(lock, until);
}

}  // namespace warden
