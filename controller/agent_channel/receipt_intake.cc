#include "controller/agent_channel/receipt_intake.h"

#include <algorithm>
#include <shared_mutex>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "common/audit/agent_release.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/log.h"
#include "common/receipt_bounds.h"
#include "controller/agent_channel/heartbeat_intake.h"

namespace warden {

void ReceiptIntake::acceptReceipt(AgentSession& s, const std::string& host_id,
                                  const v1::SignedReceipt& sr) {
  std::shared_lock<std::shared_mutex> identity(ctx_.identity_mu);
  LogWriter& log = *ctx_.log;
  Registry& registry = ctx_.registry();
  // The key on record now: a re-enrollment replaces it, and the old identity's stream ends.
  auto host = registry.findHost(host_id);
  if (!host.ok()) {
    logWarning("host %s: receipt from a host that is no longer enrolled", host_id);
    return;
  }
  const std::string actor = "agent:" + host_id;
  // Agents bound their receipts before signing (common/receipt_bounds.h): anything larger was
  // not made by one, and is refused before it is verified, decoded or stored.
  if (sr.receipt().size() > kMaxReceiptBytes) {
    logWarning("host %s: refused a receipt of %d bytes (the bound is %d)", host_id,
               sr.receipt().size(), kMaxReceiptBytes);
    log.recordLoggedEvent("controller", host_id, "bad-receipt",
                          absl::StrFormat("receipt of %d bytes is larger than the bound of %d "
                                          "bytes; not logged",
                                          sr.receipt().size(), kMaxReceiptBytes));
    return;
  }
  if (auto v = crypto::ed25519Verify(host->receipt_public_key, sr.receipt(), sr.signature());
      !v.ok()) {
    log.recordLoggedEvent("controller", host_id, "bad-receipt",
                          absl::StrFormat("receipt signature does not verify: %s", v.message()));
    return;
  }
  auto r = decodeReceipt(sr.receipt());
  if (!r.ok()) {
    log.recordLoggedEvent("controller", host_id, "bad-receipt",
                          std::string(r.status().message()).substr(0, kMaxUntrustedText));
    return;
  }
  const std::string command_id = r->command_id.substr(0, 64);
  auto action = registry.findAction(r->command_id);
  if (!action.ok() || action->host_id != host_id || r->host_id != host_id) {
    log.recordLoggedEvent("controller", host_id, "bad-receipt",
                          absl::StrFormat("receipt for unknown action %s", command_id), command_id);
    return;
  }
  if (r->kind != action->kind) {
    // The containment state the registry keeps follows the action; a receipt that claims
    // another kind is a lying host, not a result.
    log.recordLoggedEvent(
        "controller", host_id, "bad-receipt",
        absl::StrFormat("receipt for %s (a %s) claims kind %s", command_id, action->kind,
                        absl::CHexEscape(r->kind.substr(0, kMaxUntrustedText))),
        command_id);
    return;
  }
  v1::ControllerMessage ack;
  ack.mutable_receipt_ack()->set_command_id(r->command_id);
  // One receipt per command in the log: a receipt sent again (the ack was lost, the command
  // was re-delivered) is acknowledged, not logged again.
  if (!action->receipt.empty()) {
    if (action->receipt != sr.receipt()) {
      logWarning("action %s: %s sent a different second receipt; the first one stands",
                 r->command_id, host_id);
    }
    s.send(ack);
    return;
  }
  // Two streams of one host may deliver the same receipt at once: one of them logs it.
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!in_flight_.insert(r->command_id).second) return;
  }
  absl::Cleanup release = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.erase(r->command_id);
  };
  // Another stream may have finished it between the first look and the claim.
  if (auto again = registry.findAction(r->command_id); again.ok() && !again->receipt.empty()) {
    s.send(ack);
    return;
  }
  bool already_logged = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    already_logged = logged_unstored_.contains(r->command_id);
  }
  if (already_logged) {
    // Logged before, then the registry write failed: only the registry is retried.
  } else if (action->log_index < 0) {
    // Dispatched before the action log existed: there is no dispatch to chain it to.
    log.recordLoggedEvent(
        actor, host_id, "legacy-receipt",
        absl::StrFormat("receipt for %s, dispatched before the action log existed", r->command_id),
        r->command_id);
  } else {
    LogEntry e;
    e.type = entry_type::kReceipt;
    e.actor = actor;
    e.host_id = host_id;
    e.ref = r->command_id;
    e.body = sr.receipt();
    e.signature = sr.signature();
    if (auto logged = log.appendEntry(e); !logged.ok()) {
      // Not acknowledged: the command is re-delivered on the next connection and the agent
      // answers with the same receipt.
      logError("action %s: cannot log receipt: %s", r->command_id, logged.status().ToString());
      return;
    }
    ctx_.faults.afterReceiptLogged();
  }
  const std::string state(receiptStatusName(r->status));
  auto fresh = registry.finishAction(r->command_id, state, r->message, sr.receipt(), sr.signature(),
                                     nowUnixMs(), containmentAfter(action->kind, *r));
  if (fresh.ok() && *fresh && (action->kind == "image" || action->kind == "collect") &&
      r->status != ReceiptStatus::kSucceeded) {
    // The action is over: what it left half-sent can no longer complete.
    if (int n = ctx_.evidence->markIncomplete(r->command_id); n > 0) {
      logWarning("action %s %s: %d evidence item(s) marked incomplete", r->command_id, state, n);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fresh.ok()) {
      logged_unstored_.erase(r->command_id);
    } else {
      logged_unstored_.insert(r->command_id);
    }
  }
  if (!fresh.ok()) {
    logError("action %s: cannot store receipt: %s", r->command_id, fresh.status().ToString());
    return;
  }
  if (*fresh) {
    logInfo("action %s: %s on %s: %s", r->command_id, state, host_id, r->message);
    if (std::string digest = HeartbeatIntake::installedDigest(*r); !digest.empty()) {
      ctx_.health.expectRuleset(host_id, digest, r->command_id);
      HeartbeatIntake::noteExpected(registry, host_id, r->command_id, digest);
    }
    if (r->status == ReceiptStatus::kRefused) {
      // The signed receipt in the log is the refusal's record.
      log.recordEvent(host_id, "refusal",
                      absl::StrFormat("action %s refused: %s", r->command_id, r->message));
    }
    dispatcher_.actionFinished();
  }
  s.send(ack);
}

