#include "controller/cli/timeline_events.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/audit/automation_record.h"
#include "common/audit/incident.h"
#include "common/audit/request.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/merkle.h"
#include "warden/v1/results.pb.h"

namespace warden::cli {

// What every event of one entry shares.
struct TimelineBuilder::Base {
  std::uint64_t index = 0;
  std::int64_t logged_ms = 0;
  std::string leaf_hash;
};

namespace {

constexpr std::size_t kMaxCmdline = 512;

std::string cut(std::string_view text, std::size_t n) {
  if (text.size() <= n) return std::string(text);
  return std::string(text.substr(0, n)) + "…";
}

// A receipt's structured result (details["result"], base64 of a results.proto message).
template <typename Message>
bool resultOf(const Receipt& r, Message* out) {
  auto it = r.details.find("result");
  if (it == r.details.end()) return false;
  auto raw = crypto::unbase64(it->second);
  return raw.ok() && out->ParseFromString(*raw);
}

// A SHA-256 as the host reported it: kept only when it is 64 lower-case hex digits.
std::string hashOrEmpty(const std::string& v) {
  if (v.size() != 64 || v.find_first_not_of("0123456789abcdef") != std::string::npos) return "";
  return v;
}

// A host-reported time in ms, kept only between 1970 and 3000 (so that µs cannot overflow).
std::int64_t plausibleMs(std::int64_t ms) { return ms > 0 && ms < 32'503'680'000'000 ? ms : 0; }

std::string detail(const Receipt& r, const std::string& key) {
  auto it = r.details.find(key);
  return it == r.details.end() ? "" : it->second;
}

}  // namespace

std::string isoMicros(std::int64_t timestamp_us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6S+00:00", absl::FromUnixMicros(timestamp_us),
                          absl::UTCTimeZone());
}

TimelineEvent& TimelineBuilder::push(const Base& b) {
  TimelineEvent& ev = events_.emplace_back();
  ev.timestamp_us = b.logged_ms * 1000;
  ev.log_index = b.index;
  ev.leaf_hash = b.leaf_hash;
  return ev;
}

