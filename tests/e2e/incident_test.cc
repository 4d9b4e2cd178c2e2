// End to end: an incident opened with a generated codename, three actions under it (by
// --incident and by $WARDEN_INCIDENT), a note and an action outside it; the commands carry the
// incident's id and nothing else of it; `timeline export` writes JSONL, CSV, Markdown and OCSF
// whose rows tie to log entries `audit prove` proves; `incident report` names the responders,
// the hosts and the time to contain; a closed or unknown incident, bad codenames and bad
// timeline arguments are exit 2 with nothing dispatched; the exported log verifies.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/audit/log_entry.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/json_lookup.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kReason[] = "secret-reason-the-attacker-must-not-read";
constexpr char kSummary[] = "web server compromised through the upload form";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

int actionCount(WardenDeployment& d) {
  RunResult r = d.cliResult({"actions", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  Json j = parseOrNull(r.out);
  int n = 0;
  firstMember(j, [&n](const std::string& name, const Json&) {
    n += name == "kind";
    return false;
  });
  return n;
}

// The log entry at `index`, as `warden audit prove` proves it, and its leaf hash in hex.
struct Proven {
  LogEntry entry;
  std::string leaf_hex;
};

std::optional<Proven> prove(WardenDeployment& d, std::uint64_t index) {
  RunResult r = d.cliResult({"audit", "prove", std::to_string(index), "--json"});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "audit prove " << index << ": " << r.err;
    return std::nullopt;
  }
  Json j = parseOrNull(r.out);
  auto entry = crypto::unbase64(j.value("entry", ""));
  auto leaf = crypto::unbase64(j.value("leaf_hash", ""));
  if (!entry.ok() || !leaf.ok()) return std::nullopt;
  auto e = decodeLogEntry(*entry);
  if (!e.ok()) return std::nullopt;
  return Proven{*e, crypto::hex(*leaf)};
}

class IncidentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto created = WardenDeployment::create(absl::StrFormat("inc%d", getpid() % 100000),
                                            {{"host-42", 42}, {"host-43", 43}});
    ASSERT_TRUE(created.ok()) << created.status();
    d_ = std::move(*created);
    TestHost& h = d_->host("host-42");
    for (const auto& [file, line] : std::vector<std::pair<std::string, std::string>>{
             {"/etc/passwd", "mallory:x:1002:1002::/tmp:/bin/bash\n"},
             {"/etc/shadow", "mallory:$y$j9T$abc$def:20000:0:99999:7:::\n"}}) {
      auto old = h.readFile(file);
      ASSERT_TRUE(old.ok()) << old.status();
      ASSERT_TRUE(h.writeFile(file, *old + line).ok());
    }
    for (const auto& host : {"host-42", "host-43"}) {
      ASSERT_TRUE(d_->enroll(host).ok());
      ASSERT_TRUE(d_->startAgent(host).ok()) << d_->agentLog(host);
    }
    dir_ = d_->controllerHost().dir();
  }

  RunResult cli(const std::vector<std::string>& args) { return d_->cliResult(args); }

  // `warden ARGS` with $WARDEN_INCIDENT set.
  RunResult cliInIncident(const std::string& incident, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"env", "WARDEN_INCIDENT=" + incident,
                                     std::string(WARDEN_BIN_DIR) + "/warden", "--profile",
                                     d_->profile()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = d_->controllerHost().exec(argv, absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : RunResult{};
  }

  std::unique_ptr<WardenDeployment> d_;
  std::string dir_;
};