void ReceiptIntake::acceptRelease(AgentSession& s, const std::string& host_id,
                                  const v1::AgentEvent& event) {
  std::shared_lock<std::shared_mutex> identity(ctx_.identity_mu);
  LogWriter& log = *ctx_.log;
  Registry& registry = ctx_.registry();
  auto host = registry.findHost(host_id);
  if (!host.ok()) return;
  const std::string actor = "agent:" + host_id;
  v1::ControllerMessage ack;
  // Refused for good (it will not change on a resend): logged once, and acknowledged so the
  // agent stops sending it.
  auto refuse = [&](const std::string& why) {
    log.recordLoggedEvent("controller", host_id, "bad-release", why.substr(0, kMaxUntrustedText));
    if (!ack.receipt_ack().command_id().empty()) s.send(ack);
  };
  if (event.record().size() > 8192) {
    refuse(absl::StrFormat("a release record of %d bytes; not logged", event.record().size()));
    return;
  }
  if (auto v = crypto::ed25519Verify(host->receipt_public_key, event.record(), event.signature());
      !v.ok()) {
    refuse(absl::StrFormat("release signature does not verify: %s", v.message()));
    return;
  }
  auto r = decodeAgentRelease(event.record());
  if (!r.ok()) {
    refuse(std::string(r.status().message()));
    return;
  }
  ack.mutable_receipt_ack()->set_command_id("release:" + r->command_id);
  const std::string command_id = absl::CHexEscape(r->command_id.substr(0, 64));
  auto action = registry.findAction(r->command_id);
  auto command =
      action.ok() ? decodeCommand(action->command) : absl::StatusOr<Command>(action.status());
  auto for_ms = command.ok() ? isolateForMs(command->args) : absl::StatusOr<std::int64_t>(0);
  if (r->host_id != host_id || !action.ok() || action->host_id != host_id ||
      action->kind != "isolate" || !for_ms.ok() || *for_ms == 0 || !r->released) {
    refuse(absl::StrFormat("release of %s, which is no isolation with a duration sent to %s",
                           command_id, host_id));
    return;
  }
  if (action->receipt.empty()) {
    // The isolation's receipt comes first in the log; the agent sends this again (every ~10 s
    // and at each connection) until it is acknowledged.
    return;
  }
  if (action->state != "succeeded") {
    refuse(absl::StrFormat("release of %s, an isolation that did not succeed (%s)", command_id,
                           action->state));
    return;
  }
  const std::string marker = "agent_release:" + r->command_id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!in_flight_.insert(marker).second) return;
  }
  absl::Cleanup done = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_.erase(marker);
  };
  bool logged_before = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    logged_before = logged_unstored_.contains(marker);
  }
  auto seen = registry.meta(marker);
  if (!seen.ok() && !absl::IsNotFound(seen.status())) {
    logError("host %s: cannot read whether its timed release is logged: %s", host_id,
             seen.status().message());
    return;  // not acked: sent again
  }
  if (seen.ok() && *seen != "pending") {
    logged_before = true;
  } else if (seen.ok() && !logged_before) {
    // A crash between logging it and noting it: the log after the dispatch says.
    for (std::uint64_t i = static_cast<std::uint64_t>(std::max<std::int64_t>(action->log_index, 0));
         i < log.log().size() && !logged_before; ++i) {
      auto bytes = log.log().entry(i);
      if (!bytes.ok()) break;
      auto e = decodeLogEntry(*bytes);
      logged_before = e.ok() && e->type == entry_type::kAgentRelease && e->ref == r->command_id;
    }
  }
  const std::string digest =
      r->installed_sha256.size() == 64 &&
              r->installed_sha256.find_first_not_of("0123456789abcdef") == std::string::npos
          ? r->installed_sha256
          : "";
  if (!logged_before) {
    if (auto s = registry.setMeta(marker, "pending"); !s.ok()) {
      logError("host %s: cannot note its timed release: %s", host_id, s.message());
      return;  // not acked: sent again
    }
    LogEntry e;
    e.type = entry_type::kAgentRelease;
    e.actor = actor;
    e.host_id = host_id;
    e.ref = r->command_id;
    e.body = event.record();
    e.signature = event.signature();
    e.detail = absl::StrFormat("isolation %s ended at its deadline: released", command_id);
    auto logged = log.appendEntry(e);
    if (!logged.ok()) {
      logError("host %s: cannot log its timed release of %s: %s", host_id, command_id,
               logged.status().ToString());
      return;  // not acked: the agent sends it again
    }
    logWarning("host %s: %s (log entry %d)", host_id, e.detail, *logged);
    // Earlier than possible (the command was made, then applied, then the duration ran): the
    // host's clock was moved forward. Said, not hidden.
    const std::int64_t earliest = action->created_ms + *for_ms - 5000;
    if (nowUnixMs() < earliest) {
      log.recordLoggedEvent(
          "controller", host_id, "early-release",
          absl::StrFormat("isolation %s was released %d s before its duration could have run "
                          "out (the host's clock may have been moved forward)",
                          command_id, (earliest + 5000 - nowUnixMs()) / 1000),
          r->command_id);
    }
    if (auto noted = registry.setMeta(marker, absl::StrFormat("%d %s", *logged, digest));
        !noted.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      logged_unstored_.insert(marker);
    }
  } else if (!seen.ok() || *seen == "pending") {
    // Logged before a crash or a failed note: noted now.
    if (registry.setMeta(marker, absl::StrFormat("logged %s", digest)).ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      logged_unstored_.erase(marker);
    }
  }
  // The host's containment and expected rules follow, unless a later isolation or release
  // holds it now.
  auto recent = registry.listActions(host_id, 1000);
  bool later = false;
  if (recent.ok()) {
    for (const auto& a : *recent) {
      later = later || ((a.kind == "isolate" || a.kind == "release") && a.state == "succeeded" &&
                        a.created_ms > action->created_ms);
    }
  }
  if (!later) {
    (void)registry.setContainment(host_id, "none");
    // The rules it left, expected from now on; only when first logged (a resend arriving after
    // a later block must not take the expectation back).
    if (!digest.empty() && !logged_before) {
      ctx_.health.expectRuleset(host_id, digest, r->command_id);
      HeartbeatIntake::noteExpected(registry, host_id, r->command_id, digest);
    }
  }
  s.send(ack);
}

}  // namespace warden
