#include "agent/actions/containment.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/log.h"
#include "common/status.h"

namespace warden {
namespace {

// StateStore keys: the isolation's deadline ("COMMAND_ID DEADLINE_MS", "" for none), written
// with the containment state in one transaction, and the release made at it until the agent
// has signed it (hex of an encoded AgentRelease).
constexpr char kDeadlineKey[] = "isolation_deadline";
constexpr char kTimedReleaseDoneKey[] = "timed_release_done";

std::string deadlineText(const std::optional<TimedRelease>& timed) {
  return timed ? absl::StrFormat("%s %d", timed->command_id, timed->deadline_unix_ms) : "";
}

std::string joinPrefixes(const std::vector<IpPrefix>& v) {
  std::vector<std::string> s;
  for (const auto& p : v) s.push_back(p.toString());
  return absl::StrJoin(s, ",");
}

}  // namespace

absl::Status Containment::load() {
  auto s = store_.loadContainment();
  if (!s.ok()) return s.status();
  std::lock_guard<std::mutex> lock(mu_);
  current_ = *s;
  return absl::OkStatus();
}

ContainmentState Containment::current() {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

ActionOutcome Containment::isolate(const IsolationPolicy& policy,
                                   const ReachabilityCheck& reachable, std::int64_t for_ms,
                                   const std::string& command_id) {
  std::lock_guard<std::mutex> lock(mu_);
  ActionOutcome out;
  const ContainmentState previous = current_;
  ContainmentState next = current_;
  next.isolation = policy;
  const absl::Time start = absl::Now();
  auto report = firewall_.apply(next);
  if (!report.ok()) {
    out.message = absl::StrFormat("isolation not applied: %s", report.status().message());
    out.details["backend"] = firewall_.backend();
    return out;
  }
  const absl::Duration applied_after = absl::Now() - start;
  auto flows = conntrack_.flushExcept(policy);
  const absl::Duration flushed_after = absl::Now() - start;

  out.details["backend"] = report->backend;
  out.details["prior_ruleset_sha256"] = report->prior_digest;
  out.details["installed_sha256"] = report->installed_digest;
  out.details["applied"] = report->applied;
  if (!report->warnings.empty()) out.details["warnings"] = absl::StrJoin(report->warnings, "; ");
  std::vector<std::string> dhcp;
  for (const auto& a : policy.dhcp_servers) dhcp.push_back(a.toString());
  out.details["dhcp_servers"] = absl::StrJoin(dhcp, ",");
  out.details["controller"] = absl::StrFormat(
      "%s port %d", joinPrefixes(policy.controller_addresses), policy.controller_port);
  std::vector<std::string> allow;
  for (const auto& a : policy.allow) allow.push_back(a.toString());
  out.details["allow"] = absl::StrJoin(allow, ",");
  out.details["flows_cut"] = flows.ok() ? absl::StrFormat("%d", *flows) : "unknown";
  if (!flows.ok()) out.details["conntrack_error"] = std::string(flows.status().message());
  out.details["apply_us"] = absl::StrFormat("%d", absl::ToInt64Microseconds(applied_after));

  // Rollback window: the host must still reach the controller through the new rules.
  if (!reachable()) {
    auto back = firewall_.apply(previous);
    out.message =
        back.ok() ? "controller unreachable after isolating; rolled back"
                  : absl::StrFormat("controller unreachable after isolating; rollback FAILED: %s",
                                    back.status().message());
    out.details["rolled_back"] = back.ok() ? "yes" : "failed";
    return out;
  }
  // Counted from now: the rules are in place and the controller answered through them.
  std::optional<TimedRelease> timed;
  if (for_ms > 0) timed = TimedRelease{command_id, nowUnixMs() + for_ms};
  if (auto s = store_.saveContainmentWith(next, {{kDeadlineKey, deadlineText(timed)}}); !s.ok()) {
    // Without the new state saved, an old deadline would still stand under this isolation:
    // cleared on its own, or the isolation is undone.
    const bool old_deadline_gone = !timed && store_.set(kDeadlineKey, "").ok();
    if (timed || !old_deadline_gone) {
      // An isolation that would not end when it was asked to is worse than none: undo it.
      auto back = firewall_.apply(previous);
      out.message = absl::StrFormat("cannot keep the isolation's deadline (%s); %s", s.message(),
                                    back.ok() ? "rolled back" : "rollback FAILED");
      out.details["rolled_back"] = back.ok() ? "yes" : "failed";
      return out;
    }
    // The rules are in place; say plainly that they would not survive a reboot.
    out.details["persist_error"] = std::string(s.message());
  }
  current_ = next;
  out.ok = true;
  if (timed) {
    out.details["release_at_unix_ms"] = absl::StrFormat("%d", timed->deadline_unix_ms);
  }
  out.details["duration_us"] = absl::StrFormat("%d", absl::ToInt64Microseconds(flushed_after));
  out.message =
      absl::StrFormat("isolated (%s, %s flows cut)", report->backend, out.details["flows_cut"]);
  if (timed) {
    out.message += absl::StrFormat(
        "; releases itself at %s UTC",
        absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(timed->deadline_unix_ms),
                         absl::UTCTimeZone()));
  }
  return out;
}

absl::StatusOr<std::optional<TimedRelease>> Containment::loadDeadline() {
  auto text = store_.get(kDeadlineKey);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return std::optional<TimedRelease>();
    return text.status();
  }
  if (text->empty()) return std::optional<TimedRelease>();
  std::vector<std::string> parts = absl::StrSplit(*text, ' ');
  TimedRelease t;
  if (parts.size() != 2 || parts[0].empty() || !absl::SimpleAtoi(parts[1], &t.deadline_unix_ms)) {
    return absl::DataLossError(
        absl::StrFormat("the isolation's deadline is unreadable: '%s'", text->substr(0, 80)));
  }
  t.command_id = parts[0];
  return std::optional<TimedRelease>(t);
}

