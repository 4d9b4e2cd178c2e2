// The timeline (controller/cli/timeline_events.h, timeline_formats.h): which log entries belong
// to an incident or a host, the evidence events receipts carry (a killed process's start, an
// account locked), and each format's escaping of what a hostile host wrote.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/audit/incident.h"
#include "common/audit/log_entry.h"
#include "common/audit/request.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/json.h"
#include "controller/cli/timeline_events.h"
#include "controller/cli/timeline_formats.h"
#include "warden/v1/results.pb.h"

namespace warden::cli {
namespace {

using ::testing::HasSubstr;

constexpr char kIncident[] = "i-00000000000000a1";
constexpr std::int64_t kT0 = 1'796'670'620'000;
// A command line a hostile host wrote: a formula, a table break, Markdown and HTML.
constexpr char kHostile[] = "=cmd|' /C calc'!A0 | <script>x</script> [link](http://e) `\n# h";

class Log {
 public:
  void add(LogEntry e) {
    e.logged_unix_ms = kT0 + static_cast<std::int64_t>(entries.size()) * 10;
    entries.push_back(encodeLogEntry(e));
  }
  void request(const Request& q) {
    LogEntry e;
    e.type = entry_type::kRequest;
    e.actor = "operator:" + q.operator_name;
    e.ref = q.id;
    e.body = encodeRequest(q);
    add(e);
  }
  void incident(const std::string& kind, std::vector<std::string> args, const std::string& id) {
    Request q;
    q.id = id;
    q.operator_name = "alice";
    q.kind = kind;
    q.args = std::move(args);
    request(q);
  }
  void action(const std::string& request_id, const std::string& command_id, const std::string& host,
              const std::string& kind, const std::string& incident,
              std::map<std::string, std::string> details, bool ok = true) {
    Request q;
    q.id = request_id;
    q.operator_name = "bob";
    q.kind = kind;
    q.hosts = {host};
    q.incident = incident;
    q.reason = "why bob did it";
    request(q);
    Command c;
    c.id = command_id;
    c.host_id = host;
    c.kind = kind;
    c.requested_by = "bob";
    c.incident = incident;
    LogEntry d;
    d.type = entry_type::kDispatch;
    d.actor = "controller";
    d.host_id = host;
    d.ref = request_id;
    d.body = encodeCommand(c);
    add(d);
    Receipt r;
    r.command_id = command_id;
    r.host_id = host;
    r.kind = kind;
    r.status = ok ? ReceiptStatus::kSucceeded : ReceiptStatus::kFailed;
    r.message = ok ? "done" : "could not";
    r.details = std::move(details);
    LogEntry e;
    e.type = entry_type::kReceipt;
    e.actor = "agent:" + host;
    e.host_id = host;
    e.ref = command_id;
    e.body = encodeReceipt(r);
    add(e);
  }
  std::vector<std::string> entries;
};

std::string killReport() {
  v1::KillReport report;
  auto* p = report.add_processes();
  p->set_pid(4242);
  p->set_exe("/tmp/.x/miner");
  p->set_exe_sha256(std::string(64, 'a'));
  p->set_cmdline(kHostile);
  p->set_user("mallory");
  p->set_start_unix_ms(kT0 - 3'600'000);
  return crypto::base64(report.SerializeAsString());
}

Log sampleLog() {
  Log log;
  LogEntry enrolled;
  enrolled.type = entry_type::kEnrollment;
  enrolled.actor = "agent:host-42";
  enrolled.host_id = "host-42";
  log.add(enrolled);
  log.incident(kIncidentOpenKind,
               incidentChangeArgs(IncidentChange{kIncidentOpenKind, kIncident, "quiet-harbor", 2,
                                                 "mallory on the web server", ""}),
               "r-00000000000000e1");
  log.action("r-00000000000000e2", "a-00000000000000e2", "host-42", "isolate", kIncident, {});
  log.action("r-00000000000000e3", "a-00000000000000e3", "host-42", "kill-sessions", kIncident,
             {{"result", killReport()}});
  log.action("r-00000000000000e4", "a-00000000000000e4", "host-43", "isolate", "", {});
  log.action("r-00000000000000e5", "a-00000000000000e5", "host-42", "block", "", {}, false);
  log.incident(kIncidentNoteKind,
               incidentChangeArgs(IncidentChange{kIncidentNoteKind, kIncident, "", 0, "", "noted"}),
               "r-00000000000000e6");
  return log;
}

std::vector<TimelineEvent> build(const Log& log, TimelineFilter filter,
                                 IncidentFacts* facts = nullptr) {
  TimelineBuilder b(std::move(filter));
  for (std::size_t i = 0; i < log.entries.size(); ++i) {
    EXPECT_TRUE(b.add(i, log.entries[i]).ok());
  }
  if (facts) *facts = b.facts();
  return b.events();
}

TEST(Timeline, AnIncidentsEventsAndFacts) {
  IncidentFacts facts;
  const auto events = build(sampleLog(), {kIncident, ""}, &facts);
  std::vector<std::string> types;
  for (const auto& ev : events) {
    types.push_back(ev.data_type);
    EXPECT_EQ(ev.incident, "quiet-harbor") << ev.message;
    EXPECT_NE(ev.host, "host-43") << ev.message;
  }
  // By time: the killed process started an hour before anything was logged.
  EXPECT_EQ(types, (std::vector<std::string>{"warden:evidence:process", "warden:incident:open",
                                             "warden:action:request", "warden:action:dispatch",
                                             "warden:action:receipt", "warden:action:request",
                                             "warden:action:dispatch", "warden:action:receipt",
                                             "warden:evidence:process", "warden:incident:note"}));
  EXPECT_EQ(events[0].timestamp_desc, "Process started");
  EXPECT_EQ(events[0].sha256, std::string(64, 'a'));
  EXPECT_EQ(events[0].evidence, "receipt of a-00000000000000e3, killed[0]");
  EXPECT_EQ(events[0].log_index, 7u) << "the receipt that proves it";
  EXPECT_EQ(facts.codename, "quiet-harbor");
  EXPECT_EQ(facts.responders, (std::set<std::string>{"bob"}));
  EXPECT_EQ(facts.hosts, (std::set<std::string>{"host-42"}));
  EXPECT_EQ(facts.first_containment_index, 4u);
  EXPECT_EQ(facts.first_containment_ms - facts.first_request_ms, 20);
  EXPECT_TRUE(facts.unanswered.empty());
}

TEST(Timeline, RevokedKeysAndWhenTheirFilesChanged) {
  v1::SshKeyReport report;
  auto* f = report.add_files();
  f->set_path("/home/mallory/.ssh/authorized_keys2");
  f->set_user("mallory");
  f->set_mtime_unix_ms(kT0 - 86'400'000);  // the owner can backdate this
  f->set_ctime_unix_ms(kT0 - 7'200'000);   // but not this
  f->set_sha256_before(std::string(64, 'b'));
  for (const char* action : {"revoked", "left-in-refused-file"}) {
    auto* k = report.add_keys();
    k->set_user("mallory");
    k->set_file(f->path());
    k->set_line(1);
    k->set_type("ssh-ed25519");
    k->set_fingerprint("SHA256:" + std::string(43, 'A'));
    k->set_comment(kHostile);
    k->set_action(action);
  }
  Log log;
  log.action("r-00000000000000f1", "a-00000000000000f1", "host-42", "revoke-keys", "",
             {{"result", crypto::base64(report.SerializeAsString())}});
  const auto events = build(log, {"", "host-42"});
  std::vector<std::string> descs;
  for (const auto& ev : events) descs.push_back(ev.timestamp_desc);
  EXPECT_EQ(descs, (std::vector<std::string>{
                       "Content Modification Time", "Metadata Modification Time", "Request logged",
                       "Command dispatched", "Receipt logged", "SSH key revoked"}));
  EXPECT_EQ(events[0].timestamp_us, (kT0 - 86'400'000) * 1000);
  EXPECT_EQ(events[0].evidence, "receipt of a-00000000000000f1, files[0]");
  EXPECT_EQ(events[0].sha256, std::string(64, 'b'));
  EXPECT_THAT(events[5].message, HasSubstr("authorized_keys2:1"));
}

TEST(Timeline, AHostsEventsAcrossIncidents) {
  const auto events = build(sampleLog(), {"", "host-42"});
  int failed = 0;
  for (const auto& ev : events) {
    EXPECT_EQ(ev.host.empty() ? "host-42" : ev.host, "host-42") << ev.message;
    failed += ev.outcome == "failed";
    EXPECT_NE(ev.data_type, "warden:incident:open") << "incidents are not a host's events";
  }
  EXPECT_EQ(failed, 1) << "the failed block, outside the incident";
  TimelineBuilder unknown(TimelineFilter{"", "host-99"});
  const Log log = sampleLog();
  for (std::size_t i = 0; i < log.entries.size(); ++i)
    ASSERT_TRUE(unknown.add(i, log.entries[i]).ok());
  EXPECT_FALSE(unknown.hostEnrolled());
}

TEST(Timeline, TimesketchFieldsAndEscaping) {
  const auto events = build(sampleLog(), {kIncident, ""});
  EXPECT_EQ(isoMicros(1'796'670'620'905'123), "2026-12-07T19:10:20.905123+00:00");
  for (const auto& ev : events) {
    Json j = Json::parse(timelineJsonLine(ev));
    EXPECT_FALSE(j.value("message", "").empty());
    EXPECT_THAT(j.value("datetime", ""), ::testing::EndsWith("+00:00"));
    EXPECT_FALSE(j.value("timestamp_desc", "").empty());
    EXPECT_EQ(j.value("leaf_hash", "").size(), 64u);
  }
  const TimelineEvent& killed = events[0];
  // CSV: one record per line (the host's line break made '?'), the formula defused.
  const std::string row = timelineCsvRow(killed);
  EXPECT_TRUE(row.starts_with("process started: pid 4242 (/tmp/.x/miner) of mallory: =cmd|' "))
      << row;
  EXPECT_EQ(row.find('\n'), row.size() - 1) << row;
  TimelineEvent formula = killed;
  formula.message = "=HYPERLINK(\"http://e\")";
  EXPECT_TRUE(timelineCsvRow(formula).starts_with("\"'=HYPERLINK(\"\"http://e\"\")\","))
      << timelineCsvRow(formula);
  // Markdown: one table row, nothing that renders as markup.
  const std::string md = timelineMarkdown({killed});
  const auto rows = std::count(md.begin(), md.end(), '\n');
  EXPECT_EQ(rows, 3);
  for (const char* raw : {"<script>", "[link]", "cmd|'", "`\n", "\n#"}) {
    EXPECT_EQ(md.find(raw), std::string::npos) << raw << "\n" << md;
  }
  EXPECT_THAT(md, HasSubstr("\\<script\\>"));
}

TEST(Timeline, OcsfClasses) {
  const auto events = build(sampleLog(), {"", ""});
  int remediation = 0;
  for (const auto& ev : events) {
    auto line = ocsfLine(ev);
    if (!line) continue;
    Json j = Json::parse(*line);
    ASSERT_EQ(j.value("class_uid", 0), 7001) << *line;
    ++remediation;
    EXPECT_EQ(j.value("type_uid", 0), 700100 + j.value("activity_id", 0));
    EXPECT_EQ(j.value("command_uid", ""), ev.action_id);
    if (ev.kind == "kill-sessions") {
      EXPECT_EQ(j.value("activity_name", ""), "Evict");
    }
    if (ev.outcome == "failed") {
      EXPECT_EQ(j.value("status_id", 0), 2);
    }
    if (!ev.incident_id.empty()) {
      EXPECT_EQ(j["metadata"].value("correlation_uid", ""), kIncident);
    }
  }
  EXPECT_EQ(remediation, 4) << "two isolations, the kill and the block";
  EXPECT_FALSE(parseTimelineFormat("xml").ok());
}

}  // namespace
}  // namespace warden::cli