TEST_F(IncidentTest, ActionsUnderAnIncidentMakeAProvableTimelineAndAReport) {
  RunResult opened = cli({"incident", "open", "--sev", "2", "--summary", kSummary});
  ASSERT_EQ(opened.exit_code, 0) << opened.err;
  const std::string codename(absl::StripTrailingAsciiWhitespace(opened.out));
  ASSERT_TRUE(std::regex_match(codename, std::regex("[a-z]+-[a-z]+"))) << opened.out;
  RunResult shown = cli({"incident", "show", codename, "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  const std::string id = jsonString(shown.out, "id");
  const std::string responder = jsonString(shown.out, "opened_by");
  ASSERT_TRUE(std::regex_match(id, std::regex("i-[0-9a-f]{16}"))) << shown.out;
  ASSERT_FALSE(responder.empty()) << shown.out;

  // Three actions under the incident, named three ways; one outside it.
  RunResult isolated =
      cli({"isolate", "host-42", "--incident", codename, "--reason", kReason, "--json"});
  ASSERT_EQ(isolated.exit_code, 0) << isolated.out << isolated.err;
  RunResult locked = cliInIncident(codename, {"lock-accounts", "host-42", "--user", "mallory"});
  ASSERT_EQ(locked.exit_code, 0) << locked.out << locked.err;
  RunResult released = cli({"release", "host-42", "--incident", id});
  ASSERT_EQ(released.exit_code, 0) << released.out << released.err;
  RunResult other = cli({"block", "198.18.0.66", "--host", "host-43", "--reason", "unrelated"});
  ASSERT_EQ(other.exit_code, 0) << other.out << other.err;
  RunResult noted = cli({"incident", "note", codename, "mallory came in through the upload form"});
  ASSERT_EQ(noted.exit_code, 0) << noted.err;

  // Timesketch JSONL.
  const std::string jsonl = dir_ + "/timeline.jsonl";
  RunResult exported =
      cli({"timeline", "export", "--incident", codename, "--format", "jsonl", "--out", jsonl});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const auto rows = lines(slurp(jsonl));
  ASSERT_FALSE(rows.empty());
  const std::regex iso(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00)");
  std::map<std::string, int> types;
  std::set<std::uint64_t> dispatches;
  std::set<std::string> action_ids;
  for (const auto& line : rows) {
    Json row = parseOrNull(line);
    ASSERT_TRUE(row.is_object()) << line;
    EXPECT_FALSE(row.value("message", "").empty()) << line;
    EXPECT_TRUE(std::regex_match(row.value("datetime", ""), iso)) << line;
    EXPECT_FALSE(row.value("timestamp_desc", "").empty()) << line;
    ASSERT_TRUE(row.contains("log_index")) << line;
    EXPECT_EQ(row.value("leaf_hash", "").size(), 64u) << line;
    EXPECT_EQ(row.value("incident", ""), codename) << line;
    EXPECT_EQ(line.find("198.18.0.66"), std::string::npos) << "outside the incident: " << line;
    const std::string type = row.value("data_type", "");
    ++types[type];
    if (type == "warden:action:dispatch") {
      dispatches.insert(row["log_index"].get<std::uint64_t>());
      action_ids.insert(row.value("action_id", ""));
    }
  }
  EXPECT_EQ(types["warden:incident:open"], 1);
  EXPECT_EQ(types["warden:incident:note"], 1);
  EXPECT_EQ(types["warden:action:request"], 3);
  EXPECT_EQ(types["warden:action:dispatch"], 3);
  EXPECT_EQ(types["warden:action:receipt"], 3);
  EXPECT_EQ(types["warden:evidence:account"], 1) << "mallory's lock, from the signed receipt";

  // Every row ties to an entry the controller proves against its checkpoint.
  for (const auto& line : rows) {
    Json row = parseOrNull(line);
    auto proven = prove(*d_, row["log_index"].get<std::uint64_t>());
    ASSERT_TRUE(proven.has_value()) << line;
    EXPECT_EQ(proven->leaf_hex, row.value("leaf_hash", "")) << line;
  }
  // The commands carry the incident's id and nothing else of it: no codename, summary or
  // reason reaches the host.
  for (std::uint64_t index : dispatches) {
    auto proven = prove(*d_, index);
    ASSERT_TRUE(proven.has_value());
    auto c = decodeCommand(proven->entry.body);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->incident, id);
    EXPECT_TRUE(c->reason.empty());
    for (const std::string& secret : {codename, std::string(kReason), std::string(kSummary)}) {
      EXPECT_EQ(proven->entry.body.find(secret), std::string::npos) << secret;
    }
  }
  EXPECT_EQ(action_ids.size(), 3u);
  const std::string state_dir = d_->agentStateDir("host-42");
  RunResult grep =
      d_->host("host-42")
          .exec({"grep", "-rlaF", "-e", codename, "-e", kReason, "-e", "upload form", state_dir},
                absl::Seconds(30))
          .value_or(RunResult{});
  EXPECT_EQ(grep.exit_code, 1) << "found in the agent's state: " << grep.out;
  const std::string agent_log = d_->agentLog("host-42");
  EXPECT_EQ(agent_log.find(codename), std::string::npos);
  EXPECT_EQ(agent_log.find(kReason), std::string::npos);

  // The same rows as CSV and as a Markdown table.
  const std::string csv = dir_ + "/timeline.csv", md = dir_ + "/timeline.md";
  ASSERT_EQ(
      cli({"timeline", "export", "--incident", id, "--format", "csv", "--out", csv}).exit_code, 0);
  const auto csv_rows = lines(slurp(csv));
  ASSERT_FALSE(csv_rows.empty());
  EXPECT_TRUE(csv_rows[0].starts_with("message,datetime,timestamp_desc,")) << csv_rows[0];
  EXPECT_EQ(csv_rows.size(), rows.size() + 1) << "one record per line";
  ASSERT_EQ(cli({"timeline", "export", "--incident", codename, "--format", "markdown", "--out", md})
                .exit_code,
            0);
  const std::string table = slurp(md);
  EXPECT_TRUE(table.starts_with("| Time (UTC) | Event |")) << table;
  std::size_t proofs = 0;
  for (std::size_t at = 0; (at = table.find("`warden audit prove ", at)) != std::string::npos;
       ++at) {
    ++proofs;
  }
  EXPECT_EQ(proofs, rows.size());

  // OCSF for a SIEM: the isolation and the release as Remediation Activity, the lock as
  // Account Change, correlated by the incident's id.
  const std::string ocsf = dir_ + "/timeline.ocsf.jsonl";
  ASSERT_EQ(cli({"timeline", "export", "--incident", codename, "--format", "ocsf", "--out", ocsf})
                .exit_code,
            0);
  std::map<int, int> classes;
  for (const auto& line : lines(slurp(ocsf))) {
    Json e = parseOrNull(line);
    ASSERT_TRUE(e.is_object()) << line;
    ++classes[e.value("class_uid", 0)];
    EXPECT_EQ(e["metadata"].value("correlation_uid", ""), id) << line;
    if (e.value("class_uid", 0) == 7001) {
      EXPECT_TRUE(action_ids.contains(e.value("command_uid", ""))) << line;
      EXPECT_EQ(e.value("status_id", 0), 1) << line;
    } else {
      EXPECT_EQ(e["user"].value("name", ""), "mallory") << line;
      EXPECT_EQ(e.value("activity_name", ""), "Lock") << line;
    }
  }
  EXPECT_EQ(classes[7001], 2);
  EXPECT_EQ(classes[3001], 1);

  // The post-mortem draft.
  const std::string report = dir_ + "/report.md";
  RunResult drafted = cli({"incident", "report", codename, "--out", report});
  ASSERT_EQ(drafted.exit_code, 0) << drafted.err;
  const std::string text = slurp(report);
  for (const std::string& expected :
       {"# Post-mortem draft: " + codename, std::string("## Responders"), "- " + responder,
        std::string("## Hosts affected"), std::string("- host-42"),
        std::string("**First verified containment:**"), std::string("**Time to contain**"),
        std::string("## Timeline"), std::string("## Evidence"), std::string("## Open items"),
        std::string("## Proof"), std::string(kSummary)}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << "\n" << text;
  }
  EXPECT_EQ(text.find("host-43"), std::string::npos) << "not part of the incident";
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(\*\*Time to contain\*\* \(from the first action\): \d+ ms)")))
      << text;

  // Closed, the incident takes no more commands; nothing is dispatched for them.
  const int before = actionCount(*d_);
  ASSERT_EQ(cli({"incident", "close", codename}).exit_code, 0);
  RunResult late = cli({"isolate", "host-42", "--incident", codename});
  EXPECT_EQ(late.exit_code, 2) << late.out << late.err;
  EXPECT_NE(late.err.find("closed"), std::string::npos) << late.err;
  RunResult late_env = cliInIncident(id, {"release", "host-42"});
  EXPECT_EQ(late_env.exit_code, 2) << late_env.err;
  EXPECT_EQ(actionCount(*d_), before);
  RunResult listed = cli({"incident", "list"});
  EXPECT_NE(listed.out.find(codename), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("closed"), std::string::npos) << listed.out;

  // The exported log verifies, incident rules included.
  const std::string log = dir_ + "/log.json";
  ASSERT_EQ(cli({"audit", "export", "--out", log}).exit_code, 0);
  RunResult verified = cli({"audit", "verify", log});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

TEST_F(IncidentTest, BadIncidentInputIsRefusedAndNothingIsDispatched) {
  ASSERT_EQ(cli({"incident", "open", "--codename", "quiet-harbor"}).exit_code, 0);
  struct Case {
    std::vector<std::string> args;
    int exit;
    const char* says;
  };
  const std::string existing = dir_ + "/exists.jsonl";
  ASSERT_EQ(::close(::creat(existing.c_str(), 0600)), 0);
  for (const Case& c : std::vector<Case>{
           {{"isolate", "host-42", "--incident", "no-such-incident"}, 2, "no incident"},
           {{"lock-accounts", "host-42", "--user", "mallory", "--incident", "nope"},
            2,
            "no incident"},
           {{"incident", "open", "--codename", "quiet-harbor"}, 2, "taken"},
           {{"incident", "open", "--codename", "Bad Name"}, 2, "invalid codename"},
           {{"incident", "open", "--codename", "../etc"}, 2, "invalid codename"},
           {{"incident", "open", "--sev", "9"}, 2, "invalid severity"},
           {{"incident", "open", "--sev", "0"}, 2, "invalid severity"},
           {{"incident", "note", "no-such-incident", "text"}, 2, "no incident"},
           {{"incident", "close", "no-such-incident"}, 2, "no incident"},
           {{"incident", "report", "no-such-incident"}, 2, "no incident"},
           {{"timeline", "export", "--format", "xml", "--out", dir_ + "/t"}, 2, "unknown timeline"},
           {{"timeline", "export", "--host", "host-99", "--out", dir_ + "/t"}, 2, "never enrolled"},
           {{"timeline", "export", "--incident", "nope", "--out", dir_ + "/t"}, 2, "no incident"},
           {{"timeline", "export", "--out", existing}, 2, "already exists"},
       }) {
    RunResult r = cli(c.args);
    EXPECT_EQ(r.exit_code, c.exit) << absl::StrJoin(c.args, " ") << "\n" << r.out << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << absl::StrJoin(c.args, " ") << ": " << r.err;
  }
  ASSERT_EQ(cli({"incident", "close", "quiet-harbor"}).exit_code, 0);
  RunResult twice = cli({"incident", "close", "quiet-harbor"});
  EXPECT_EQ(twice.exit_code, 2) << twice.err;
  EXPECT_EQ(actionCount(*d_), 0);

  // An auditor reads incidents but does not open them.
  const std::string auditor = dir_ + "/aud.profile";
  ASSERT_EQ(cli({"operator", "add", "aud", "--role", "auditor", "--out", auditor}).exit_code, 0);
  auto denied = d_->cliWithProfile(auditor, {"incident", "open"});
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->exit_code, 3) << denied->err;
  auto read = d_->cliWithProfile(auditor, {"incident", "list"});
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->exit_code, 0) << read->err;

  const std::string log = dir_ + "/log.json";
  ASSERT_EQ(cli({"audit", "export", "--out", log}).exit_code, 0);
  RunResult verified = cli({"audit", "verify", log});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

}  // namespace
}  // namespace warden::testing