std::optional<TimedRelease> Containment::deadline() {
  std::lock_guard<std::mutex> lock(mu_);
  auto d = loadDeadline();
  return d.ok() ? *d : std::nullopt;
}

ActionOutcome Containment::releaseAtDeadline(const TimedRelease& due, std::int64_t now_unix_ms,
                                             const char* message) {
  ContainmentState next = current_;
  next.isolation.reset();
  ActionOutcome out;
  auto report = firewall_.apply(next);
  if (!report.ok()) {
    out.message = absl::StrFormat("not applied: %s", report.status().message());
    return out;
  }
  AgentRelease r;
  r.cause = kTimedRelease;
  r.command_id = due.command_id;
  r.deadline_unix_ms = due.deadline_unix_ms;
  r.released_unix_ms = now_unix_ms;
  r.released = true;
  r.message = std::string(message).substr(0, kMaxAgentReleaseMessage);
  r.installed_sha256 = report->installed_digest;
  // One transaction: the state without the isolation, without its deadline, and the record of
  // the release (a crash leaves the isolation and its deadline, released again at start).
  if (auto s = store_.saveContainmentWith(
          next, {{kDeadlineKey, ""}, {kTimedReleaseDoneKey, crypto::hex(encodeAgentRelease(r))}});
      !s.ok()) {
    out.details["persist_error"] = std::string(s.message());
    logError("the timed release of %s is not recorded: %s", due.command_id, s.message());
  }
  current_ = next;
  out.ok = true;
  out.message = message;
  return out;
}

void Containment::releaseIfDue(std::int64_t now_unix_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto due = loadDeadline();
  if (!due.ok()) {
    // Unreadable: the isolation holds (never released on a guess); said once a minute.
    if (now_unix_ms - deadline_error_logged_ms_ >= 60000) {
      deadline_error_logged_ms_ = now_unix_ms;
      logError("%s", due.status().message());
    }
    return;
  }
  if (!due->has_value() || now_unix_ms < (*due)->deadline_unix_ms) return;
  if (!current_.isolation) {
    (void)store_.saveContainmentWith(current_, {{kDeadlineKey, ""}});
    return;
  }
  ActionOutcome out =
      releaseAtDeadline(**due, now_unix_ms, "released: the isolation's duration ran out");
  if (!out.ok) {
    if (now_unix_ms - deadline_error_logged_ms_ >= 60000) {
      deadline_error_logged_ms_ = now_unix_ms;
      logError("the isolation of %s ran out, but releasing failed (trying again): %s",
               (*due)->command_id, out.message);
    }
    return;
  }
  logWarning("isolation of command %s ran out at its deadline: released", (*due)->command_id);
}

absl::StatusOr<std::optional<AgentRelease>> Containment::peekTimedRelease() {
  std::lock_guard<std::mutex> lock(mu_);
  auto bytes = store_.get(kTimedReleaseDoneKey);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status())) return std::optional<AgentRelease>();
    return bytes.status();
  }
  if (bytes->empty()) return std::optional<AgentRelease>();
  WARDEN_ASSIGN_OR_RETURN(std::string raw, crypto::unhex(*bytes));
  WARDEN_ASSIGN_OR_RETURN(AgentRelease r, decodeAgentRelease(raw));
  return std::optional<AgentRelease>(std::move(r));
}

absl::Status Containment::clearTimedRelease() {
  std::lock_guard<std::mutex> lock(mu_);
  return store_.set(kTimedReleaseDoneKey, "");
}

