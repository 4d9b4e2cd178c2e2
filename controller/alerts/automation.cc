#include "controller/alerts/automation.h"

#include <map>
#include <set>
#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/alerts/decide.h"
#include "common/audit/automation_record.h"
#include "common/audit/request.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "common/log.h"
#include "common/status.h"

namespace warden {
namespace {

absl::StatusOr<std::string> newId(const char* prefix) {
  WARDEN_ASSIGN_OR_RETURN(std::string rnd, crypto::randomBytes(8));
  return prefix + crypto::hex(rnd);
}

// The controller's store as the decision's history: the guardrails' counters are queries, so a
// restart loses none of them. A store error counts as "yes, it happened" where that is the
// cautious answer (dedupe, budget), so a broken database never lets automation do more.
class StoredHistory final : public AutomationHistory {
 public:
  StoredHistory(AlertStore& store, bool breaker_open)
      : store_(store), breaker_open_(breaker_open) {}
  bool decidedSince(const std::string& key, std::int64_t since) override {
    auto r = store_.decidedSince(key, since);
    return !r.ok() || *r;
  }
  std::uint32_t actedSince(const std::string& action, std::int64_t since) override {
    auto r = store_.actedSince(action, since);
    return r.ok() ? *r : UINT32_MAX;
  }
  std::optional<std::int64_t> lastContainmentChange(const std::string& host) override {
    auto acted = store_.lastActedOn(host);
    auto released = store_.lastReleaseOf(host);
    if (!acted.ok() || !released.ok()) return nowUnixMs();
    if (!*acted) return *released;
    if (!*released) return *acted;
    return std::max(**acted, **released);
  }
  bool breakerOpen() override { return breaker_open_; }

 private:
  AlertStore& store_;
  const bool breaker_open_;
};

// Enrolled hosts by id or by their warden.alias label. A registry that cannot say names no
// host, and protects every host: automation then does nothing.
class RegistryHosts final : public HostDirectory {
 public:
  explicit RegistryHosts(Registry& registry) : registry_(registry) {}
  std::vector<std::string> hostsNamed(const std::string& value) override {
    auto named = registry_.hostsNamed(value, "warden.alias");
    return named.ok() ? *named : std::vector<std::string>{};
  }
  bool protectedByLabel(const std::string& host) override {
    auto labels = registry_.labels(host);
    if (!labels.ok()) return true;
    auto it = labels->find("warden.protected");
    return it != labels->end() && it->second == "true";
  }

