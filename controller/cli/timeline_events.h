// The timeline of an incident or a host, drawn from the signed action log (DESIGN.md
// "Incidents, the timeline and the post-mortem"): one event per log entry that belongs to it,
// plus the events its receipts carry as evidence (processes killed, accounts changed, images
// and bundles acquired). Every event names the log entry it comes from (log_index, leaf_hash),
// which `warden audit prove N` proves against a signed checkpoint.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/audit/log_entry.h"

namespace warden::cli {

struct TimelineEvent {
  std::int64_t timestamp_us = 0;
  std::string timestamp_desc;  // what the time is: "Request logged", "Process killed", ...
  std::string data_type;       // warden:action:request, warden:evidence:process, ...
  std::string message;         // raw text (the writers escape it for their format)
  std::string incident;        // codename
  std::string incident_id;
  std::string action_id;
  std::string kind;  // the action's kind (isolate, kill-sessions, ...)
  std::string host;
  std::string operator_name;
  std::string outcome;  // receipts: succeeded, failed, refused, interrupted
  std::uint64_t log_index = 0;
  std::string leaf_hash;  // hex SHA-256 of 0x00 || entry (RFC 6962 leaf)
  std::string sha256;     // a file, executable or image concerned
  std::string evidence;   // where an evidence event came from: receipt of ACTION, member, ...
  // Account events (OCSF Account Change): the account and what happened to it.
  std::string user;
  std::string account_change;  // locked, unlocked, rotated
};

// What to keep: an incident (its id), a host, both (events of the incident on the host), or
// neither (the whole log).
struct TimelineFilter {
  std::string incident_id;
  std::string host;
};

// What the post-mortem needs beyond the events: the incident as opened, who acted, when the
// first containment was verified.
struct IncidentFacts {
  std::string id;
  std::string codename;
  int severity = 0;
  std::string summary;
  std::string opened_by;
  std::int64_t opened_ms = 0;
  std::string closed_by;
  std::int64_t closed_ms = 0;
  std::set<std::string> responders;  // operators whose signed requests named the incident
  std::set<std::string> hosts;       // hosts its commands went to
  std::int64_t first_request_ms = 0;
  std::int64_t first_alert_ms = 0;  // an alert that led to one of its actions, if any
  // The first isolate that succeeded (a signed receipt), and its log index.
  std::int64_t first_containment_ms = 0;
  std::uint64_t first_containment_index = 0;
  std::string first_containment_host;
  // Actions dispatched without a receipt yet, and failed ones: the open items.
  std::map<std::string, std::string> unanswered;  // action id -> "kind on host"
  std::vector<std::string> failed;                // "kind on host: message"
};

// Reads log entries in log order and keeps the timeline of `filter`.
class TimelineBuilder {
 public:
  explicit TimelineBuilder(TimelineFilter filter) : filter_(std::move(filter)) {}

  // The entry at `index`, as its canonical bytes. InvalidArgument when they do not decode.
  absl::Status add(std::uint64_t index, std::string_view entry_bytes);
  // The events, by time (then log index): stable, so two exports of one log are identical.
  std::vector<TimelineEvent> events() const;
  // The filtered incident's facts (filter.incident_id), complete after the last add().
  const IncidentFacts& facts() const { return facts_; }
  // Whether the incident of the filter was seen opened.
  bool incidentSeen() const { return !facts_.codename.empty(); }
  // Whether the filter's host enrolled in the log read so far.
  bool hostEnrolled() const { return host_enrolled_; }

 private:
  struct Base;
  void request(const LogEntry& e, const Base& b);
  void dispatch(const LogEntry& e, const Base& b);
  void receipt(const LogEntry& e, const Base& b);
  TimelineEvent& push(const Base& b);
  bool hostWanted(const std::string& host) const {
    return filter_.host.empty() || host == filter_.host;
  }

  TimelineFilter filter_;
  IncidentFacts facts_;
  bool host_enrolled_ = false;
  std::vector<TimelineEvent> events_;
  std::map<std::string, std::string> codenames_;  // incident id -> codename
  struct Pending {
    std::string incident_id;
    std::string operator_name;
    std::string kind;
    std::string alert_id;        // automated requests: the alert behind them
    std::int64_t logged_ms = 0;  // when the request was logged
  };
  std::map<std::string, Pending> requests_;        // request id -> what it was, for the wanted ones
  std::map<std::string, Pending> commands_;        // command id -> its request's
  std::map<std::string, std::int64_t> alerts_ms_;  // alert id -> logged time
};

// "2026-12-07T18:55:07.123000+00:00" (Timesketch's datetime: ISO 8601, microseconds, UTC).
std::string isoMicros(std::int64_t timestamp_us);

}  // namespace warden::cli