absl::Status TimelineBuilder::add(std::uint64_t index, std::string_view entry_bytes) {
  auto e = decodeLogEntry(entry_bytes);
  if (!e.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("log entry %d does not decode: %s", index, e.status().message()));
  }
  Base b{index, e->logged_unix_ms, crypto::hex(merkle::leafHash(entry_bytes))};
  if (e->type == entry_type::kEnrollment && !filter_.host.empty() && e->host_id == filter_.host) {
    host_enrolled_ = true;
  }
  if (e->type == entry_type::kRequest) {
    request(*e, b);
  } else if (e->type == entry_type::kDispatch) {
    dispatch(*e, b);
  } else if (e->type == entry_type::kReceipt) {
    receipt(*e, b);
  } else if (e->type == entry_type::kAlert) {
    alerts_ms_[e->ref] = e->logged_unix_ms;
    if (filter_.incident_id.empty() && !filter_.host.empty() && e->host_id == filter_.host) {
      TimelineEvent& ev = push(b);
      ev.timestamp_desc = "Alert received";
      ev.data_type = "warden:automation:alert";
      ev.message = absl::StrFormat("alert %s from %s", e->ref, e->actor);
      ev.host = e->host_id;
    }
  } else if (e->type == entry_type::kAgentRelease) {
    auto cmd = commands_.find(e->ref);
    const bool wanted =
        cmd != commands_.end() || (filter_.incident_id.empty() && hostWanted(e->host_id));
    if (!wanted) return absl::OkStatus();
    TimelineEvent& ev = push(b);
    ev.timestamp_desc = "Isolation ended";
    ev.data_type = "warden:action:agent-release";
    ev.message = e->detail.empty() ? "the agent released at the isolation's deadline" : e->detail;
    ev.host = e->host_id;
    ev.action_id = e->ref;
    ev.kind = "isolate";
    if (cmd != commands_.end()) {
      ev.incident_id = cmd->second.incident_id;
      ev.operator_name = cmd->second.operator_name;
    }
  } else if (e->type == entry_type::kRefusal) {
    auto q = requests_.find(e->ref);
    const bool wanted =
        q != requests_.end() ||
        (filter_.incident_id.empty() && !e->host_id.empty() && hostWanted(e->host_id)) ||
        (filter_.incident_id.empty() && filter_.host.empty());
    if (!wanted) return absl::OkStatus();
    TimelineEvent& ev = push(b);
    ev.timestamp_desc = "Refusal logged";
    ev.data_type = "warden:action:refusal";
    ev.message = "refused: " + e->detail;
    ev.host = e->host_id;
    if (q != requests_.end()) {
      ev.incident_id = q->second.incident_id;
      ev.operator_name = q->second.operator_name;
      ev.kind = q->second.kind;
    }
  } else if (e->type == entry_type::kEvent || e->type == entry_type::kDecision ||
             e->type == entry_type::kEnrollment) {
    // Host events (tampering, restores, enrollment): part of a host's timeline, and of an
    // incident's for the hosts it touched once it is open.
    const bool wanted =
        filter_.incident_id.empty()
            ? (filter_.host.empty() || e->host_id == filter_.host)
            : (!e->host_id.empty() && facts_.hosts.contains(e->host_id) && hostWanted(e->host_id) &&
               facts_.closed_ms == 0 && e->type == entry_type::kEvent);
    if (!wanted) return absl::OkStatus();
    TimelineEvent& ev = push(b);
    ev.timestamp_desc = "Event logged";
    ev.data_type = e->type == entry_type::kEvent      ? "warden:host:event"
                   : e->type == entry_type::kDecision ? "warden:automation:decision"
                                                      : "warden:host:enrollment";
    ev.message = e->detail.empty() ? e->type : e->detail;
    ev.host = e->host_id;
  } else if (filter_.incident_id.empty() && filter_.host.empty()) {
    TimelineEvent& ev = push(b);
    ev.timestamp_desc = "Entry logged";
    ev.data_type = "warden:log:" + e->type;
    ev.message = e->detail.empty() ? e->type + " by " + e->actor : e->detail;
  }
  return absl::OkStatus();
}