ActionOutcome Containment::release() {
  std::lock_guard<std::mutex> lock(mu_);
  ContainmentState next = current_;
  next.isolation.reset();
  const bool was_isolated = current_.isolation.has_value();
  ActionOutcome out = commit(next, was_isolated ? "released" : "released (was not isolated)",
                             /*clear_deadline=*/true);
  if (!out.ok) out.message = "release failed: " + out.message;
  return out;
}

ActionOutcome Containment::commit(const ContainmentState& next, std::string message,
                                  bool clear_deadline) {
  ActionOutcome out;
  const absl::Time start = absl::Now();
  auto report = firewall_.apply(next);
  if (!report.ok()) {
    out.message = absl::StrFormat("not applied: %s", report.status().message());
    out.details["backend"] = firewall_.backend();
    return out;
  }
  if (auto s = clear_deadline ? store_.saveContainmentWith(next, {{kDeadlineKey, ""}})
                              : store_.saveContainment(next);
      !s.ok()) {
    out.details["persist_error"] = std::string(s.message());
  }
  current_ = next;
  out.ok = true;
  out.message = std::move(message);
  out.details["backend"] = report->backend;
  out.details["prior_ruleset_sha256"] = report->prior_digest;
  out.details["installed_sha256"] = report->installed_digest;
  out.details["applied"] = report->applied;
  out.details["blocked"] = joinPrefixes(next.blocked);
  out.details["duration_us"] =
      absl::StrFormat("%d", absl::ToInt64Microseconds(absl::Now() - start));
  return out;
}

ActionOutcome Containment::block(const std::vector<IpPrefix>& prefixes,
                                 const std::vector<IpPrefix>& protected_addresses) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& p : prefixes) {
    for (const auto& c : protected_addresses) {
      if (p.contains(c)) {
        ActionOutcome out;
        out.message = absl::StrFormat(
            "refusing to block %s: it covers the controller's address %s (the host would be "
            "cut off from its controller)",
            p.toString(), c.toString());
        return out;
      }
    }
  }
  ContainmentState next = current_;
  int added = 0;
  for (const auto& p : prefixes) {
    if (std::find(next.blocked.begin(), next.blocked.end(), p) == next.blocked.end()) {
      next.blocked.push_back(p);
      ++added;
    }
  }
  return commit(next, absl::StrFormat("blocked %d new address%s (%d in force)", added,
                                      added == 1 ? "" : "es", next.blocked.size()));
}

ActionOutcome Containment::unblock(const std::vector<IpPrefix>& prefixes) {
  std::lock_guard<std::mutex> lock(mu_);
  ContainmentState next = current_;
  const std::size_t before = next.blocked.size();
  for (const auto& p : prefixes) {
    next.blocked.erase(std::remove(next.blocked.begin(), next.blocked.end(), p),
                       next.blocked.end());
  }
  const std::size_t removed = before - next.blocked.size();
  return commit(next, absl::StrFormat("unblocked %d address%s (%d still in force)", removed,
                                      removed == 1 ? "" : "es", next.blocked.size()));
}

absl::StatusOr<ContainmentState> Containment::restore() {
  std::lock_guard<std::mutex> lock(mu_);
  auto s = store_.loadContainment();
  if (!s.ok()) return s.status();
  current_ = *s;
  // An isolation whose time ran out while the agent was not running is not put back.
  std::optional<TimedRelease> ran_out;
  if (auto due = loadDeadline(); due.ok() && due->has_value() && current_.isolation &&
                                 nowUnixMs() >= (*due)->deadline_unix_ms) {
    ran_out = **due;
    current_.isolation.reset();
  }
  if (ran_out) {
    current_.isolation = s->isolation;  // releaseAtDeadline takes it away
    ActionOutcome out = releaseAtDeadline(*ran_out, nowUnixMs(),
                                          "released at start: the isolation's duration ran out");
    if (!out.ok) return absl::InternalError(out.message);
    return current_;
  }
  if (current_.empty()) {
    // Nothing to enforce; only clean up leftovers if any exist.
    if (firewall_.verify(current_).ok()) return current_;
  }
  auto report = firewall_.apply(current_);
  if (!report.ok()) return report.status();
  return current_;
}

absl::StatusOr<std::optional<std::string>> Containment::repairIfTampered() {
  std::lock_guard<std::mutex> lock(mu_);
  auto v = firewall_.verify(current_);
  if (v.ok()) return std::optional<std::string>();
  auto report = firewall_.apply(current_);
  if (!report.ok()) {
    return absl::InternalError(absl::StrFormat("rules were changed (%s) and re-applying failed: %s",
                                               v.message(), report.status().message()));
  }
  return std::optional<std::string>(
      absl::StrFormat("Warden's %s rules were changed by someone else (%s); re-applied",
                      firewall_.backend(), v.message()));
}

absl::StatusOr<std::string> Containment::installedDigest() {
  std::lock_guard<std::mutex> lock(mu_);
  return firewall_.installedDigest(current_);
}

}  // namespace warden
