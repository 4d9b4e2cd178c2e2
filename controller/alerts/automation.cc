#include "controller/alerts/automation.h"

#include <algorithm>
#include <map>
#include <optional>
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

// The controller's store as the decision's history: the guardrails' counters are queries, so a
// restart loses none of them. A store error counts as "yes, it happened" where that is the
// cautious answer (dedupe, budget), so a broken database never lets automation do more.
class Automation::History final : public AutomationHistory {
 public:
  History(AlertStore& store, bool breaker_open) : store_(store), breaker_open_(breaker_open) {}
  // A decision being made with others (one or several requests decided together): not stored
  // yet, but the next alert's decision must see it, as the verifier will.
  void add(const AlertDecisionRecord& row) { own_.push_back(&row); }
  void reserve(std::size_t n) { own_.reserve(n); }

  bool decidedSince(const std::string& key, std::int64_t since) override {
    for (const AlertDecisionRecord* r : own_) {
      if (r->dedupe_key == key && r->received_ms >= since) return true;
    }
    auto r = store_.decidedSince(key, since);
    return !r.ok() || *r;
  }
  std::uint32_t actedSince(const std::string& action, std::int64_t since) override {
    auto r = store_.actedSince(action, since);
    if (!r.ok()) return UINT32_MAX;
    std::uint32_t n = *r;
    for (const AlertDecisionRecord* o : own_) {
      if (o->outcome == decision::kActed && o->action == action && o->received_ms >= since) ++n;
    }
    return n;
  }
  std::optional<std::int64_t> lastContainmentChange(const std::string& host) override {
    auto acted = store_.lastActedOn(host);
    auto released = store_.lastReleaseOf(host);
    if (!acted.ok() || !released.ok()) return nowUnixMs();
    std::optional<std::int64_t> last = *released;
    auto later = [&](std::int64_t t) { last = last ? std::max(*last, t) : t; };
    if (*acted) later(**acted);
    for (const AlertDecisionRecord* o : own_) {
      if (o->outcome == decision::kActed && o->host == host) later(o->received_ms);
    }
    return last;
  }
  bool breakerOpen() override { return breaker_open_; }

 private:
  AlertStore& store_;
  const bool breaker_open_;
  std::vector<const AlertDecisionRecord*> own_;
};

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
  std::uint64_t checked = 0;
  if (auto meta = ctx_.registry().meta(kMeta); meta.ok()) {
    checked = std::strtoull(meta->c_str(), nullptr, 10);
  }
  // Rows stored for entries that never reached the log: a crash before they were durable, or
  // a failed append whose rows could not be dropped then. Every row stored since the last
  // check has an index at or past it (indices after a failure are reused by later entries,
  // so the log's end alone does not say which rows are missing from it).
  WARDEN_RETURN_IF_ERROR(dropUnlogged(std::min<std::uint64_t>(checked, log.size())));
  WARDEN_ASSIGN_OR_RETURN(std::uint64_t last, store_.lastDecisionLogIndex());
  std::uint64_t from = last == 0 ? 0 : last + 1;
  from = std::max<std::uint64_t>(from, checked);
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

// A request waiting for its alerts to be decided and durable (see receive()).
struct Automation::Job {
  const std::string& source;
  const AlertBatch& batch;
  const std::string& payload_sha256;
  std::vector<Decided> decided;
  absl::Status status;
  bool done = false;  // guarded by jobs_mu_
  std::condition_variable cv;
};