void TimelineBuilder::request(const LogEntry& e, const Base& b) {
  auto q = decodeRequest(e.body);
  if (!q.ok()) return;
  if (isIncidentKind(q->kind)) {
    auto change = incidentChangeOf(*q);
    if (!change.ok()) return;
    if (change->kind == kIncidentOpenKind) codenames_[change->id] = change->codename;
    const bool mine =
        filter_.incident_id.empty() ? filter_.host.empty() : change->id == filter_.incident_id;
    if (!mine) return;
    TimelineEvent& ev = push(b);
    ev.incident_id = change->id;
    ev.incident = codenames_[change->id];
    ev.operator_name = q->operator_name;
    if (change->kind == kIncidentOpenKind) {
      ev.timestamp_desc = "Incident opened";
      ev.data_type = "warden:incident:open";
      ev.message = absl::StrFormat("incident %s opened by %s (severity %d)%s", change->codename,
                                   q->operator_name, change->severity,
                                   change->summary.empty() ? "" : ": " + change->summary);
      if (change->id == filter_.incident_id) {
        facts_.id = change->id;
        facts_.codename = change->codename;
        facts_.severity = change->severity;
        facts_.summary = change->summary;
        facts_.opened_by = q->operator_name;
        facts_.opened_ms = e.logged_unix_ms;
      }
    } else if (change->kind == kIncidentNoteKind) {
      ev.timestamp_desc = "Note logged";
      ev.data_type = "warden:incident:note";
      ev.message = absl::StrFormat("note by %s: %s", q->operator_name, change->text);
    } else {
      ev.timestamp_desc = "Incident closed";
      ev.data_type = "warden:incident:close";
      ev.message = absl::StrFormat("incident %s closed by %s", ev.incident, q->operator_name);
      if (change->id == filter_.incident_id) {
        facts_.closed_by = q->operator_name;
        facts_.closed_ms = e.logged_unix_ms;
      }
    }
    return;
  }
  if (!knownCommandKind(q->kind)) {
    // Automation and operator administration: only in the whole log's timeline.
    if (filter_.incident_id.empty() && filter_.host.empty()) {
      TimelineEvent& ev = push(b);
      ev.timestamp_desc = "Request logged";
      ev.data_type = "warden:request:" + q->kind;
      ev.message = absl::StrFormat("%s requested %s (%s)", q->operator_name, q->kind, q->id);
      ev.operator_name = q->operator_name;
    }
    return;
  }
  if (!filter_.incident_id.empty() && q->incident != filter_.incident_id) return;
  const bool names_host =
      filter_.host.empty() || q->all_hosts ||
      std::find(q->hosts.begin(), q->hosts.end(), filter_.host) != q->hosts.end();
  if (!names_host) return;
  Pending p{q->incident, q->operator_name, q->kind, "", e.logged_unix_ms};
  if (auto automated = parseAutomatedReason(q->reason)) p.alert_id = automated->alert_id;
  requests_[q->id] = p;
  TimelineEvent& ev = push(b);
  ev.timestamp_desc = "Request logged";
  ev.data_type = "warden:action:request";
  std::string what = q->kind;
  if (q->all_hosts) what += " --all";
  if (!q->hosts.empty()) what += " on " + absl::StrJoin(q->hosts, ",");
  if (!q->addresses.empty()) what += " " + absl::StrJoin(q->addresses, ",");
  if (!q->args.empty()) what += " " + absl::StrJoin(q->args, " ");
  if (!q->allow.empty()) what += " allow " + absl::StrJoin(q->allow, ",");
  ev.message = absl::StrFormat("%s requested %s (%s)%s", q->operator_name, what, q->id,
                               q->reason.empty() ? "" : ", reason: " + q->reason);
  ev.operator_name = q->operator_name;
  ev.incident_id = q->incident;
  ev.kind = q->kind;
  if (q->hosts.size() == 1) ev.host = q->hosts[0];
}

void TimelineBuilder::dispatch(const LogEntry& e, const Base& b) {
  auto c = decodeCommand(e.body);
  if (!c.ok()) return;
  auto q = requests_.find(e.ref);
  if (q == requests_.end()) {
    // The controller's own fleet-wide blocks for a host that enrolled.
    if (!(e.ref.empty() && filter_.incident_id.empty() && hostWanted(c->host_id))) return;
  } else if (!hostWanted(c->host_id)) {
    return;
  }
  const Pending p = q == requests_.end()
                        ? Pending{"", c->requested_by, c->kind, "", e.logged_unix_ms}
                        : q->second;
  commands_[c->id] = p;
  if (!filter_.incident_id.empty()) {
    // Who acted, and since when: requests the controller carried out (a refused one is not an
    // action).
    facts_.responders.insert(p.operator_name);
    if (facts_.first_request_ms == 0 || p.logged_ms < facts_.first_request_ms) {
      facts_.first_request_ms = p.logged_ms;
    }
    if (!p.alert_id.empty() && facts_.first_alert_ms == 0) {
      auto a = alerts_ms_.find(p.alert_id);
      if (a != alerts_ms_.end()) facts_.first_alert_ms = a->second;
    }
    facts_.hosts.insert(c->host_id);
    facts_.unanswered[c->id] = c->kind + " on " + c->host_id;
  }
  TimelineEvent& ev = push(b);
  ev.timestamp_desc = "Command dispatched";
  ev.data_type = "warden:action:dispatch";
  ev.message = absl::StrFormat("%s %s dispatched to %s", c->kind, c->id, c->host_id);
  ev.action_id = c->id;
  ev.kind = c->kind;
  ev.host = c->host_id;
  ev.operator_name = p.operator_name;
  ev.incident_id = p.incident_id;
}

