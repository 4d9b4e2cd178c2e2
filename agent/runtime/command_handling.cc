// Commands, one at a time in each of two lanes (containment; host actions): verified
// (signature, host, expiry, inclusion in the action log) before anything is done, answered
// once with a signed receipt that is stored so that a re-delivered command gets the same
// answer. Images and triage bundles run on threads of their own (evidence_actions.cc).
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_format.h"
#include "agent/os/dhcp_leases.h"
#include "agent/runtime/agent.h"
#include "common/audit/agent_release.h"
#include "common/audit/dispatch_proof.h"
#include "common/crypto/ed25519.h"
#include "common/log.h"
#include "common/net.h"
#include "common/receipt_bounds.h"

namespace warden {

Agent::Lane Agent::laneOf(const v1::SignedCommand& sc) {
  // Routing only: the command is verified in full by whichever worker takes it. One that does
  // not decode is refused quickly, in the containment lane.
  auto cmd = decodeCommand(sc.command());
  if (!cmd.ok()) return kContainmentLane;
  const std::string& k = cmd->kind;
  return k == "isolate" || k == "release" || k == "block" || k == "unblock" ? kContainmentLane
                                                                            : kHostLane;
}

void Agent::commandWorker(Lane lane) {
  std::deque<v1::SignedCommand>& queue = commands_[lane];
  for (;;) {
    v1::SignedCommand sc;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue.empty() || !connected_ || stopping_; });
      if (!connected_ || stopping_) return;
      sc = std::move(queue.front());
      queue.pop_front();
    }
    handleCommand(sc);
  }
}

void Agent::reply(const Receipt& unbounded, bool keep) {
  // Bounded before it is signed: the signed bytes are what the controller gets and logs.
  Receipt r = unbounded;
  if (const ReceiptTrim trim = boundReceipt(r); trim.changed()) {
    logWarning(
        "host %s: receipt for %s %s bounded from %d to %d bytes (%d strings cut, %d entries "
        "unlisted, %d details dropped)",
        trust_.host_id, r.kind, r.command_id, trim.bytes_before, trim.bytes_after, trim.strings_cut,
        trim.entries_unlisted, trim.details_dropped);
  }
  const std::string bytes = encodeReceipt(r);
  auto sig = receipt_key_.sign(bytes);
  if (!sig.ok()) {
    logError("host %s: cannot sign receipt for %s: %s", trust_.host_id, r.command_id,
             sig.status().message());
    return;
  }
  if (keep) {
    if (auto s = store_->saveReceipt(r.command_id, StoredReceipt{bytes, *sig}); !s.ok()) {
      logError("host %s: cannot store receipt for %s: %s", trust_.host_id, r.command_id,
               s.message());
    }
  }
  v1::AgentMessage m;
  m.mutable_receipt()->set_receipt(bytes);
  m.mutable_receipt()->set_signature(*sig);
  send(m);
}