absl::StatusOr<std::vector<AlertOutcome>> Automation::receive(const std::string& source,
                                                              const AlertBatch& batch,
                                                              const std::string& payload_sha256) {
  // Leader and followers, as the log's group commit: the first request to find no one deciding
  // decides every request queued by then, in arrival order, and places their entries in the
  // log as one; the next request to arrive decides the next batch while this one is written.
  Job job{source, batch, payload_sha256, {}, {}, false, {}};
  {
    std::unique_lock<std::mutex> lock(jobs_mu_);
    jobs_.push_back(&job);
    while (!job.done) {
      if (deciding_) {
        job.cv.wait(lock);
        continue;
      }
      deciding_ = true;
      std::vector<Job*> jobs(jobs_.begin(), jobs_.end());
      jobs_.clear();
      lock.unlock();
      std::optional<ActionLog::Ticket> ticket = decideJobs(jobs);
      lock.lock();
      deciding_ = false;
      if (!jobs_.empty()) jobs_.front()->cv.notify_one();  // the next leader
      if (ticket) {
        lock.unlock();
        finishJobs(jobs, *ticket);
        lock.lock();
      }
      for (Job* j : jobs) {
        j->done = true;
        if (j != &job) j->cv.notify_one();
      }
    }
  }
  if (!job.status.ok()) return job.status;

  std::vector<AlertOutcome> out;
  std::vector<ActionRecord> created;
  for (Decided& one : job.decided) {
    const DecisionRecord& d = one.decision;
    AlertOutcome o{one.alert.id, d.id, d.outcome, d.reason, d.rule, d.host, "", one.row.why};
    if (d.outcome == decision::kActed) {
      auto action = act(d, &created);
      if (!action.ok()) {
        // Logged as decided; the dispatch failed (the host vanished, the log refused): the
        // refusal is in the log under the automated request.
        logWarning("automation: decision %s (alert %s): %s", d.id, one.alert.id,
                   action.status().message());
        o.why += absl::StrFormat("; not dispatched: %s", action.status().message());
      } else {
        o.action_id = *action;
        if (auto st = store_.setActionId(d.id, *action); !st.ok()) {
          logWarning("automation: decision %s: cannot store its action %s: %s", d.id, *action,
                     st.message());
        }
      }
    }
    if (d.outcome == decision::kActed || d.outcome == decision::kPendingApproval) {
      if (ctx_.notifier) {
        NotifyEvent n;
        n.type = d.outcome == decision::kActed ? "automated-action" : "pending-approval";
        n.host = d.host;
        n.action = d.action;
        n.outcome = d.outcome;
        n.ref = d.id;
        n.log_index = one.row.decision_log_index;
        ctx_.notifier->notify(n);
      }
      // The others are in `warden alerts` and the log; a storm would drown this one.
      logInfo("automation: alert %s from %s: %s (%s) host %s", one.alert.id, source, d.outcome,
              d.reason, d.host);
    }
    out.push_back(std::move(o));
  }
  // Sent after every decision is answered for: a host that does not read its stream holds up
  // nobody.
  for (const auto& a : created) dispatcher_.deliver(a);
  return out;
}

