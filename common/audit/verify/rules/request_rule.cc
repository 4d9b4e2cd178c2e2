// request: what an operator asked for, signed with their key. Request ids are unique. One the
// controller refuses (an allow entry or address that does not parse) may have no dispatch; an
// admin's or responder's all-hosts block or unblock changes the fleet-wide blocks.
#include "absl/strings/str_format.h"
#include "common/alerts/rules.h"
#include "common/audit/automation_record.h"
#include "common/audit/incident.h"
#include "common/audit/request.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"
#include "common/request_lists.h"

namespace warden::audit_verify {
namespace {

// What the request's commands carry besides kind, hosts and lists: the incident id from
// version 2 on; the operator's reason in a version 1 request's commands (from before incidents,
// when the reason travelled to the host).
std::string_view commandCarries(const Request& q) {
  if (q.version == 1) return q.reason;
  return q.incident;
}

class RequestRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t index, LogState& log) const override {
    using absl::StrFormat;
    if (e.actor == kAutomationName) return automated(e, log);
    auto name = afterPrefix(e.actor, "operator:");
    if (!name) return StrFormat("requests are by an operator, not %s", quote(e.actor));
    auto op = log.operators.find(std::string(*name));
    if (op == log.operators.end()) return StrFormat("%s is not a logged operator", quote(*name));
    if (op->second.role == "revoked") {
      return StrFormat("operator %s was revoked before this request", *name);
    }
    if (e.ref.empty()) return std::string("request entry without the request id");
    auto q = decodeRequest(e.body);
    if (!q.ok()) return StrFormat("body is not a request: %s", q.status().message());
    if (q->operator_name != *name) {
      return StrFormat("the signed request is operator %s's, not %s's", quote(q->operator_name),
                       *name);
    }
    if (q->id != e.ref) return StrFormat("the signed request has id %s", quote(q->id));
    const bool may_dispatch = op->second.role == "admin" || op->second.role == "responder";
    RequestState state;
    state.operator_name = log.names.id(q->operator_name);
    state.kind = log.names.id(q->kind);
    state.all_hosts = q->all_hosts;
    state.may_dispatch = may_dispatch;
    state.hosts.reserve(q->hosts.size());
    for (const auto& h : q->hosts) state.hosts.push_back(log.names.id(h));
    // As the controller dispatches it; what does not parse, it refuses.
    RejectedElement rejected;
    auto normalized = normalizeRequestLists(q->allow, q->addresses, &rejected);
    state.unparseable = !normalized.ok();
    if (normalized.ok()) {
      state.fields = digestFields(log.scratch, commandCarries(*q), q->args, normalized->allow,
                                  normalized->addresses);
    }
    std::string bad_incident;
    if (!q->incident.empty()) {
      auto incident = log.incidents.find(q->incident);
      if (incident == log.incidents.end() || !incident->second.open) {
        bad_incident =
            StrFormat("incident %s, which is %s", quote(q->incident),
                      incident == log.incidents.end() ? "not opened before it" : "closed");
        state.unparseable = true;
      }
    }
    if (q->kind == kApplyRulesKind) {
      if (auto broken = applyRules(*q, op->second.role, log)) return *std::move(broken);
    } else if (q->kind == kApproveKind || q->kind == kRejectKind || q->kind == kBreakerOpenKind ||
               q->kind == kBreakerCloseKind) {
      if (!may_dispatch) {
        return StrFormat("operator %s (role %s) may not answer for automation", *name,
                         op->second.role);
      }
      if (auto broken = automationAnswer(e, *q, log)) return *std::move(broken);
    } else if (isIncidentKind(q->kind)) {
      if (!may_dispatch) {
        return StrFormat("operator %s (role %s) may not change incidents", *name, op->second.role);
      }
      if (auto broken = incidentChange(*q, log)) return *std::move(broken);
    }
    if (!log.requests.try_emplace(e.ref, std::move(state)).second) {
      return StrFormat("request id %s was already used", e.ref);
    }
    if (!bad_incident.empty()) {
      log.unparseable[e.ref] = std::move(bad_incident);
    } else if (!normalized.ok()) {
      log.unparseable[e.ref] =
          StrFormat("%s %s, which does not parse", rejected.allow ? "allow entry" : "address",
                    quote(rejected.text));
    } else if (q->all_hosts && q->hosts.empty() && (q->kind == "block" || q->kind == "unblock") &&
               may_dispatch) {
      log.fleet.change(e.ref, index, q->kind == "block", std::move(normalized->addresses));
    }
    return RuleOutcome::signedBy(op->second.public_key);
  }

  std::string labelDetail(const LogEntry& e) const override { return ", request " + e.ref; }

  std::string signerName(const LogEntry& e) const override {
    if (e.actor == kAutomationName) return "the controller's automation key";
    return absl::StrFormat("operator %s's key", e.actor.substr(e.actor.find(':') + 1));
  }

 private:
  // An admin's rules, parsed as the controller parsed them before logging them: the version in
  // force from here on.
  static std::optional<std::string> applyRules(const Request& q, const std::string& role,
                                               LogState& log) {
    using absl::StrFormat;
    if (role != "admin") {
      return StrFormat("operator %s (role %s) may not apply rules", q.operator_name, role);
    }
    if (!q.hosts.empty() || q.all_hosts || q.args.size() != 1 || !q.args[0].starts_with("rules=")) {
      return std::string("an apply-rules request carries exactly one rules= argument");
    }
    auto rules = parseRules(std::string_view(q.args[0]).substr(6));
    if (!rules.ok()) {
      return StrFormat("its rules do not parse (the controller refuses such): %s",
                       rules.status().message());
    }
    log.automation.versions[q.id] = std::make_shared<const RuleSet>(std::move(*rules));
    log.automation.current = q.id;
    return std::nullopt;
  }

