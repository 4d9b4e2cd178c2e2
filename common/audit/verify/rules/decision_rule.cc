// decision: what automation decided about an alert (the checkpoints attest it). The verifier
// decides again, with the controller's own code (common/alerts/decide.h), from the logged
// alert, the rules version an admin applied and was in force, and the guardrails' history the
// log holds; the decision must say exactly that. An acted decision promises one automated
// request (request_rule.cc holds it to the promise).
#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/audit/automation_record.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {
namespace {

// Hosts as the log knows them: enrolled ids. Aliases (host labels) are not in the log, so a
// host named through one is taken as the decision says, if that host is enrolled.
class LoggedHosts final : public HostDirectory {
 public:
  LoggedHosts(LogState& log, const DecisionRecord& d) : log_(log), d_(d) {}
  std::vector<std::string> hostsNamed(const std::string& value) override {
    if (enrolled(value)) return {value};
    if (value == d_.via && !d_.host.empty() && enrolled(d_.host)) return {d_.host};
    // An alias two hosts share: no-action, taken as the decision says.
    if (value == d_.via && d_.host.empty() && d_.reason == reason::kAmbiguousHost) {
      return {"(alias)", "(alias)"};
    }
    return {};
  }
  // Protection by host label is not in the log either: taken as the decision says.
  bool protectedByLabel(const std::string&) override { return d_.reason == reason::kProtected; }

 private:
  bool enrolled(const std::string& host) {
    auto id = log_.names.find(host);
    return id && log_.agent_keys.contains(*id);
  }
  LogState& log_;
  const DecisionRecord& d_;
};

Alert alertOf(const AlertRecord& r) {
  Alert a;
  a.resolved = r.status == "resolved";
  a.fingerprint = r.fingerprint;
  a.starts_unix_ms = r.starts_unix_ms;
  for (const auto& l : r.labels) {
    const auto eq = l.find('=');
    if (eq != std::string::npos) a.labels[l.substr(0, eq)] = l.substr(eq + 1);
  }
  return a;
}

std::optional<AlertFormat> formatOf(const std::string& name) {
  for (AlertFormat f : {AlertFormat::kAlertmanager, AlertFormat::kFalco, AlertFormat::kJson}) {
    if (name == alertFormatName(f)) return f;
  }
  return std::nullopt;
}

std::string summary(const std::string& outcome, const std::string& reason,
                    const std::string& host) {
  return absl::StrFormat("%s (%s)%s", outcome, reason, host.empty() ? "" : " on " + host);
}

class DecisionRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    using absl::StrFormat;
    if (e.actor != "controller") {
      return StrFormat("decisions are the controller's, not %s", quote(e.actor));
    }
    auto d = decodeDecisionRecord(e.body);
    if (!d.ok()) return StrFormat("body is not a decision record: %s", d.status().message());
    AutomationLog& am = log.automation;
    if (d->alert_id != e.ref) {
      return StrFormat("the decision is about alert %s, the entry says %s", quote(d->alert_id),
                       quote(e.ref));
    }
    auto pending = am.undecided.find(d->alert_id);
    if (pending == am.undecided.end()) {
      return StrFormat("alert %s is not logged before it, or was already decided", d->alert_id);
    }
    if (d->host != e.host_id) {
      return StrFormat("the decision names host %s, the entry says %s", quote(d->host),
                       quote(e.host_id));
    }
    if (d->rules_version != am.current) {
      return am.current.empty()
                 ? StrFormat("decided under rules version %s, but no rules were applied",
                             quote(d->rules_version))
                 : StrFormat("decided under rules version %s, but %s was in force",
                             quote(d->rules_version), am.current);
    }
    const AlertRecord alert = std::move(pending->second);
    am.undecided.erase(pending);
    auto format = formatOf(alert.format);
    if (!format) return StrFormat("alert %s has format %s", alert.id, quote(alert.format));
    const RuleSet* rules = am.current.empty() ? nullptr : am.versions.at(am.current).get();
    const Alert a = alertOf(alert);
    AlertContext ctx{
        alert.source, *format, alert.receiver, alert.received_unix_ms,
        static_cast<std::uint32_t>(std::min<std::uint64_t>(d->group_hosts, UINT32_MAX))};
    LoggedHosts hosts(log, *d);
    const Decision again = decide(rules, a, ctx, am, hosts);
    if (again.outcome != d->outcome || again.reason != d->reason || again.host != d->host ||
        again.rule != d->rule || again.action != d->action || again.allow != d->allow ||
        again.addresses != d->addresses || again.args != d->args ||
        again.dedupe_key != d->dedupe_key) {
      return StrFormat(
          "decided %s by rule %s, but alert %s, rules version %s and the guardrails in force "
          "give %s by rule %s",
          summary(d->outcome, d->reason, d->host), quote(d->rule), alert.id,
          am.current.empty() ? "(none)" : am.current,
          summary(again.outcome, again.reason, again.host), quote(again.rule));
    }
    // The group's hosts, as far as the log has shown them, are within what it says it named.
    if (rules != nullptr && !again.host.empty()) {
      const AlertRule* rule = firstMatchingRule(*rules, a, ctx);
      if (rule != nullptr && rule->mode != RuleMode::kDryRun) {
        auto& group =
            am.group_hosts[alert.payload_sha256 + "@" + std::to_string(alert.received_unix_ms)];
        group.insert(again.host);
        if (group.size() > d->group_hosts) {
          return StrFormat("its alert group names at least %d hosts, not %d", group.size(),
                           d->group_hosts);
        }
      }
    }
    const bool acted = d->outcome == decision::kActed;
    if (acted != !d->request_id.empty()) {
      return acted ? std::string("an acted decision must name the automated request it makes")
                   : std::string("only an acted decision names an automated request");
    }
    if (acted && !am.promised.try_emplace(d->request_id, *d).second) {
      return StrFormat("request id %s is promised twice", d->request_id);
    }
    if (d->outcome == decision::kPendingApproval) {
      am.pending[d->id] = {
          *d, alert.received_unix_ms + (rules ? rules->guardrails.approval_ttl_ms : 0)};
    }
    am.last_decided[d->dedupe_key] =
        std::max(am.last_decided[d->dedupe_key], alert.received_unix_ms);
    if (acted) {
      auto& times = am.acted_at[d->action];
      times.insert(std::upper_bound(times.begin(), times.end(), alert.received_unix_ms),
                   alert.received_unix_ms);
      am.noteChange(d->host, alert.received_unix_ms);
    }
    return {};
  }

  std::string labelDetail(const LogEntry& e) const override {
    std::string detail = ", alert " + e.ref;
    if (!e.host_id.empty()) detail += ", host " + e.host_id;
    return detail;
  }
};

}  // namespace

const EntryRule& decisionRule() { return theRule<DecisionRule>(); }

}  // namespace warden::audit_verify