 private:
  Registry& registry_;
};

AlertRecord alertRecordOf(const std::string& id, const std::string& source, const AlertBatch& batch,
                          const Alert& a, const std::string& sha, std::int64_t now) {
  AlertRecord r;
  r.id = id;
  r.source = source;
  r.format = alertFormatName(batch.format);
  r.receiver = batch.receiver;
  r.fingerprint = a.fingerprint;
  r.status = a.resolved ? "resolved" : "firing";
  r.starts_unix_ms = a.starts_unix_ms;
  for (const auto& [k, v] : a.labels) r.labels.push_back(k + "=" + v);
  r.payload_sha256 = sha;
  r.received_unix_ms = now;
  return r;
}

std::string labelsJson(const Alert& a) {
  Json j = Json::object();
  for (const auto& [k, v] : a.labels) j[k] = v;
  return dumpJson(j);
}

}  // namespace

absl::Status Automation::loadRules() {
  auto current = store_.currentRules();
  if (absl::IsNotFound(current.status())) return absl::OkStatus();
  WARDEN_RETURN_IF_ERROR(current.status());
  auto parsed = parseRules(current->yaml);
  if (!parsed.ok()) {
    return absl::DataLossError(absl::StrFormat("stored rules version %s no longer parses: %s",
                                               current->version, parsed.status().message()));
  }
  useRules(current->version, std::make_shared<const RuleSet>(std::move(*parsed)));
  logInfo("automation: rules version %s in force (%d rules)", current->version,
          rules().set->rules.size());
  return absl::OkStatus();
}

absl::Status Automation::catchUpFromLog() {
  ActionLog& log = ctx_.log->log();
  constexpr char kMeta[] = "automation_log_checked";
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t last, store_.lastDecisionLogIndex());
  std::uint64_t from = last == 0 ? 0 : last + 1;
  if (auto checked = ctx_.registry().meta(kMeta); checked.ok()) {
    from = std::max<std::uint64_t>(from, std::strtoull(checked->c_str(), nullptr, 10));
  }
  // The alert entry comes just before its decision: start a few entries early.
  from = from > 64 ? from - 64 : 0;
  std::map<std::string, AlertRecord> alerts;
  std::size_t recovered = 0;
  const std::uint64_t size = log.size();
  for (std::uint64_t i = from; i < size; ++i) {
    WARDEN_ASSIGN_OR_RETURN(std::string bytes, log.entry(i));
    auto e = decodeLogEntry(bytes);
    if (!e.ok()) continue;
    if (e->type == entry_type::kAlert) {
      if (auto a = decodeAlertRecord(e->body); a.ok()) alerts[a->id] = std::move(*a);
      continue;
    }
    if (e->type != entry_type::kDecision) continue;
    auto d = decodeDecisionRecord(e->body);
    if (!d.ok() || store_.findDecision(d->id).ok()) continue;
    AlertDecisionRecord row;
    row.alert_id = d->alert_id;
    row.received_ms = e->logged_unix_ms;
    if (auto a = alerts.find(d->alert_id); a != alerts.end()) {
      row.source = a->second.source;
      row.format = a->second.format;
      row.receiver = a->second.receiver;
      row.fingerprint = a->second.fingerprint;
      row.status = a->second.status;
      row.received_ms = a->second.received_unix_ms;
      Json labels = Json::object();
      for (const auto& l : a->second.labels) {
        const auto eq = l.find('=');
        labels[l.substr(0, eq)] = eq == std::string::npos ? "" : l.substr(eq + 1);
      }
      row.labels_json = dumpJson(labels);
    }
    row.decision_id = d->id;
    row.rules_version = d->rules_version;
    row.rule = d->rule;
    row.host = d->host;
    row.outcome = d->outcome;
    row.reason = d->reason;
    row.action = d->action;
    row.why = e->detail;
    row.request_id = d->request_id;
    row.dedupe_key = d->dedupe_key;
    row.decision_log_index = i;
    WARDEN_RETURN_IF_ERROR(store_.addAlert(row));
    ++recovered;
  }
  if (recovered > 0) {
    logWarning(
        "automation: %d decisions recovered from the action log (a crash kept them from "
        "the store); the guardrails count them",
        recovered);
  }
  return ctx_.registry().setMeta(kMeta, std::to_string(size));
}

void Automation::useRules(const std::string& version, std::shared_ptr<const RuleSet> rules) {
  if (ctx_.notifier && rules) {
    std::vector<std::string> urls;
    for (const auto& t : rules->notify) urls.push_back(t.url);
    ctx_.notifier->setTargets(std::move(urls));
  }
  std::lock_guard<std::mutex> lock(rules_mu_);
  rules_ = Rules{version, std::move(rules)};
}

Automation::Rules Automation::rules() {
  std::lock_guard<std::mutex> lock(rules_mu_);
  return rules_;
}

absl::StatusOr<std::vector<AlertOutcome>> Automation::receive(const std::string& source,
                                                              const AlertBatch& batch,
                                                              const std::string& payload_sha256) {
  std::vector<AlertOutcome> out;
  std::vector<ActionRecord> created;
  absl::Status failed;
  {
    std::lock_guard<std::mutex> lock(decide_mu_);
    const Rules in_force = rules();
    const std::int64_t now = nowUnixMs();
    // How many hosts the group names for rules that would act: a group naming more than
    // max_hosts_per_alert goes to approval whole, not the first few acted on.
    std::set<std::string> group;
    if (in_force.set) {
      RegistryHosts hosts(ctx_.registry());
      AlertContext ctx{source, batch.format, batch.receiver, now, 0};
      for (const auto& a : batch.alerts) {
        if (a.resolved) continue;
        const AlertRule* rule = firstMatchingRule(*in_force.set, a, ctx);
        if (rule == nullptr || rule->mode == RuleMode::kDryRun) continue;
        HostPick pick = pickHost(*rule, a, hosts);
        if (!pick.host.empty()) group.insert(pick.host);
      }
    }
    for (const auto& a : batch.alerts) {
      auto one = decideOne(source, batch, a, payload_sha256, now,
                           static_cast<std::uint32_t>(group.size()), in_force, &created);
      if (!one.ok()) {
        failed = one.status();
        break;
      }
      out.push_back(std::move(*one));
    }
  }
  // Sent outside the lock: a host that does not read its stream holds up nobody.
  for (const auto& a : created) dispatcher_.deliver(a);
  if (!failed.ok()) return failed;
  return out;
}