  // Opening an incident (a new id and codename), closing an open one, or a note on one opened
  // before: as the controller checks them before logging them.
  static std::optional<std::string> incidentChange(const Request& q, LogState& log) {
    using absl::StrFormat;
    auto change = incidentChangeOf(q);
    if (!change.ok()) {
      return StrFormat("an incident request that does not parse (the controller refuses such): %s",
                       change.status().message());
    }
    auto incident = log.incidents.find(change->id);
    if (change->kind == kIncidentOpenKind) {
      if (incident != log.incidents.end()) {
        return StrFormat("incident id %s was already opened", change->id);
      }
      if (!log.codenames.insert(change->codename).second) {
        return StrFormat("codename %s already names an incident", quote(change->codename));
      }
      log.incidents.emplace(change->id, IncidentState{change->codename, true});
      return std::nullopt;
    }
    if (incident == log.incidents.end()) {
      return StrFormat("incident %s is not opened before it", change->id);
    }
    if (change->kind == kIncidentCloseKind) {
      if (!incident->second.open) return StrFormat("incident %s was closed already", change->id);
      incident->second.open = false;
    }
    return std::nullopt;
  }

  // An operator's answer about automation: an approval or rejection of a decision still
  // pending (and not expired when logged), or the breaker.
  static std::optional<std::string> automationAnswer(const LogEntry& e, const Request& q,
                                                     LogState& log) {
    using absl::StrFormat;
    AutomationLog& am = log.automation;
    if (q.kind == kBreakerOpenKind || q.kind == kBreakerCloseKind) {
      am.breaker_open = q.kind == kBreakerOpenKind;
      return std::nullopt;
    }
    if (q.args.size() != 1 || !q.args[0].starts_with("decision=")) {
      return std::string("an approval names exactly one decision=ID");
    }
    const std::string id = q.args[0].substr(9);
    auto p = am.pending.find(id);
    if (p == am.pending.end()) {
      return StrFormat("decision %s is not waiting for approval (the controller refuses such)",
                       quote(id));
    }
    if (e.logged_unix_ms >= p->second.expires_ms) {
      return StrFormat("decision %s had expired when this was logged", id);
    }
    if (q.kind == kApproveKind) am.approved[id] = {q.id, std::move(p->second.decision)};
    am.pending.erase(p);
    return std::nullopt;
  }

  // A request the controller's automation key signed: exactly what its decision promised.
  static RuleOutcome automated(const LogEntry& e, LogState& log) {
    using absl::StrFormat;
    AutomationLog& am = log.automation;
    if (!am.key) return std::string("no automation key is logged before it");
    auto q = decodeRequest(e.body);
    if (!q.ok()) return StrFormat("body is not a request: %s", q.status().message());
    if (q->id != e.ref) return StrFormat("the signed request has id %s", quote(q->id));
    if (q->operator_name != kAutomationName) {
      return StrFormat("an automated request names operator %s", quote(q->operator_name));
    }
    DecisionRecord d;
    std::string approval;
    if (auto promise = am.promised.find(q->id); promise != am.promised.end()) {
      d = std::move(promise->second);
      am.promised.erase(promise);
    } else if (auto parts = parseAutomatedReason(q->reason);
               parts && am.approved.contains(parts->decision_id)) {
      auto& [by, decided] = am.approved.at(parts->decision_id);
      approval = by;
      d = std::move(decided);
      am.approved.erase(parts->decision_id);
    } else {
      return StrFormat(
          "automated request %s follows from no logged decision (an acted decision about a "
          "logged alert, or an operator's approval of one, must come first)",
          q->id);
    }
    if (q->kind != d.action || q->hosts != std::vector<std::string>{d.host} || q->all_hosts ||
        q->allow != d.allow || q->addresses != d.addresses || q->args != d.args) {
      return StrFormat("automated request %s asks for other than decision %s decided (%s on %s)",
                       q->id, d.id, d.action, d.host);
    }
    if (q->reason != automatedReason(d.alert_id, d.id, approval)) {
      return StrFormat("automated request %s does not name its alert and decision (%s, %s)", q->id,
                       d.alert_id, d.id);
    }
    RequestState state;
    state.operator_name = log.names.id(kAutomationName);
    state.kind = log.names.id(q->kind);
    state.may_dispatch = true;
    state.hosts = {log.names.id(d.host)};
    auto normalized = normalizeRequestLists(q->allow, q->addresses);
    if (!normalized.ok()) {
      return StrFormat("automated request %s: %s", q->id, normalized.status().message());
    }
    if (!q->incident.empty()) {
      return StrFormat("automated request %s names an incident (automation opens none yet)", q->id);
    }
    state.fields = digestFields(log.scratch, commandCarries(*q), q->args, normalized->allow,
                                normalized->addresses);
    if (!log.requests.try_emplace(e.ref, std::move(state)).second) {
      return StrFormat("request id %s was already used", e.ref);
    }
    return RuleOutcome::signedBy(*am.key);
  }
};

}  // namespace

const EntryRule& requestRule() { return theRule<RequestRule>(); }

}  // namespace warden::audit_verify
