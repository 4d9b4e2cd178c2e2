#include "controller/cli/timeline_formats.h"

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "common/json.h"
#include "controller/cli/render.h"

namespace warden::cli {
namespace {

constexpr const char* kColumns[] = {"message",   "datetime", "timestamp_desc", "timestamp",
                                    "data_type", "incident", "incident_id",    "action_id",
                                    "host",      "operator", "outcome",        "log_index",
                                    "leaf_hash", "sha256",   "evidence"};

std::vector<std::string> columnValues(const TimelineEvent& ev) {
  return {ev.message,        isoMicros(ev.timestamp_us),
          ev.timestamp_desc, std::to_string(ev.timestamp_us),
          ev.data_type,      ev.incident,
          ev.incident_id,    ev.action_id,
          ev.host,           ev.operator_name,
          ev.outcome,        std::to_string(ev.log_index),
          ev.leaf_hash,      ev.sha256,
          ev.evidence};
}

// RFC 4180, and a leading quote on a cell a spreadsheet would run as a formula (OWASP's CSV
// injection advice): the host wrote some of these.
std::string csvCell(std::string_view raw) {
  // No control characters (line breaks included: one record per line), bidi overrides or
  // invalid UTF-8: printable() makes them '?', as the file may be printed (--out -).
  const std::string text = printable(raw);
  const std::string_view v = text;
  std::string cell;
  if (!v.empty() && std::string_view("=+-@\t\r").find(v[0]) != std::string_view::npos) {
    cell.push_back('\'');
  }
  cell.append(v);
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  std::string out = "\"";
  for (char c : cell) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

struct OcsfClass {
  int class_uid = 0;
  const char* class_name = "";
  int category_uid = 0;
  const char* category_name = "";
  int activity_id = 0;
  const char* activity_name = "";
};

std::optional<OcsfClass> ocsfClassOf(const TimelineEvent& ev) {
  if (ev.data_type == "warden:action:receipt") {
    OcsfClass c{7001, "Remediation Activity", 7, "Remediation", 0, ""};
    if (ev.kind == "isolate" || ev.kind == "block") {
      c.activity_id = 1;
      c.activity_name = "Isolate";
    } else if (ev.kind == "kill-sessions" || ev.kind == "revoke-keys") {
      c.activity_id = 2;
      c.activity_name = "Evict";
    } else if (ev.kind == "release" || ev.kind == "unblock" || ev.kind == "restore-keys") {
      c.activity_id = 3;
      c.activity_name = "Restore";
    } else if (ev.kind == "shutdown") {
      c.activity_id = 99;
      c.activity_name = "Other";
    } else {
      return std::nullopt;  // imaging and collection are evidence, not remediation
    }
    return c;
  }
  if (ev.data_type == "warden:evidence:account") {
    OcsfClass c{3001, "Account Change", 3, "Identity & Access Management", 0, ""};
    if (ev.account_change == "locked") {
      c.activity_id = 9;
      c.activity_name = "Lock";
    } else if (ev.account_change == "unlocked") {
      c.activity_id = 2;
      c.activity_name = "Enable";
    } else if (ev.account_change == "rotated") {
      c.activity_id = 4;
      c.activity_name = "Password Reset";
    } else {
      c.activity_id = 99;
      c.activity_name = "Other";
    }
    return c;
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<TimelineFormat> parseTimelineFormat(std::string_view name) {
  if (name == "jsonl") return TimelineFormat::kJsonl;
  if (name == "csv") return TimelineFormat::kCsv;
  if (name == "markdown") return TimelineFormat::kMarkdown;
  if (name == "ocsf") return TimelineFormat::kOcsf;
  return absl::InvalidArgumentError(absl::StrFormat(
      "unknown timeline format '%s' (jsonl, csv, markdown or ocsf)", name.substr(0, 40)));
}

std::string timelineJsonLine(const TimelineEvent& ev) {
  Json j = Json::object();
  const auto values = columnValues(ev);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::string key = kColumns[i];
    if (key == "timestamp") {
      j[key] = ev.timestamp_us;
    } else if (key == "log_index") {
      j[key] = ev.log_index;
    } else if (i < 3 || !values[i].empty()) {
      j[key] = values[i];
    }
  }
  return dumpJson(j) + "\n";
}

std::string timelineCsvHeader() {
  std::string out;
  for (const char* c : kColumns) {
    if (!out.empty()) out += ',';
    out += c;
  }
  return out + "\r\n";
}

std::string timelineCsvRow(const TimelineEvent& ev) {
  std::string out;
  bool first = true;
  for (const auto& v : columnValues(ev)) {
    if (!first) out += ',';
    first = false;
    out += csvCell(v);
  }
  return out + "\r\n";
}

std::string markdownCell(std::string_view raw) {
  // One line: breaks become spaces, then every other control character, bidi override and
  // invalid UTF-8 becomes '?' (printable()).
  std::string flat(raw);
  for (char& c : flat) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  const std::string text = printable(flat);
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (std::string_view("\\`*_[]<>|#!~&").find(static_cast<char>(c)) != std::string_view::npos) {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string timelineMarkdown(const std::vector<TimelineEvent>& events) {
  std::string out = "| Time (UTC) | Event | Host | By | Proof |\n|---|---|---|---|---|\n";
  for (const auto& ev : events) {
    const std::string when = isoMicros(ev.timestamp_us).substr(0, 23);
    out += absl::StrFormat(
        "| %s | %s: %s | %s | %s | `warden audit prove %d` |\n",
        markdownCell(absl::StrReplaceAll(when, {{"T", " "}})), markdownCell(ev.timestamp_desc),
        markdownCell(ev.message), markdownCell(ev.host.empty() ? "-" : ev.host),
        markdownCell(ev.operator_name.empty() ? "-" : ev.operator_name), ev.log_index);
  }
  return out;
}

std::optional<std::string> ocsfLine(const TimelineEvent& ev) {
  auto c = ocsfClassOf(ev);
  if (!c) return std::nullopt;
  const std::int64_t ms = ev.timestamp_us / 1000;
  Json j = Json::object();
  j["activity_id"] = c->activity_id;
  j["activity_name"] = c->activity_name;
  j["category_uid"] = c->category_uid;
  j["category_name"] = c->category_name;
  j["class_uid"] = c->class_uid;
  j["class_name"] = c->class_name;
  j["type_uid"] = c->class_uid * 100 + c->activity_id;
  j["type_name"] = absl::StrFormat("%s: %s", c->class_name, c->activity_name);
  j["severity_id"] = 1;
  j["severity"] = "Informational";
  j["time"] = ms;
  const bool ok = ev.outcome == "succeeded";
  j["status_id"] = ok ? 1 : 2;
  j["status"] = ok ? "Success" : "Failure";
  j["status_detail"] = ev.message;
  j["message"] = ev.message;
  if (c->class_uid == 7001) {
    j["command_uid"] = ev.action_id;
  } else {
    j["user"] = Json{{"name", ev.user}};
  }
  j["device"] = Json{{"hostname", ev.host}, {"type_id", 0}};
  if (!ev.operator_name.empty()) j["actor"] = Json{{"user", Json{{"name", ev.operator_name}}}};
  Json metadata = Json::object();
  metadata["version"] = "1.1.0";
  metadata["product"] = Json{{"name", "Warden"}, {"vendor_name", "Warden"}};
  metadata["uid"] = ev.leaf_hash;
  if (!ev.incident_id.empty()) metadata["correlation_uid"] = ev.incident_id;
  metadata["log_name"] = "warden action log";
  metadata["logged_time"] = ms;
  j["metadata"] = metadata;
  Json unmapped = Json::object();
  unmapped["log_index"] = ev.log_index;
  unmapped["leaf_hash"] = ev.leaf_hash;
  unmapped["kind"] = ev.kind;
  if (!ev.incident.empty()) unmapped["incident"] = ev.incident;
  if (!ev.evidence.empty()) unmapped["evidence"] = ev.evidence;
  j["unmapped"] = unmapped;
  return dumpJson(j) + "\n";
}

std::string formatTimeline(TimelineFormat format, const std::vector<TimelineEvent>& events) {
  std::string out;
  switch (format) {
    case TimelineFormat::kJsonl:
      for (const auto& ev : events) out += timelineJsonLine(ev);
      break;
    case TimelineFormat::kCsv:
      out = timelineCsvHeader();
      for (const auto& ev : events) out += timelineCsvRow(ev);
      break;
    case TimelineFormat::kMarkdown:
      out = timelineMarkdown(events);
      break;
    case TimelineFormat::kOcsf:
      for (const auto& ev : events) {
        if (auto line = ocsfLine(ev)) out += *line;
      }
      break;
  }
  return out;
}

}  // namespace warden::cli