absl::StatusOr<AlertOutcome> Automation::decideOne(const std::string& source,
                                                   const AlertBatch& batch, const Alert& alert,
                                                   const std::string& payload_sha256,
                                                   std::int64_t now, std::uint32_t group_hosts,
                                                   const Rules& rules,
                                                   std::vector<ActionRecord>* created) {
  LogWriter& log = *ctx_.log;
  WARDEN_ASSIGN_OR_RETURN(std::string alert_id, newId("al-"));
  const AlertRecord record = alertRecordOf(alert_id, source, batch, alert, payload_sha256, now);
  LogEntry ae;
  ae.type = entry_type::kAlert;
  ae.actor = "source:" + source;
  ae.ref = alert_id;
  ae.body = encodeAlertRecord(record);
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t alert_index, log.appendEntry(ae));

  StoredHistory history(store_, breakerOpen());
  RegistryHosts hosts(ctx_.registry());
  AlertContext actx{source, batch.format, batch.receiver, now, group_hosts};
  Decision decided = decide(rules.set.get(), alert, actx, history, hosts);

  DecisionRecord d;
  WARDEN_ASSIGN_OR_RETURN(d.id, newId("d-"));
  d.alert_id = alert_id;
  d.rules_version = rules.version;
  d.rule = decided.rule;
  d.host = decided.host;
  d.via = decided.via;
  d.outcome = decided.outcome;
  d.reason = decided.reason;
  d.action = decided.action;
  d.allow = decided.allow;
  d.addresses = decided.addresses;
  d.args = decided.args;
  d.dedupe_key = decided.dedupe_key;
  d.group_hosts = group_hosts;
  if (d.outcome == decision::kActed) {
    WARDEN_ASSIGN_OR_RETURN(std::string rnd, crypto::randomBytes(8));
    d.request_id = "r-" + crypto::hex(rnd);
  }
  LogEntry de;
  de.type = entry_type::kDecision;
  de.actor = "controller";
  de.host_id = d.host;
  de.ref = alert_id;
  de.body = encodeDecisionRecord(d);
  de.detail = decided.why.substr(0, 4 * kMaxUntrustedText);
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t decision_index, log.appendEntry(de));

  AlertDecisionRecord row;
  row.alert_id = alert_id;
  row.source = source;
  row.format = record.format;
  row.receiver = batch.receiver;
  row.fingerprint = alert.fingerprint;
  row.status = record.status;
  row.labels_json = labelsJson(alert);
  row.received_ms = now;
  row.alert_log_index = alert_index;
  row.decision_id = d.id;
  row.rules_version = d.rules_version;
  row.rule = d.rule;
  row.host = d.host;
  row.outcome = d.outcome;
  row.reason = d.reason;
  row.action = d.action;
  row.why = decided.why;
  row.request_id = d.request_id;
  row.dedupe_key = d.dedupe_key;
  row.decision_log_index = decision_index;
  row.approval_ttl_ms = rules.set ? rules.set->guardrails.approval_ttl_ms : 0;
  WARDEN_RETURN_IF_ERROR(store_.addAlert(row));

  AlertOutcome out{alert_id, d.id, d.outcome, d.reason, d.rule, d.host, "", decided.why};
  if (d.outcome == decision::kActed) {
    auto action = act(d, created);
    if (!action.ok()) {
      // Logged as decided; the dispatch failed (the host vanished, the log refused): the
      // refusal is in the log under the automated request.
      logWarning("automation: decision %s (alert %s): %s", d.id, alert_id,
                 action.status().message());
      out.why += absl::StrFormat("; not dispatched: %s", action.status().message());
    } else {
      out.action_id = *action;
      WARDEN_RETURN_IF_ERROR(store_.setActionId(d.id, *action));
    }
  }
  if (ctx_.notifier && (d.outcome == decision::kActed || d.outcome == decision::kPendingApproval)) {
    NotifyEvent n;
    n.type = d.outcome == decision::kActed ? "automated-action" : "pending-approval";
    n.host = d.host;
    n.action = d.action;
    n.outcome = d.outcome;
    n.ref = d.id;
    n.log_index = decision_index;
    ctx_.notifier->notify(n);
  }
  logInfo("automation: alert %s from %s: %s (%s)%s%s", alert_id, source, d.outcome, d.reason,
          d.host.empty() ? "" : " host ", d.host);
  return out;
}