void Agent::handleCommand(const v1::SignedCommand& sc) {
  Receipt r;
  r.host_id = trust_.host_id;
  r.started_unix_ms = nowUnixMs();
  // An authentic command (signed by the pinned command key, for this host) that was answered
  // before gets that answer again, whatever else changed since (expiry, proof): one command,
  // one receipt.
  const bool authentic =
      crypto::ed25519Verify(trust_.command_public_key, sc.command(), sc.signature()).ok();
  auto raw = decodeCommand(sc.command());
  if (authentic && raw.ok() && raw->host_id == trust_.host_id) {
    if (auto stored = store_->findReceipt(raw->id); stored.ok() && stored->has_value()) {
      // Stored by an agent that did not bound its receipts: it could never be delivered, and
      // the controller never logged it. Bounded and signed again, it can.
      if ((*stored)->receipt.size() > kMaxReceiptBytes) {
        if (auto old = decodeReceipt((*stored)->receipt); old.ok()) {
          reply(*old);
          return;
        }
      }
      v1::AgentMessage m;
      m.mutable_receipt()->set_receipt((*stored)->receipt);
      m.mutable_receipt()->set_signature((*stored)->signature);
      send(m);
      return;
    }
  }
  auto cmd = verifyCommand(sc.command(), sc.signature(), trust_, r.started_unix_ms);
  // Log before act: a command the controller has not logged is not executed.
  if (cmd.ok()) {
    DispatchProof proof;
    proof.checkpoint = sc.checkpoint();
    proof.index = sc.log_index();
    proof.entry = sc.log_entry();
    proof.proof.assign(sc.inclusion_proof().begin(), sc.inclusion_proof().end());
    if (auto logged = verifyDispatchProof(trust_.log_vkey, sc.command(), sc.signature(), proof);
        !logged.ok()) {
      cmd = absl::PermissionDeniedError(
          absl::StrFormat("not proven to be in the action log: %s", logged.message()));
    }
  }
  if (!cmd.ok()) {
    // Name the command if its bytes at least decode, so the controller can match the refusal.
    if (raw.ok()) {
      r.command_id = raw->id;
      r.kind = raw->kind;
    }
    r.status = ReceiptStatus::kRefused;
    r.message = std::string(cmd.status().message());
    r.finished_unix_ms = nowUnixMs();
    logWarning("host %s: refused command %s: %s", trust_.host_id, r.command_id, r.message);
    sendEvent("refusal", r.message, r.command_id);
    // The refusal of an authentic command is its one answer; a forged command must not be
    // able to claim an id, so its refusal is not kept.
    reply(r, /*keep=*/authentic && raw.ok() && raw->host_id == trust_.host_id);
    return;
  }
  r.command_id = cmd->id;
  r.kind = cmd->kind;
  if (cmd->kind == "image" || cmd->kind == "collect") {
    std::lock_guard<std::mutex> lock(imaging_mu_);
    // Delivered again while it runs (a reconnect): its receipt comes when it is done.
    if (!imaging_.insert(cmd->id).second) return;
    imaging_threads_.emplace_back([this, c = *cmd, r]() mutable {
      ActionOutcome out = c.kind == "image" ? imageDevice(c) : collectTriage(c);
      {
        std::lock_guard<std::mutex> lock(imaging_mu_);
        imaging_.erase(c.id);
      }
      // Stopped part way: no receipt, so the controller delivers it again and it resumes.
      if (out.details.contains("cancelled")) return;
      r.status = out.ok ? ReceiptStatus::kSucceeded : ReceiptStatus::kFailed;
      r.message = out.message;
      r.details = out.details;
      r.finished_unix_ms = nowUnixMs();
      logInfo("host %s: %s %s: %s", trust_.host_id, c.kind, c.id, r.message);
      reply(r);
      // The receipt is stored: the bundle it names has done its job.
      if (c.kind == "collect") (void)std::remove(collectPath(c.id).c_str());
    });
    return;
  }
  const bool containment = cmd->kind == "isolate" || cmd->kind == "release" ||
                           cmd->kind == "block" || cmd->kind == "unblock";
  // Execute once, across a crash too: a command this agent had started when it stopped (killed,
  // crashed, the host rebooted) is answered with what the host shows now, never run again blind.
  if (auto started = store_->findStarted(cmd->id); started.ok() && started->has_value()) {
    r.status = ReceiptStatus::kInterrupted;
    r.message = absl::StrFormat(
        "interrupted: the agent stopped while running this %s (started at %d ms); it was not "
        "run again, check what the host shows and send a new command if it is still needed",
        cmd->kind, (*started)->started_unix_ms);
    r.details = hostNow(containment);
    r.details["interrupted_started_unix_ms"] = std::to_string((*started)->started_unix_ms);
    r.finished_unix_ms = nowUnixMs();
    logWarning("host %s: %s %s was interrupted by an agent restart; answering without running it",
               trust_.host_id, cmd->kind, cmd->id);
    reply(r);
    return;
  }
  // Before the first side effect. An agent that cannot record it (a full disk) still acts:
  // containment must not wait for disk space, and the receipt says the mark is missing.
  const absl::Status marked = store_->markStarted(cmd->id, cmd->kind, r.started_unix_ms);
  if (!marked.ok()) {
    logWarning("host %s: cannot record that %s is starting: %s", trust_.host_id, cmd->id,
               marked.message());
  }
  ActionOutcome out = containment ? runContainment(*cmd) : runHostAction(*cmd);
  if (!marked.ok()) out.details["execute_once"] = "unrecorded: " + std::string(marked.message());
  if (!exit_before_receipt_.empty() && exit_before_receipt_ == cmd->kind) _exit(70);
  r.status = out.ok ? ReceiptStatus::kSucceeded : ReceiptStatus::kFailed;
  r.message = out.message;
  r.details = out.details;
  r.finished_unix_ms = nowUnixMs();
  logInfo("host %s: %s %s: %s", trust_.host_id, cmd->kind, cmd->id, r.message);
  reply(r);
  if (out.ok && out.after_ack) {
    // Shutdown: the receipt must be in the controller's hands before the host goes down.
    if (!waitForReceiptAck(cmd->id, absl::Seconds(10))) {
      logWarning("host %s: no acknowledgement of %s within 10 s; proceeding", trust_.host_id,
                 cmd->id);
    }
    out.after_ack();
  }
}

