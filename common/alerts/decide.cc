#include "common/alerts/decide.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/audit/automation_record.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/net.h"

namespace warden {
namespace {

std::string labelOf(const Alert& a, const std::string& name) {
  auto it = a.labels.find(name);
  return it == a.labels.end() ? std::string() : it->second;
}

std::string durationText(std::int64_t ms) {
  if (ms >= 3'600'000 && ms % 3'600'000 == 0) return absl::StrFormat("%dh", ms / 3'600'000);
  if (ms >= 60'000 && ms % 60'000 == 0) return absl::StrFormat("%dm", ms / 60'000);
  return absl::StrFormat("%ds", ms / 1000);
}

Decision finish(Decision d, const char* outcome, const char* why_reason, std::string why) {
  d.outcome = outcome;
  d.reason = why_reason;
  d.why = std::move(why);
  return d;
}

bool formatAllowed(const AlertRule& r, AlertFormat f) {
  return r.formats.empty() || std::find(r.formats.begin(), r.formats.end(), f) != r.formats.end();
}

bool senderAllowed(const AlertRule& r, const std::string& source) {
  return r.senders.empty() ||
         std::find(r.senders.begin(), r.senders.end(), source) != r.senders.end();
}

// The action's own inputs from the alert's labels: the address to block (outside never_block),
// the user whose sessions to kill. Empty when fine, else the decision explaining why not.
std::optional<Decision> actionInputs(const AlertRule& rule, const Alert& alert, const Guardrails& g,
                                     Decision& d) {
  d.action = rule.action;
  d.allow = rule.allow;
  if (rule.action == "kill-sessions") {
    const std::string user = labelOf(alert, rule.user_from);
    if (user.empty() || user.size() > 64 || user.find_first_of("=,\n\r\t ") != std::string::npos) {
      return finish(d, decision::kNoAction, reason::kMissingLabel,
                    absl::StrFormat("rule %s kills the sessions of the user in label %s, which "
                                    "the alert %s",
                                    rule.name, rule.user_from,
                                    user.empty() ? "does not carry"
                                                 : "holds in a form that is "
                                                   "not a user name"));
    }
    d.args = {"user=" + user};
  } else if (rule.action == "block") {
    const std::string text = labelOf(alert, rule.address_from);
    auto address = IpPrefix::parse(text);
    // One address, never a network: a sender must not be able to have a whole range blocked.
    if (!address.ok() || !address->isHost()) {
      return finish(d, decision::kNoAction, reason::kMissingLabel,
                    absl::StrFormat("rule %s blocks the address in label %s, which the alert %s",
                                    rule.name, rule.address_from,
                                    text.empty()   ? "does not carry"
                                    : address.ok() ? "holds as a network, not one address"
                                                   : "holds as no address"));
    }
    for (const auto& range : g.never_block) {
      auto r = IpPrefix::parse(range);
      if (r.ok() && (r->contains(*address) || address->contains(*r))) {
        return finish(d, decision::kNoAction, reason::kNeverBlock,
                      absl::StrFormat("address %s is within never_block range %s",
                                      address->toString(), range));
      }
    }
    d.addresses = {address->toString()};
  }
  return std::nullopt;
}

}  // namespace

std::string dedupeKey(const std::string& source, const std::string& receiver,
                      const std::string& fingerprint, bool resolved) {
  std::string key;
  for (const std::string* part : {&source, &receiver, &fingerprint}) {
    key += absl::StrFormat("%d:", part->size());
    key += *part;
  }
  key += resolved ? "resolved" : "firing";
  return crypto::hex(crypto::sha256(key));
}

std::string hostNameOf(const std::string& raw) {
  std::string v = raw;
  if (!v.empty() && v.front() == '[') {  // [v6]:port
    const auto close = v.find(']');
    if (close != std::string::npos) v = v.substr(1, close - 1);
  } else if (std::count(v.begin(), v.end(), ':') == 1) {
    v = v.substr(0, v.find(':'));
  }
  if (!IpPrefix::parse(v).ok()) v = v.substr(0, v.find('.'));
  return absl::AsciiStrToLower(v);
}

const AlertRule* firstMatchingRule(const RuleSet& rules, const Alert& alert,
                                   const AlertContext& ctx) {
  for (const auto& rule : rules.rules) {
    if (!formatAllowed(rule, ctx.format) || !senderAllowed(rule, ctx.source)) continue;
    if (std::all_of(rule.match.begin(), rule.match.end(),
                    [&](const Matcher& m) { return m.matches(alert.labels); })) {
      return &rule;
    }
  }
  return nullptr;
}

HostPick pickHost(const AlertRule& rule, const Alert& alert, HostDirectory& hosts) {
  HostPick pick;
  for (const auto& name : rule.host_from) {
    const std::string value = labelOf(alert, name);
    if (value.empty()) continue;
    pick.via = hostNameOf(value);
    const std::vector<std::string> found =
        pick.via.empty() ? std::vector<std::string>{} : hosts.hostsNamed(pick.via);
    if (found.size() == 1) {
      pick.host = found.front();
      pick.why = absl::StrFormat("label %s=%s names host %s", name, value, pick.host);
    } else if (found.empty()) {
      pick.reason = reason::kUnknownHost;
      pick.why = absl::StrFormat(
          "label %s=%s names no enrolled host (by host id or warden.alias label)", name, value);
    } else {
      pick.reason = reason::kAmbiguousHost;
      pick.why = absl::StrFormat("label %s=%s names %d hosts", name, value, found.size());
    }
    return pick;
  }
  pick.reason = reason::kUnknownHost;
  pick.why = "the alert carries none of the labels rule " + rule.name + " takes the host from";
  return pick;
}

Decision decide(const RuleSet* rules, const Alert& alert, const AlertContext& ctx,
                AutomationHistory& history, HostDirectory& hosts) {
  const Guardrails g = rules ? rules->guardrails : Guardrails{};
  const std::int64_t now = ctx.now_unix_ms;
  Decision d;
  d.dedupe_key = dedupeKey(ctx.source, ctx.receiver, alert.fingerprint, alert.resolved);
  if (history.decidedSince(d.dedupe_key, now - g.dedupe_ms)) {
    return finish(d, decision::kNoAction, reason::kDeduplicated,
                  absl::StrFormat("the same alert (source, receiver, fingerprint, status) was "
                                  "decided within the last %s",
                                  durationText(g.dedupe_ms)));
  }
  if (alert.resolved) {
    return finish(d, decision::kNoAction, reason::kResolved,
                  "a resolved alert never releases a host: release is a person's decision");
  }
  const AlertRule* rule = rules ? firstMatchingRule(*rules, alert, ctx) : nullptr;
  if (rule == nullptr) {
    return finish(d, decision::kNoAction, reason::kNoRule,
                  rules ? "no rule matches the alert" : "no rules are applied");
  }
  d.rule = rule->name;
  HostPick pick = pickHost(*rule, alert, hosts);
  d.via = pick.via;
  if (pick.host.empty()) {
    return finish(d, decision::kNoAction, pick.reason.c_str(), pick.why);
  }
  d.host = pick.host;
  if (std::find(g.protected_hosts.begin(), g.protected_hosts.end(), d.host) !=
          g.protected_hosts.end() ||
      hosts.protectedByLabel(d.host)) {
    return finish(d, decision::kNoAction, reason::kProtected,
                  absl::StrFormat("host %s is protected: automation never acts on it", d.host));
  }
  if (auto refused = actionInputs(*rule, alert, g, d)) return *refused;
  const std::string what =
      absl::StrFormat("rule %s: %s %s (%s)", rule->name, rule->action, d.host, pick.why);
  if (rule->mode == RuleMode::kDryRun) {
    return finish(d, decision::kDryRun, reason::kRuleMatched,
                  what + "; the rule is in dry-run mode, nothing was done");
  }
  if (auto last = history.lastContainmentChange(d.host); last && *last >= now - g.cooldown_ms) {
    return finish(d, decision::kNoAction, reason::kCooldown,
                  absl::StrFormat("%s; host %s was acted on or released within the %s cooldown",
                                  what, d.host, durationText(g.cooldown_ms)));
  }
  if (history.breakerOpen()) {
    return finish(d, decision::kPendingApproval, reason::kBreakerOpen,
                  what + "; the breaker is open: every automated action needs approval");
  }
  if (rule->mode == RuleMode::kApprove) {
    return finish(d, decision::kPendingApproval, reason::kModeApprove,
                  what + "; the rule asks for an operator's approval");
  }
  if (alert.starts_unix_ms > 0 && alert.starts_unix_ms < now - g.max_alert_age_ms) {
    return finish(d, decision::kPendingApproval, reason::kStale,
                  absl::StrFormat("%s; the alert started more than %s ago", what,
                                  durationText(g.max_alert_age_ms)));
  }
  if (ctx.group_hosts > g.max_hosts_per_alert) {
    return finish(d, decision::kPendingApproval, reason::kTooManyHosts,
                  absl::StrFormat("%s; its alert group names %d hosts, more than "
                                  "max_hosts_per_alert (%d)",
                                  what, ctx.group_hosts, g.max_hosts_per_alert));
  }
  const bool isolates = rule->action == "isolate", blocks = rule->action == "block";
  if (isolates || blocks) {
    const std::uint32_t budget = isolates ? g.max_isolations : g.max_blocks;
    const std::uint32_t used = history.actedSince(rule->action, now - g.window_ms);
    if (used >= budget) {
      return finish(
          d, decision::kPendingApproval, reason::kBudgetExhausted,
          absl::StrFormat("%s; %d automated %s in the last %s, the budget is %d", what, used,
                          isolates ? "isolations" : "blocks", durationText(g.window_ms), budget));
    }
  }
  return finish(d, decision::kActed, reason::kRuleMatched, what);
}

}  // namespace warden