bool Automation::breakerOpen() {
  auto state = ctx_.registry().meta(kBreakerMeta);
  // A registry that cannot say is read as open: automation then asks a person.
  return !state.ok() ? !absl::IsNotFound(state.status()) : *state == "open";
}

absl::StatusOr<std::vector<ActionRecord>> Automation::dispatchApproved(
    const AlertDecisionRecord& row, const std::string& approval_request) {
  DecisionRecord d;
  d.id = row.decision_id;
  d.alert_id = row.alert_id;
  d.host = row.host;
  d.action = row.action;
  auto logged = decisionRecordAt(row.decision_log_index);
  if (!logged.ok()) return logged.status();
  d.allow = logged->allow;
  d.addresses = logged->addresses;
  d.args = logged->args;
  WARDEN_ASSIGN_OR_RETURN(std::string rnd, crypto::randomBytes(8));
  d.request_id = "r-" + crypto::hex(rnd);
  std::vector<ActionRecord> created;
  auto action = act(d, &created, approval_request);
  for (const auto& a : created) dispatcher_.deliver(a);
  if (!action.ok()) return action.status();
  WARDEN_RETURN_IF_ERROR(store_.setActionId(d.id, *action));
  return created;
}

absl::StatusOr<DecisionRecord> Automation::decisionRecordAt(std::uint64_t index) {
  WARDEN_ASSIGN_OR_RETURN(std::string bytes, ctx_.log->log().entry(index));
  WARDEN_ASSIGN_OR_RETURN(LogEntry e, decodeLogEntry(bytes));
  if (e.type != entry_type::kDecision) {
    return absl::DataLossError(absl::StrFormat("log entry %d is not a decision", index));
  }
  return decodeDecisionRecord(e.body);
}

absl::StatusOr<std::string> Automation::act(const DecisionRecord& d,
                                            std::vector<ActionRecord>* created,
                                            const std::string& approval_request) {
  Request q;
  q.id = d.request_id;
  q.operator_name = kAutomationName;
  q.kind = d.action;
  q.hosts = {d.host};
  q.allow = d.allow;
  q.addresses = d.addresses;
  q.args = d.args;
  q.reason = automatedReason(d.alert_id, d.id, approval_request);
  q.issued_unix_ms = nowUnixMs();
  const std::string body = encodeRequest(q);
  WARDEN_ASSIGN_OR_RETURN(std::string signature, ctx_.keys.automation_key.sign(body));
  std::shared_lock<std::shared_mutex> identity(ctx_.identity_mu);
  LogEntry e;
  e.type = entry_type::kRequest;
  e.actor = kAutomationName;
  e.ref = q.id;
  e.body = body;
  e.signature = signature;
  WARDEN_RETURN_IF_ERROR(ctx_.log->appendEntry(e).status());
  std::vector<ActionRecord> made;
  absl::Status dispatched;
  if (auto plan = policy_.plan(q); !plan.ok()) {
    dispatched = plan.status();
  } else {
    dispatched = dispatcher_.dispatch(kAutomationName, q.id, *plan, &made);
  }
  for (auto& a : made) created->push_back(a);
  if (!dispatched.ok()) {
    ctx_.log->logRefusal(
        kAutomationName, d.host, q.id,
        absl::StrFormat("request %s (%s) refused: %s", q.id, q.kind, dispatched.message()));
    return dispatched;
  }
  if (made.empty()) return absl::InternalError("nothing was dispatched");
  return made.front().id;
}

}  // namespace warden