std::optional<ActionLog::Ticket> Automation::decideJobs(const std::vector<Job*>& jobs) {
  auto failAll = [&](const absl::Status& st) {
    for (Job* j : jobs) j->status = st;
    return std::nullopt;
  };
  if (auto st = settle(); !st.ok()) return failAll(st);
  History history(store_, breakerOpen());
  std::size_t alerts = 0;
  for (const Job* j : jobs) alerts += j->batch.alerts.size();
  history.reserve(alerts);
  std::vector<LogEntry> entries;
  entries.reserve(2 * alerts);
  for (Job* j : jobs) {
    // A request that cannot be decided fails the batch: the requests after it were decided
    // seeing its first decisions, which are never logged.
    if (auto st = decideAll(*j, history); !st.ok()) return failAll(st);
    // Each alert's ALERT entry and then its DECISION entry, in the order decided: the
    // verifier replays the decisions in log order against the same history.
    for (const Decided& one : j->decided) {
      LogEntry ae;
      ae.type = entry_type::kAlert;
      ae.actor = "source:" + j->source;
      ae.ref = one.alert.id;
      ae.body = encodeAlertRecord(one.alert);
      entries.push_back(std::move(ae));
      LogEntry de;
      de.type = entry_type::kDecision;
      de.actor = "controller";
      de.host_id = one.decision.host;
      de.ref = one.alert.id;
      de.body = encodeDecisionRecord(one.decision);
      de.detail = one.row.why.substr(0, 4 * kMaxUntrustedText);
      entries.push_back(std::move(de));
    }
  }
  if (entries.empty()) return std::nullopt;  // no alerts
  auto placed = ctx_.log->enqueueEntries(std::move(entries), failures_seen_);
  if (!placed.ok()) return failAll(placed.status());
  std::vector<AlertDecisionRecord> rows;
  rows.reserve(alerts);
  std::uint64_t index = placed->first();
  for (Job* j : jobs) {
    for (Decided& one : j->decided) {
      one.row.alert_log_index = index++;
      one.row.decision_log_index = index++;
      rows.push_back(one.row);
    }
  }
  {
    std::lock_guard<std::mutex> flight(flight_mu_);
    ++in_flight_;
  }
  // The next batch may be decided as soon as this returns: it sees these rows, and its
  // entries follow these in the log (in the same commit when quick enough).
  if (auto st = store_.addAlerts(rows); !st.ok()) {
    // The entries still reach the log; before the next decision the store catches up from it.
    for (Job* j : jobs) j->status.Update(st);
    std::lock_guard<std::mutex> flight(flight_mu_);
    store_behind_ = true;
  }
  ctx_.faults.alertsStoredBeforeLogged();
  return std::move(*placed);
}

void Automation::finishJobs(const std::vector<Job*>& jobs, ActionLog::Ticket& ticket) {
  const std::uint64_t first = ticket.first();
  auto durable = ctx_.log->log().wait(ticket);
  absl::Status dropped = absl::OkStatus();
  if (!durable.ok()) {
    // Stored but never logged: drop them now, so that no operator approves one meanwhile.
    // Safe while this batch is still counted in flight: every row from `first` on belongs to
    // a batch that failed with this one (the log failed everything queued behind it, and
    // refuses new entries from anyone who has not settled since).
    dropped = dropUnlogged(first);
  }
  {
    std::lock_guard<std::mutex> flight(flight_mu_);
    --in_flight_;
    if (!durable.ok()) {
      // And before anything is decided again, the store is checked against the log once more.
      store_behind_ = true;
      if (!dropped.ok()) unlogged_from_ = std::min(unlogged_from_, first);
    }
  }
  flight_cv_.notify_all();
  if (!durable.ok()) {
    for (Job* j : jobs) j->status.Update(durable.status());
  }
}

absl::Status Automation::settle() {
  std::unique_lock<std::mutex> flight(flight_mu_);
  if (ctx_.log->log().failures() == failures_seen_ && !store_behind_) return absl::OkStatus();
  // An append failed, or the store missed rows: wait for every request in flight to know its
  // fate (the log commits or fails each), then make the store match the log again.
  flight_cv_.wait(flight, [&] { return in_flight_ == 0; });
  failures_seen_ = ctx_.log->log().failures();
  if (!store_behind_) return absl::OkStatus();
  const std::uint64_t from = unlogged_from_;
  flight.unlock();
  if (from != UINT64_MAX) WARDEN_RETURN_IF_ERROR(dropUnlogged(from));
  WARDEN_RETURN_IF_ERROR(catchUpFromLog());
  flight.lock();
  store_behind_ = false;
  unlogged_from_ = UINT64_MAX;
  return absl::OkStatus();
}

absl::StatusOr<bool> Automation::logHolds(const std::string& decision_id, std::uint64_t index) {
  auto logged = decisionRecordAt(index);
  if (logged.ok()) return logged->id == decision_id;
  switch (logged.status().code()) {
    case absl::StatusCode::kOutOfRange:       // past the log's end
    case absl::StatusCode::kDataLoss:         // another kind of entry there
    case absl::StatusCode::kInvalidArgument:  // not a decision's encoding
      return false;
    default:  // the log could not be read: say nothing either way
      return logged.status();
  }
}

