// The agent's life: created from its state directory, re-applies persisted containment, then
// keeps a controller stream up (controller_stream.cc) with jittered reconnects until stopped,
// and repairs its rules whenever netfilter changes under it. Commands: command_handling.cc;
// images and triage bundles: evidence_actions.cc.
#include "agent/runtime/agent.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string_view>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/runtime/cert_renewal.h"
#include "agent/runtime/controller_pins.h"
#include "common/audit/agent_release.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/log.h"
#include "common/net.h"
#include "common/status.h"

namespace warden {

absl::StatusOr<std::unique_ptr<Agent>> Agent::create(const AgentOptions& options,
                                                     std::unique_ptr<StateStore> store,
                                                     AgentParts parts) {
  WARDEN_ASSIGN_OR_RETURN(std::string key_pem, readFile(store->path("receipt.key")));
  WARDEN_ASSIGN_OR_RETURN(auto key, crypto::Ed25519Key::fromPem(key_pem));
  std::unique_ptr<Agent> agent(
      new Agent(options, std::move(store), std::move(parts), std::move(key)));
  WARDEN_ASSIGN_OR_RETURN(agent->trust_.host_id, agent->store_->get("host_id"));
  WARDEN_ASSIGN_OR_RETURN(agent->trust_.command_public_key,
                          agent->store_->get("command_public_key"));
  WARDEN_ASSIGN_OR_RETURN(agent->trust_.log_vkey, agent->store_->get("log_vkey"));
  WARDEN_ASSIGN_OR_RETURN(agent->controller_, agent->store_->get("controller"));
  WARDEN_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(agent->controller_));
  agent->controller_port_ = hp.port;
  agent->controller_addresses_ =
      ControllerPins::decode(agent->store_->getOr("controller_addresses", "")).addresses();
  WARDEN_RETURN_IF_ERROR(agent->containment_->load());
  agent->certificate_ = std::make_unique<AgentCertificate>(*agent->store_, agent->trust_.host_id,
                                                           agent->controller_, agent->receipt_key_);
  // A half-stored renewal must never keep the agent (and its containment) from starting.
  if (auto s = agent->certificate_->recover(); !s.ok()) {
    logError("host %s: cannot finish storing a renewed certificate: %s", agent->trust_.host_id,
             s.message());
  }
  return agent;
}

Agent::Agent(AgentOptions options, std::unique_ptr<StateStore> store, AgentParts parts,
             crypto::Ed25519Key receipt_key)
    : options_(std::move(options)),
      store_(std::move(store)),
      parts_(std::move(parts)),
      receipt_key_(std::move(receipt_key)) {
  containment_ = std::make_unique<Containment>(*parts_.firewall, *parts_.conntrack, *store_);
  if (const char* f = std::getenv("WARDEN_FAULT_INJECT"); f != nullptr) {
    constexpr std::string_view kExit = "exit-before-receipt:";
    if (std::string_view v(f); v.starts_with(kExit)) {
      exit_before_receipt_ = std::string(v.substr(kExit.size()));
      logWarning("FAULT INJECTION ACTIVE (WARDEN_FAULT_INJECT=%s): testing only", v);
    }
  }
}

Agent::~Agent() {
  stop();
  if (watch_thread_.joinable()) watch_thread_.join();
  certificate_.reset();
  std::vector<std::thread> imaging;
  {
    std::lock_guard<std::mutex> lock(imaging_mu_);
    imaging.swap(imaging_threads_);
  }
  for (auto& t : imaging) t.join();
}

void Agent::stop() {
  stopping_ = true;
  if (certificate_) certificate_->stop();
  std::lock_guard<std::mutex> lock(mu_);
  if (ctx_ != nullptr) ctx_->TryCancel();
  cv_.notify_all();
}

absl::Status Agent::run() {
  // Containment first: a host that was isolated stays isolated from the first moment.
  auto restored = containment_->restore();
  if (!restored.ok()) {
    logError("host %s: re-applying persisted containment failed: %s", trust_.host_id,
             restored.status().message());
    sendEvent("restore-failed", std::string(restored.status().message()));
  } else if (!restored->empty()) {
    logInfo("host %s: re-applied persisted containment (%s)", trust_.host_id,
            restored->isolation ? "isolated" : "blocks only");
    sendEvent("restore", restored->isolation ? "isolation re-applied at agent start"
                                             : "blocks re-applied at agent start");
  }
  reportTimedRelease();
  watch_thread_ = std::thread([this] { watchLoop(); });
  certificate_->start();

  std::mt19937_64 rng(std::random_device{}());
  absl::Duration backoff = absl::Milliseconds(250);
  while (!stopping_) {
    const absl::Time started = absl::Now();
    // A certificate that ran out while the host was offline is renewed first (enrolled key).
    (void)certificate_->renewIfExpired();
    auto s = session();
    if (stopping_) break;
    if (absl::Now() - started > absl::Seconds(30)) backoff = absl::Milliseconds(250);
    logWarning("host %s: controller stream ended (%s); reconnecting in ~%s", trust_.host_id,
               s.ToString(), absl::FormatDuration(backoff));
    // Full jitter (AWS architecture blog): spread reconnect storms after a controller restart.
    std::uniform_int_distribution<std::int64_t> jitter(absl::ToInt64Milliseconds(backoff) / 2,
                                                       absl::ToInt64Milliseconds(backoff));
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(jitter(rng)), [this] { return stopping_.load(); });
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
  if (watch_thread_.joinable()) watch_thread_.join();
  return absl::OkStatus();
}