void TimelineBuilder::receipt(const LogEntry& e, const Base& b) {
  auto r = decodeReceipt(e.body);
  if (!r.ok()) return;
  auto cmd = commands_.find(r->command_id);
  if (cmd == commands_.end()) return;
  const Pending& p = cmd->second;
  const std::string outcome(receiptStatusName(r->status));
  auto stamp = [&](TimelineEvent& ev) {
    ev.action_id = r->command_id;
    ev.kind = p.kind;
    ev.host = r->host_id;
    ev.operator_name = p.operator_name;
    ev.incident_id = p.incident_id;
  };
  {
    TimelineEvent& ev = push(b);
    ev.timestamp_desc = "Receipt logged";
    ev.data_type = "warden:action:receipt";
    ev.message = absl::StrFormat("%s %s on %s: %s", p.kind, outcome, r->host_id, r->message);
    ev.outcome = outcome;
    stamp(ev);
  }
  if (!filter_.incident_id.empty()) {
    facts_.unanswered.erase(r->command_id);
    if (r->status == ReceiptStatus::kSucceeded && p.kind == "isolate" &&
        facts_.first_containment_ms == 0) {
      facts_.first_containment_ms = e.logged_unix_ms;
      facts_.first_containment_index = b.index;
      facts_.first_containment_host = r->host_id;
    }
    if (r->status != ReceiptStatus::kSucceeded) {
      facts_.failed.push_back(absl::StrFormat("%s on %s (%s): %s %s", p.kind, r->host_id,
                                              r->command_id, outcome, r->message));
    }
  }
  const std::string source = "receipt of " + r->command_id;
  if (p.kind == "kill-sessions") {
    v1::KillReport report;
    if (!resultOf(*r, &report) || report.dry_run()) return;
    for (int i = 0; i < report.processes_size(); ++i) {
      const v1::ProcessInfo& proc = report.processes(i);
      const std::string what = absl::StrFormat("pid %d (%s) of %s: %s", proc.pid(),
                                               proc.exe().empty() ? "exe unread" : proc.exe(),
                                               proc.user(), cut(proc.cmdline(), kMaxCmdline));
      // The process's start (when the host's time for it is plausible), then its kill.
      auto processEvent = [&](const char* desc, const char* what_happened) -> TimelineEvent& {
        TimelineEvent& ev = push(b);
        ev.timestamp_desc = desc;
        ev.data_type = "warden:evidence:process";
        ev.message = std::string(what_happened) + what;
        ev.sha256 = hashOrEmpty(proc.exe_sha256());
        ev.evidence = absl::StrFormat("%s, killed[%d]", source, i);
        ev.outcome = outcome;
        stamp(ev);
        return ev;
      };
      if (const std::int64_t started = plausibleMs(proc.start_unix_ms()); started > 0) {
        processEvent("Process started", "process started: ").timestamp_us = started * 1000;
      }
      processEvent("Process killed", "process killed: ");
    }
  } else if (p.kind == "lock-accounts" || p.kind == "unlock-accounts") {
    v1::AccountReport report;
    if (!resultOf(*r, &report)) return;
    for (int i = 0; i < report.changes_size(); ++i) {
      const v1::AccountChange& ch = report.changes(i);
      if (ch.action() == "unchanged") continue;
      TimelineEvent& ev = push(b);
      ev.timestamp_desc = "Account changed";
      ev.data_type = "warden:evidence:account";
      ev.message = absl::StrFormat("account %s %s on %s", ch.user(), ch.action(), r->host_id);
      ev.sha256 = hashOrEmpty(ch.new_line_sha256());
      ev.evidence = absl::StrFormat("%s, changes[%d]", source, i);
      ev.user = ch.user();
      ev.account_change = ch.action();
      ev.outcome = outcome;
      stamp(ev);
    }
  } else if (p.kind == "revoke-keys") {
    v1::SshKeyReport report;
    if (!resultOf(*r, &report) || report.dry_run()) return;
    // When each key file was last written before Warden touched it: when a planted key arrived.
    // The owner can set the modification time (touch -d); the change time only the kernel.
    for (int i = 0; i < report.files_size(); ++i) {
      const v1::SshKeyFile& f = report.files(i);
      for (const auto& [ms, desc, what] :
           {std::tuple{f.mtime_unix_ms(), "Content Modification Time", "modified"},
            std::tuple{f.ctime_unix_ms(), "Metadata Modification Time", "changed (inode)"}}) {
        const std::int64_t at = plausibleMs(ms);
        if (at <= 0) continue;
        TimelineEvent& ev = push(b);
        ev.timestamp_desc = desc;
        ev.data_type = "warden:evidence:file";
        ev.message = absl::StrFormat("key file %s of %s last %s (before revoke-keys)", f.path(),
                                     f.user(), what);
        ev.sha256 = hashOrEmpty(f.sha256_before());
        ev.evidence = absl::StrFormat("%s, files[%d]", source, i);
        ev.user = f.user();
        ev.outcome = outcome;
        stamp(ev);
        ev.timestamp_us = at * 1000;
      }
    }
    for (int i = 0; i < report.keys_size(); ++i) {
      const v1::SshKey& k = report.keys(i);
      if (k.action() != "revoked") continue;
      TimelineEvent& ev = push(b);
      ev.timestamp_desc = "SSH key revoked";
      ev.data_type = "warden:evidence:ssh-key";
      ev.message =
          absl::StrFormat("SSH key %s %s (%s) revoked from %s:%d on %s", k.type(), k.fingerprint(),
                          cut(k.comment(), kMaxCmdline), k.file(), k.line(), r->host_id);
      ev.evidence = absl::StrFormat("%s, keys[%d]", source, i);
      ev.user = k.user();
      ev.outcome = outcome;
      stamp(ev);
    }
  } else if ((p.kind == "image" || p.kind == "collect") && r->status == ReceiptStatus::kSucceeded) {
    for (auto id : absl::StrSplit(detail(*r, "evidence_ids"), ',', absl::SkipEmpty())) {
      const std::string k = std::string(id) + ".";
      TimelineEvent& ev = push(b);
      ev.timestamp_desc = p.kind == "image" ? "Image acquired" : "Triage bundle acquired";
      ev.data_type = p.kind == "image" ? "warden:evidence:image" : "warden:evidence:bundle";
      const std::string device = detail(*r, k + "device");
      const std::string size = detail(*r, k + "size_bytes");
      ev.message = absl::StrFormat("%s %s of %s%s%s", p.kind == "image" ? "image" : "bundle", id,
                                   r->host_id, device.empty() ? "" : " " + device,
                                   size.empty() ? "" : ", " + size + " bytes");
      ev.sha256 = hashOrEmpty(detail(*r, k + "sha256"));
      ev.evidence = absl::StrFormat("evidence %s (%s)", id, source);
      ev.outcome = outcome;
      stamp(ev);
    }
  }
}

std::vector<TimelineEvent> TimelineBuilder::events() const {
  std::vector<TimelineEvent> out = events_;
  for (auto& ev : out) {
    if (ev.incident.empty() && !ev.incident_id.empty()) {
      auto c = codenames_.find(ev.incident_id);
      if (c != codenames_.end()) ev.incident = c->second;
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const TimelineEvent& a, const TimelineEvent& b) {
    return std::tie(a.timestamp_us, a.log_index) < std::tie(b.timestamp_us, b.log_index);
  });
  return out;
}

}  // namespace warden::cli