absl::Status Automation::checkLogged(const AlertDecisionRecord& row) {
  WARDEN_ASSIGN_OR_RETURN(bool held, logHolds(row.decision_id, row.decision_log_index));
  if (held) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrFormat(
      "decision %s is not in the action log (yet): its entry was not written; the alert's "
      "sender was answered 503 and will send it again",
      row.decision_id));
}

absl::Status Automation::dropUnlogged(std::uint64_t from) {
  WARDEN_ASSIGN_OR_RETURN(auto rows, store_.decisionsFrom(from));
  std::size_t dropped = 0;
  for (const auto& [id, index] : rows) {
    WARDEN_ASSIGN_OR_RETURN(bool held, logHolds(id, index));
    if (held) continue;
    WARDEN_RETURN_IF_ERROR(store_.removeDecision(id));
    ++dropped;
  }
  if (dropped > 0) {
    logWarning(
        "automation: %d decisions dropped from the store: their entries never reached the "
        "action log (the senders were answered 503 and retry)",
        dropped);
  }
  return absl::OkStatus();
}

absl::Status Automation::decideAll(Job& job, History& history) {
  const std::string& source = job.source;
  const AlertBatch& batch = job.batch;
  const Rules in_force = rules();
  const std::int64_t now = nowUnixMs();
  RegistryHosts hosts(ctx_.registry());
  // How many hosts the group names for rules that would act: a group naming more than
  // max_hosts_per_alert goes to approval whole, not the first few acted on.
  std::set<std::string> group;
  if (in_force.set) {
    AlertContext ctx{source, batch.format, batch.receiver, now, 0};
    for (const auto& a : batch.alerts) {
      if (a.resolved) continue;
      const AlertRule* rule = firstMatchingRule(*in_force.set, a, ctx);
      if (rule == nullptr || rule->mode == RuleMode::kDryRun) continue;
      HostPick pick = pickHost(*rule, a, hosts);
      if (!pick.host.empty()) group.insert(pick.host);
    }
  }
  const auto group_hosts = static_cast<std::uint32_t>(group.size());
  const AlertContext actx{source, batch.format, batch.receiver, now, group_hosts};
  std::vector<Decided>& out = job.decided;
  out.reserve(batch.alerts.size());
  for (const Alert& alert : batch.alerts) {
    Decided one;
    WARDEN_ASSIGN_OR_RETURN(std::string alert_id, newId("al-"));
    one.alert = alertRecordOf(alert_id, source, batch, alert, job.payload_sha256, now);
    Decision decided = decide(in_force.set.get(), alert, actx, history, hosts);

    DecisionRecord& d = one.decision;
    WARDEN_ASSIGN_OR_RETURN(d.id, newId("d-"));
    d.alert_id = alert_id;
    d.rules_version = in_force.version;
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
      WARDEN_ASSIGN_OR_RETURN(d.request_id, newId("r-"));
    }

    AlertDecisionRecord& row = one.row;
    row.alert_id = alert_id;
    row.source = source;
    row.format = one.alert.format;
    row.receiver = batch.receiver;
    row.fingerprint = alert.fingerprint;
    row.status = one.alert.status;
    row.labels_json = labelsJson(alert);
    row.received_ms = now;
    row.decision_id = d.id;
    row.rules_version = d.rules_version;
    row.rule = d.rule;
    row.host = d.host;
    row.outcome = d.outcome;
    row.reason = d.reason;
    row.action = d.action;
    row.why = std::move(decided.why);
    row.request_id = d.request_id;
    row.dedupe_key = d.dedupe_key;
    row.approval_ttl_ms = in_force.set ? in_force.set->guardrails.approval_ttl_ms : 0;
    out.push_back(std::move(one));
    history.add(out.back().row);  // `out` never reallocates: reserved above
  }
  return absl::OkStatus();
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
  if (logged->id != row.decision_id) {
    return absl::FailedPreconditionError(
        absl::StrFormat("decision %s is not in the action log", row.decision_id));
  }
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