std::map<std::string, std::string> Agent::hostNow(bool containment) {
  std::map<std::string, std::string> now;
  if (containment) {
    const ContainmentState s = containment_->current();
    now["now_isolated"] = s.isolation ? "yes" : "no";
    std::string blocked;
    for (const auto& p : s.blocked) blocked += (blocked.empty() ? "" : ",") + p.toString();
    now["now_blocked"] = blocked;
  } else if (parts_.host) {
    // The sessions the host has now: what a kill left, what a lock left logged in.
    for (auto& [k, v] : parts_.host->listSessions().details) now["now_" + k] = std::move(v);
  }
  return now;
}

ActionOutcome Agent::runContainment(const Command& cmd) {
  ActionOutcome out;
  if (cmd.kind == "isolate") {
    IsolationPolicy policy;
    policy.controller_addresses = controller_addresses_;
    policy.controller_port = controller_port_;
    policy.dhcp_servers = dhcpServersFromLeases(options_.dhcp_lease_dirs);
    bool bad = false;
    for (const auto& a : cmd.allow) {
      auto e = AllowEntry::parse(a);
      if (!e.ok()) {
        out.message = absl::StrFormat("bad allow entry: %s", e.status().message());
        bad = true;
        break;
      }
      policy.allow.push_back(*e);
    }
    auto for_ms = isolateForMs(cmd.args);
    if (!bad && !for_ms.ok()) {
      out = invalidArgument(std::string(for_ms.status().message()));
      bad = true;
    }
    if (!bad) {
      if (policy.controller_addresses.empty()) {
        out.message = "no pinned controller address: refusing to isolate (would strand the host)";
      } else {
        out = containment_->isolate(
            policy, [this] { return probeController(); }, *for_ms, cmd.id);
      }
    }
  } else if (cmd.kind == "release") {
    out = containment_->release();
  } else {
    std::vector<IpPrefix> prefixes;
    for (const auto& a : cmd.addresses) {
      auto p = IpPrefix::parse(a);
      if (!p.ok()) {
        out.message = absl::StrFormat("bad address: %s", p.status().message());
        prefixes.clear();
        break;
      }
      prefixes.push_back(*p);
    }
    if (prefixes.empty() && out.message.empty()) out.message = "no address to block";
    if (!prefixes.empty()) {
      out = cmd.kind == "block" ? containment_->block(prefixes, controller_addresses_)
                                : containment_->unblock(prefixes);
    }
  }
  return out;
}

ActionOutcome Agent::runHostAction(const Command& cmd) {
  if (!parts_.host) {
    ActionOutcome out;
    out.message = "host actions are not available on this agent";
    return out;
  }
  if (cmd.kind == "sessions") return parts_.host->listSessions();
  if (cmd.kind == "kill-sessions") return parts_.host->killSessions(cmd.args);
  if (cmd.kind == "lock-accounts") return parts_.host->lockAccounts(cmd.args);
  if (cmd.kind == "unlock-accounts") return parts_.host->unlockAccounts(cmd.args);
  if (cmd.kind == "revoke-keys") return parts_.host->revokeKeys(cmd.args);
  if (cmd.kind == "restore-keys") return parts_.host->restoreKeys(cmd.args);
  if (cmd.kind == "shutdown") return parts_.host->shutdown(cmd.args);
  ActionOutcome out;
  out.message = absl::StrFormat("unknown action '%s'", cmd.kind);
  return out;
}

}  // namespace warden
