#include "controller/agent_channel/heartbeat_intake.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "common/heartbeat.h"
#include "common/log.h"

namespace warden {
namespace {

// Facts reach the registry when they change, and otherwise this often (last seen).
constexpr std::int64_t kFactsRefreshMs = 10'000;
// How many containment actions back a restarted controller looks for the last receipt.
constexpr int kReceiptLookback = 50;

bool isSha256Hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

bool changesContainment(const std::string& kind) {
  return kind == "isolate" || kind == "release" || kind == "block" || kind == "unblock";
}

}  // namespace

HeartbeatIntake::HeartbeatIntake(ControllerContext& ctx) : ctx_(ctx) {
  watcher_ = std::thread([this] { watchLoop(); });
}

HeartbeatIntake::~HeartbeatIntake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

std::string HeartbeatIntake::installedDigest(const Receipt& r) {
  if (r.status != ReceiptStatus::kSucceeded || !changesContainment(r.kind)) return "";
  auto it = r.details.find("installed_sha256");
  return it != r.details.end() && isSha256Hex(it->second) ? it->second : "";
}

void HeartbeatIntake::noteExpected(Registry& registry, const std::string& host_id,
                                   const std::string& ref, const std::string& digest) {
  if (auto s = registry.setMeta("expected_ruleset:" + host_id, ref + " " + digest); !s.ok()) {
    logWarning("host %s: cannot keep its expected ruleset: %s", host_id, s.message());
  }
}

void HeartbeatIntake::loadExpectation(const std::string& host_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!loaded_.insert(host_id).second) return;
  }
  if (ctx_.health.hasExpectation(host_id)) return;
  auto actions = ctx_.registry().listActions(host_id, kReceiptLookback);
  if (!actions.ok()) return;
  // Oldest first: the last match is the latest receipt.
  std::string digest, action_id;
  for (const auto& a : *actions) {
    if (a.receipt.empty()) continue;
    auto r = decodeReceipt(a.receipt);
    if (!r.ok()) continue;
    if (std::string d = installedDigest(*r); !d.empty()) {
      digest = d;
      action_id = a.id;
    }
  }
  // What the last change noted (a receipt, or a release at an isolation's deadline, which has
  // no receipt of its own).
  if (auto noted = ctx_.registry().meta("expected_ruleset:" + host_id); noted.ok()) {
    const auto space = noted->find(' ');
    const std::string d = space == std::string::npos ? "" : noted->substr(space + 1);
    if (isSha256Hex(d)) {
      digest = d;
      action_id = noted->substr(0, space);
    }
  }
  if (!digest.empty() && !ctx_.health.hasExpectation(host_id)) {
    ctx_.health.expectRuleset(host_id, digest, action_id);
  }
}

void HeartbeatIntake::acceptHeartbeat(AgentSession& s, const v1::Heartbeat& hb) {
  const std::int64_t now = nowUnixMs();
  if (!s.limits.heartbeats.take(now)) return;
  auto h = verifyHeartbeat(s.receipt_public_key, hb.signed_heartbeat(), hb.signature(), s.host_id);
  if (h.ok() && !h->ruleset_sha256.empty() && !isSha256Hex(h->ruleset_sha256)) {
    h = absl::InvalidArgumentError("ruleset digest is not SHA-256 hex");
  }
  if (!h.ok()) {
    ctx_.health.rejected(s.host_id);
    const std::uint64_t n = ctx_.health.rejectedCount(s.host_id);
    // One line for the first and then every hundredth: a host cannot flood the log.
    if (n == 1 || n % 100 == 0) {
      logWarning("host %s: heartbeat rejected (%d so far): %s", s.host_id, n,
                 absl::CHexEscape(h.status().message().substr(0, kMaxUntrustedText)));
    }
    return;
  }
  h->ruleset_error = absl::CHexEscape(h->ruleset_error.substr(0, kMaxUntrustedText));
  loadExpectation(s.host_id);
  ctx_.health.heartbeat(*h, now);

  // The facts are the agent's word, unsigned, as in the hello; the registry hears them when
  // they change (a bounded number of times) and otherwise every kFactsRefreshMs.
  const std::string facts = hb.facts().SerializeAsString();
  const bool changed = facts != s.last_facts;
  if ((changed && s.limits.facts.take(now)) || now - s.last_facts_ms >= kFactsRefreshMs) {
    (void)ctx_.registry().updateHostSeen(s.host_id, s.peer, &hb.facts());
    s.last_facts = facts;
    s.last_facts_ms = now;
  }
}

void HeartbeatIntake::watchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    for (const HostHealthChange& c : ctx_.health.changes(nowUnixMs())) {
      // A host's first valid heartbeat is no news; everything else is.
      if (c.from == HostHealth::kUnknown && c.to == HostHealth::kHealthy) continue;
      logWarning("host %s: health %s -> %s: %s", c.host_id, hostHealthName(c.from),
                 hostHealthName(c.to), c.detail);
      ctx_.log->recordLoggedEvent(
          "controller", c.host_id, "health",
          absl::StrFormat("%s: %s", hostHealthName(c.to), c.detail.substr(0, 1024)));
      if (ctx_.notifier && (c.to == HostHealth::kUnresponsive || c.to == HostHealth::kTampered)) {
        NotifyEvent n;
        n.type = "host-health";
        n.host = c.host_id;
        n.outcome = std::string(hostHealthName(c.to));
        ctx_.notifier->notify(n);
      }
    }
    lock.lock();
  }
}

}  // namespace warden