void Agent::watchLoop() {
  std::uint64_t ticks = 0;
  while (!stopping_) {
    if (parts_.watch) {
      auto changed = parts_.watch->waitForChange(absl::Seconds(1));
      if (!changed.ok()) {
        logWarning("netfilter watch failed (%s); polling instead", changed.status().message());
        parts_.watch.reset();
      }
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_.load(); });
    }
    if (stopping_) break;
    // A deadline first: what ran out is released, not "repaired" back.
    containment_->releaseIfDue(nowUnixMs());
    reportTimedRelease();
    // Unacknowledged releases go again now and then: the controller logs one only once the
    // isolation's receipt is in, and acknowledges only what it logged.
    if (++ticks % 10 == 0) sendPendingRelease();
    auto tampered = containment_->repairIfTampered();
    if (!tampered.ok()) {
      logError("host %s: %s", trust_.host_id, tampered.status().message());
      sendEvent("tamper", std::string(tampered.status().message()));
    } else if (tampered->has_value()) {
      logWarning("host %s: %s", trust_.host_id, **tampered);
      sendEvent("tamper", **tampered);
    }
  }
}

namespace {

// Signed releases not yet acknowledged: lines of "hex(record) hex(signature)".
constexpr char kPendingReleasesKey[] = "pending_releases";

std::vector<std::string> pendingLines(StateStore& store) {
  return absl::StrSplit(store.getOr(kPendingReleasesKey, ""), '\n', absl::SkipEmpty());
}

}  // namespace

void Agent::reportTimedRelease() {
  auto taken = containment_->peekTimedRelease();
  if (!taken.ok()) {
    logError("host %s: the record of a timed release is unreadable: %s", trust_.host_id,
             taken.status().message());
    (void)containment_->clearTimedRelease();
    return;
  }
  if (!taken->has_value()) return;
  AgentRelease r = **taken;
  r.host_id = trust_.host_id;
  const std::string bytes = encodeAgentRelease(r);
  auto sig = receipt_key_.sign(bytes);
  if (!sig.ok()) {
    logError("host %s: cannot sign the timed release: %s", trust_.host_id, sig.status().message());
    return;  // kept: tried again at the next tick
  }
  {
    std::lock_guard<std::mutex> lock(release_mu_);
    std::vector<std::string> lines = pendingLines(*store_);
    const std::string line = crypto::hex(bytes) + " " + crypto::hex(*sig);
    if (std::find(lines.begin(), lines.end(), line) == lines.end()) lines.push_back(line);
    // Bounded: one per isolation with a duration, each acknowledged at the next connection.
    while (lines.size() > 64) lines.erase(lines.begin());
    if (auto s = store_->set(kPendingReleasesKey, absl::StrJoin(lines, "\n")); !s.ok()) {
      logError("host %s: cannot keep the timed release for the controller: %s", trust_.host_id,
               s.message());
      return;  // the record stays: tried again at the next tick
    }
  }
  (void)containment_->clearTimedRelease();
  sendPendingRelease();
}

void Agent::sendPendingRelease() {
  std::vector<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(release_mu_);
    lines = pendingLines(*store_);
  }
  for (const auto& line : lines) {
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    auto record = crypto::unhex(line.substr(0, space));
    auto sig = crypto::unhex(line.substr(space + 1));
    if (!record.ok() || !sig.ok()) continue;
    auto r = decodeAgentRelease(*record);
    if (!r.ok()) continue;
    v1::AgentMessage m;
    auto* e = m.mutable_event();
    e->set_kind("release");
    e->set_detail(r->message);
    e->set_at_unix_ms(r->released_unix_ms);
    e->set_command_id(r->command_id);
    e->set_record(*record);
    e->set_signature(*sig);
    if (!send(m)) return;
  }
}

void Agent::releaseAcknowledged(const std::string& ack) {
  std::lock_guard<std::mutex> lock(release_mu_);
  std::vector<std::string> lines = pendingLines(*store_);
  const auto before = lines.size();
  std::erase_if(lines, [&](const std::string& line) {
    auto record = crypto::unhex(line.substr(0, line.find(' ')));
    if (!record.ok()) return true;
    auto r = decodeAgentRelease(*record);
    return !r.ok() || ack == "release:" + r->command_id;
  });
  if (lines.size() != before) (void)store_->set(kPendingReleasesKey, absl::StrJoin(lines, "\n"));
}

}  // namespace warden
