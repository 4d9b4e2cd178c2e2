// End to end: the alert intake (DESIGN.md "Automation: quarantine triggered by alerts") over
// real HTTPS from curl in the controller's namespace. A real Falco event (the fixture, its
// hostname pointed at host-42) sent with the source's client certificate and no token isolates
// host-42, proven with packets from host-41; the same body with a certificate from another CA
// is refused at the TLS handshake. A generic JSON alert kills mallory's login session on
// host-43 and spares alice's. Bad input (credentials, bodies, host names, a broken rules file,
// an unknown path) is refused or decided as documented, dispatches nothing and leaves its
// trace in the log; the exported log verifies offline.
//
// One deployment serves every test of the suite, in the order written: the last one verifies
// the log the others wrote.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/json_lookup.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

#ifndef WARDEN_ALERT_FIXTURES
#error "tests/CMakeLists.txt defines WARDEN_ALERT_FIXTURES (../shared/fixtures/alerts)"
#endif

constexpr char kIntake[] = "https://198.18.0.1:7444";
constexpr char kFalcoSource[] = "falco-prod";
constexpr char kJsonSource[] = "siem";
constexpr int kMallory = 1002;
constexpr int kAlice = 1001;

constexpr char kRules[] = R"(rules:
  - name: falco-terminal-shell
    format: falco
    senders: [falco-prod]
    match:
      - rule="Terminal shell in container"
    host_from: [hostname]
    action: isolate
    mode: enforce
  - name: cryptominer-kill
    format: json
    senders: [siem]
    match:
      - alertname="CryptoMiner"
    host_from: [hostname]
    action: kill-sessions
    with: {user_from: user}
    mode: enforce
)";

// Line 7 names an action that does not exist.
constexpr char kBrokenRules[] = R"(rules:
  - name: broken
    format: falco
    match:
      - rule="Terminal shell in container"
    host_from: [hostname]
    action: obliterate
    mode: enforce
)";

std::string readLocal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool writeLocal(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  return static_cast<bool>(out.flush());
}

template <typename F>
bool waitFor(F done, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return done();
}

// A member of the CLI's --json (protobuf's JSON with the .proto's field names) as text.
std::string field(const Json& obj, const std::string& name) {
  if (!obj.is_object() || !obj.contains(name)) return "";
  const Json& v = obj[name];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// What curl saw: its exit status, the HTTP status ("000" when there was no answer) and body.
struct Posted {
  int curl_exit = -1;
  std::string code;
  std::string body;
  std::string err;
  Json json;
};

std::ostream& operator<<(std::ostream& os, const Posted& p) {
  return os << "curl exit " << p.curl_exit << ", HTTP " << p.code << ", body " << p.body
            << ", stderr " << p.err;
}

// One live process as the host sees it through its own /proc.
struct HostProcess {
  int pid = 0;
  long uid = -1;
  long loginuid = -1;
  std::string cmdline;
};

std::vector<HostProcess> hostProcesses(TestHost& host) {
  const char* script =
      "for d in /proc/[0-9]*; do "
      "s=$(sed -n 's/^State:\\t\\(.\\).*/\\1/p' $d/status 2>/dev/null); "
      "u=$(sed -n 's/^Uid:\\t\\([0-9]*\\).*/\\1/p' $d/status 2>/dev/null); "
      "l=$(cat $d/loginuid 2>/dev/null); c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null); "
      "[ -n \"$s\" ] && [ \"$s\" != Z ] && echo \"${d#/proc/}|$u|$l|$c\"; done; true";
  std::vector<HostProcess> out;
  auto r = host.exec({"sh", "-c", script}, absl::Seconds(60));
  if (!r.ok() || r->exit_code != 0) {
    ADD_FAILURE() << "listing processes: " << (r.ok() ? r->err : r.status().ToString());
    return out;
  }
  for (absl::string_view line : absl::StrSplit(r->out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits('|', 3));
    if (f.size() != 4) continue;
    HostProcess p;
    p.pid = std::atoi(f[0].c_str());
    p.uid = std::atol(f[1].c_str());
    p.loginuid = f[2] == "4294967295" ? -1 : std::atol(f[2].c_str());
    p.cmdline = f[3];
    out.push_back(p);
  }
  return out;
}

// A generic JSON alert naming `host` and mallory.
std::string cryptoMiner(const std::string& host) {
  return absl::StrFormat(
      R"([{"labels":{"alertname":"CryptoMiner","hostname":"%s","user":"mallory"}}])", host);
}

int countOf(const std::vector<HostProcess>& ps, int uid) {
  int n = 0;
  for (const auto& p : ps) n += (p.uid == uid || p.loginuid == uid);
  return n;
}

class AlertIntakeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!checkPrivileges().ok()) return;  // SetUp() skips (or fails) each test
    setup_error_ = setUpDeployment();
  }
  static void TearDownTestSuite() { d_.reset(); }

  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_NE(d_, nullptr);
  }

  // The fleet: host-41 a peer, host-42 and host-43 with agents; mallory and alice on host-43;
  // two sources (the Falco one authenticates with its client certificate) and the rules.
  static std::string setUpDeployment() {
    auto d = WardenDeployment::create(absl::StrFormat("ali%d", getpid() % 100000),
                                      {{"host-41", 41}, {"host-42", 42}, {"host-43", 43}});
    if (!d.ok()) return "deployment: " + d.status().ToString();
    d_ = std::move(*d);
    work_ = d_->controllerHost().dir() + "/alerts";
    if (auto r = run({"mkdir", "-p", work_}); !r.ok() || r->exit_code != 0) return "mkdir";
    TestHost& h = d_->host("host-43");
    for (const auto& [file, lines] : std::vector<std::pair<std::string, std::string>>{
             {"/etc/passwd",
              "alice:x:1001:1001::/tmp:/bin/bash\nmallory:x:1002:1002::/tmp:/bin/bash\n"},
             {"/etc/group", "alice:x:1001:\nmallory:x:1002:\n"},
             {"/etc/shadow", "alice:!:20000::::::\nmallory:!:20000::::::\n"}}) {
      auto old = h.readFile(file);
      if (!old.ok()) return old.status().ToString();
      if (auto s = h.writeFile(file, *old + lines); !s.ok()) return s.ToString();
    }
    for (const char* host : {"host-42", "host-43"}) {
      if (auto s = d_->enroll(host); !s.ok()) {
        return absl::StrFormat("enroll %s: %s", host, s.ToString());
      }
      if (auto s = d_->startAgent(host); !s.ok()) {
        return absl::StrFormat("agent %s: %s\n%s", host, s.ToString(), d_->agentLog(host));
      }
    }
    falco_cert_ = work_ + "/falco-prod";
    auto falco = d_->cli({"alerts", "source", "add", kFalcoSource, "--cert-out", falco_cert_});
    if (!falco.ok() || falco->exit_code != 0) {
      return "alerts source add --cert-out: " +
             (falco.ok() ? falco->out + falco->err : falco.status().ToString());
    }
    auto siem = d_->cli({"alerts", "source", "add", kJsonSource});
    if (!siem.ok() || siem->exit_code != 0) {
      return "alerts source add: " + (siem.ok() ? siem->out + siem->err : siem.status().ToString());
    }
    token_ = siem->out.substr(0, siem->out.find('\n'));
    if (token_.empty() || token_.find(' ') != std::string::npos) {
      return "the source's token is not alone on stdout: '" + siem->out + "'";
    }
    const std::string rules = work_ + "/rules.yaml";
    if (!writeLocal(rules, kRules)) return "writing " + rules;
    auto applied = d_->cli({"rules", "apply", rules, "--reason", "e2e alert intake"});
    if (!applied.ok() || applied->exit_code != 0) {
      return "rules apply: " +
             (applied.ok() ? applied->out + applied->err : applied.status().ToString());
    }
    return "";
  }

  static std::string ca() { return d_->dataDir() + "/ca.pem"; }

  // POSTs `body` to PATH of the intake with curl inside the controller's host; `extra` are
  // curl's credential options.
  static Posted post(const std::string& path, const std::string& body,
                     const std::vector<std::string>& extra) {
    const int n = ++posts_;
    const std::string in = absl::StrFormat("%s/req-%d.json", work_, n);
    const std::string out = absl::StrFormat("%s/resp-%d.json", work_, n);
    Posted p;
    if (!writeLocal(in, body)) {
      ADD_FAILURE() << "writing " << in;
      return p;
    }
    std::vector<std::string> argv = {
        "curl", "-sS",          "--max-time", "30", "-o", out,
        "-w",   "%{http_code}", "--cacert",   ca(), "-H", "Content-Type: application/json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), {"--data-binary", "@" + in, std::string(kIntake) + path});
    auto r = d_->controllerHost().exec(argv, absl::Seconds(45));
    if (!r.ok()) {
      ADD_FAILURE() << "curl: " << r.status();
      return p;
    }
    p.curl_exit = r->exit_code;
    p.code = r->out;
    p.err = r->err;
    p.body = readLocal(out);
    p.json = parseOrNull(p.body);
    return p;
  }
  static std::vector<std::string> bearer(const std::string& token) {
    return {"-H", "Authorization: Bearer " + token};
  }
  static std::vector<std::string> clientCert(const std::string& prefix) {
    return {"--cert", prefix + ".pem", "--key", prefix + ".key"};
  }

  // `warden alerts --json`: every alert, newest first.
  static Json alerts() {
    RunResult r = d_->cliResult({"alerts", "--json", "--limit", "1000"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    Json doc = parseOrNull(r.out);
    if (doc.is_object() && doc.contains("alerts") && doc["alerts"].is_array()) {
      return doc["alerts"];
    }
    return Json::array();
  }
  static Json alertById(const std::string& id) {
    for (const Json& a : alerts()) {
      if (field(a, "id") == id) return a;
    }
    return Json();
  }
  static int actionCount() {
    RunResult r = d_->cliResult({"actions", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    Json doc = parseOrNull(r.out);
    if (doc.is_object() && doc.contains("actions") && doc["actions"].is_array()) {
      return static_cast<int>(doc["actions"].size());
    }
    return 0;
  }
  // The log's entries from `from` on, as `warden audit show --json` lists them.
  static std::uint64_t treeSize() {
    RunResult r = d_->cliResult({"audit", "show", "--json", "--last", "1"});
    return std::strtoull(jsonNumber(r.out, "tree_size").c_str(), nullptr, 10);
  }
  static std::vector<Json> entriesSince(std::uint64_t from, const std::string& type) {
    RunResult r = d_->cliResult({"audit", "show", "--json", "--last", "0"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<Json> out;
    Json doc = parseOrNull(r.out);
    if (!doc.is_object() || !doc.contains("entries")) return out;
    for (const Json& e : doc["entries"]) {
      if (e.value("index", std::uint64_t{0}) >= from && e.value("type", "") == type) {
        out.push_back(e);
      }
    }
    return out;
  }
  // Intake refusals are logged at most once a second: space the requests out so each is.
  static void pastRefusalWindow() { absl::SleepFor(absl::Milliseconds(1200)); }

  static std::unique_ptr<WardenDeployment> d_;
  static std::string setup_error_;
  static std::string work_;
  static std::string falco_cert_;
  static std::string token_;
  static int posts_;
};

std::unique_ptr<WardenDeployment> AlertIntakeTest::d_;
std::string AlertIntakeTest::setup_error_;
std::string AlertIntakeTest::work_;
std::string AlertIntakeTest::falco_cert_;
std::string AlertIntakeTest::token_;
int AlertIntakeTest::posts_ = 0;

// Falco's own http_output has no custom headers: the source authenticates with the client
// certificate `alerts source add --cert-out` issued, and the rule (senders: [falco-prod])
// matches only if the certificate named that source.
TEST_F(AlertIntakeTest, FalcoEventWithClientCertificateIsolatesTheHost) {
  const std::string fixture =
      readLocal(std::string(WARDEN_ALERT_FIXTURES) + "/falco-json-output-terminal-shell.json");
  Json event = parseOrNull(fixture);
  ASSERT_TRUE(event.is_object()) << "fixture missing or not JSON: " << WARDEN_ALERT_FIXTURES;
  // Pointed at a test host, and fresh (an event older than max_alert_age goes to approval).
  event["hostname"] = "host-42";
  event["time"] = absl::FormatTime("%Y-%m-%d%ET%H:%M:%E9SZ", absl::Now(), absl::UTCTimeZone());
  const std::string body = dumpJson(event);

  TestHost& peer = d_->host("host-41");
  TestHost& target = d_->host("host-42");
  auto server = TcpEchoServer::start(target);
  ASSERT_TRUE(server.ok()) << server.status();
  auto other = TcpEchoServer::start(d_->host("host-43"));
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(tcpConnect(peer, target.ipv4(), (*server)->port()));
  ASSERT_TRUE(ping(peer, target.ipv4()));

  // A certificate for the same name from a CA of the attacker's own: refused at the handshake.
  const std::string foreign = work_ + "/foreign";
  auto made =
      run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-keyout", foreign + ".key", "-out", foreign + ".pem", "-days", "1", "-subj",
           std::string("/CN=alert-source:") + kFalcoSource});
  ASSERT_TRUE(made.ok() && made->exit_code == 0) << (made.ok() ? made->err : "openssl");
  const std::size_t alerts_before = alerts().size();
  const int actions_before = actionCount();
  Posted forged = post("/v1/alerts/falco", body, clientCert(foreign));
  // 35: the handshake failed; 56: TLS 1.3 reports the server's alert on the first read.
  EXPECT_TRUE(forged.curl_exit == 35 || forged.curl_exit == 56) << forged;
  EXPECT_EQ(forged.code, "000") << forged;
  EXPECT_EQ(alerts().size(), alerts_before);
  EXPECT_EQ(actionCount(), actions_before);
  EXPECT_TRUE(tcpConnect(peer, target.ipv4(), (*server)->port()));

  // The source's own certificate, no token.
  Posted p = post("/v1/alerts/falco", body, clientCert(falco_cert_));
  ASSERT_EQ(p.curl_exit, 0) << p;
  ASSERT_EQ(p.code, "200") << p;
  EXPECT_EQ(p.json.value("status", ""), "ok") << p.body;
  ASSERT_TRUE(p.json.contains("alerts") && p.json["alerts"].size() == 1) << p.body;
  const Json& answer = p.json["alerts"][0];
  EXPECT_EQ(answer.value("decision", ""), "acted") << p.body << "\n" << d_->controllerLog();
  EXPECT_EQ(answer.value("reason", ""), "rule-matched") << p.body;
  EXPECT_EQ(answer.value("host", ""), "host-42") << p.body;
  const std::string alert_id = answer.value("id", "");
  const std::string action_id = answer.value("action", "");
  ASSERT_FALSE(action_id.empty()) << p.body;

  // The host is cut off: no new connection from the peer, no ping; host-43 is untouched.
  EXPECT_TRUE(
      waitFor([&] { return !tcpConnect(peer, target.ipv4(), (*server)->port(), absl::Seconds(1)); },
              absl::Seconds(30)))
      << d_->agentLog("host-42");
  EXPECT_FALSE(tcpConnect(peer, target.ipv6(), (*server)->port(), absl::Seconds(1)));
  EXPECT_FALSE(ping(peer, target.ipv4(), absl::Seconds(1)));
  EXPECT_TRUE(tcpConnect(peer, d_->host("host-43").ipv4(), (*other)->port()));
  auto j = d_->hostJson("host-42");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_NE(j->find("\"containment\": \"isolated\""), std::string::npos) << *j;

  // `warden alerts` shows the alert, what was decided and the action's outcome.
  Json shown;
  EXPECT_TRUE(waitFor(
      [&] {
        shown = alertById(alert_id);
        return field(shown, "action_state") == "succeeded";
      },
      absl::Seconds(30)))
      << shown.dump(2);
  EXPECT_EQ(field(shown, "outcome"), "acted") << shown.dump(2);
  EXPECT_EQ(field(shown, "reason"), "rule-matched");
  EXPECT_EQ(field(shown, "host"), "host-42");
  EXPECT_EQ(field(shown, "source"), kFalcoSource);
  EXPECT_EQ(field(shown, "action_id"), action_id);
  EXPECT_EQ(field(shown, "rule"), "falco-terminal-shell");
  RunResult table = d_->cliResult({"alerts"});
  EXPECT_NE(table.out.find("acted"), std::string::npos) << table.out;
  EXPECT_EQ(actionCount(), actions_before + 1);
}

TEST_F(AlertIntakeTest, GenericJsonAlertKillsTheNamedUsersSession) {
  TestHost& h = d_->host("host-43");
  // pam_loginuid's part: root writes the login uid (a fresh audit session), then drops to it.
  auto login = [&](int uid, const std::string& before, const std::string& cmd) {
    const std::string s = absl::StrFormat(
        "echo %d > /proc/self/loginuid || exit 97; %s exec setpriv --reuid=%d --regid=%d "
        "--clear-groups -- %s",
        uid, before, uid, uid, cmd);
    auto p = h.spawn({"sh", "-c", s});
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  };
  // alice: a shell with a child. mallory: a shell with two children, and a root process in
  // her audit session that kept her login uid, as sudo leaves it.
  std::unique_ptr<Process> alice = login(kAlice, "", "bash -c 'sleep 1000 & wait'");
  std::unique_ptr<Process> mallory =
      login(kMallory, "sleep 1001 &", "bash -c 'sleep 1000 & sleep 1000 & wait'");
  ASSERT_TRUE(alice && mallory);
  std::vector<int> alice_pids;
  ASSERT_TRUE(waitFor(
      [&] {
        int alice_sleep = 0, mallory_sleep = 0, root_sleep = 0;
        alice_pids.clear();
        for (const auto& p : hostProcesses(h)) {
          if (p.loginuid == kAlice) {
            alice_pids.push_back(p.pid);
            alice_sleep += p.cmdline.starts_with("sleep 1000");
          } else if (p.loginuid == kMallory) {
            mallory_sleep += p.uid == kMallory && p.cmdline.starts_with("sleep 1000");
            root_sleep += p.uid == 0 && p.cmdline.starts_with("sleep 1001");
          }
        }
        return alice_sleep == 1 && mallory_sleep == 2 && root_sleep == 1;
      },
      absl::Seconds(10)))
      << alice->output() << mallory->output();
  ASSERT_EQ(countOf(hostProcesses(h), kMallory), 4);
  const int actions_before = actionCount();

  Posted p =
      post("/v1/alerts/json",
           R"([{"labels":{"alertname":"CryptoMiner","hostname":"host-43","user":"mallory"}}])",
           bearer(token_));
  ASSERT_EQ(p.curl_exit, 0) << p;
  ASSERT_EQ(p.code, "200") << p;
  ASSERT_TRUE(p.json.contains("alerts") && p.json["alerts"].size() == 1) << p.body;
  const Json& answer = p.json["alerts"][0];
  EXPECT_EQ(answer.value("decision", ""), "acted") << p.body;
  EXPECT_EQ(answer.value("reason", ""), "rule-matched") << p.body;
  EXPECT_EQ(answer.value("host", ""), "host-43") << p.body;
  const std::string action_id = answer.value("action", "");
  ASSERT_FALSE(action_id.empty()) << p.body;

  EXPECT_TRUE(waitFor([&] { return countOf(hostProcesses(h), kMallory) == 0; }, absl::Seconds(30)))
      << d_->agentLog("host-43");
  // The escalated root process went with her session; alice's session lives on.
  std::set<int> alive;
  for (const auto& p : hostProcesses(h)) alive.insert(p.pid);
  for (int pid : alice_pids) EXPECT_TRUE(alive.contains(pid)) << "alice's " << pid;
  EXPECT_TRUE(alive.contains(1));
  EXPECT_EQ(countOf(hostProcesses(h), kAlice), static_cast<int>(alice_pids.size()));

  Json shown;
  EXPECT_TRUE(waitFor(
      [&] {
        shown = alertById(answer.value("id", ""));
        return field(shown, "action_state") == "succeeded";
      },
      absl::Seconds(30)))
      << shown.dump(2);
  EXPECT_EQ(field(shown, "outcome"), "acted") << shown.dump(2);
  EXPECT_EQ(field(shown, "action_id"), action_id);
  EXPECT_EQ(field(shown, "source"), kJsonSource);
  EXPECT_EQ(actionCount(), actions_before + 1);
  // The action is a kill of mallory's sessions on host-43, done by automation.
  RunResult action = d_->cliResult({"action", action_id, "--json"});
  EXPECT_EQ(action.exit_code, 0) << action.out << action.err;
  EXPECT_NE(action.out.find("kill-sessions"), std::string::npos) << action.out;
  EXPECT_NE(action.out.find("mallory"), std::string::npos) << action.out;
}

TEST_F(AlertIntakeTest, BadInputIsRefusedOrDecidedAndNothingIsDispatched) {
  const int actions_before = actionCount();
  const std::uint64_t log_from = treeSize();

  // Credentials: a token no source has, and none at all.
  pastRefusalWindow();
  Posted wrong =
      post("/v1/alerts/json", cryptoMiner("host-43"), bearer("not-a-token-of-any-source"));
  EXPECT_EQ(wrong.code, "401") << wrong;
  EXPECT_FALSE(wrong.json.value("error", "").empty()) << wrong;
  pastRefusalWindow();
  Posted none = post("/v1/alerts/json", cryptoMiner("host-43"), {});
  EXPECT_EQ(none.code, "401") << none;
  EXPECT_FALSE(none.json.value("error", "").empty()) << none;

  // Bodies: malformed JSON, the wrong shape, and 10 MiB.
  pastRefusalWindow();
  Posted malformed = post("/v1/alerts/json", R"([{"labels": {"alertname": )", bearer(token_));
  EXPECT_EQ(malformed.code, "400") << malformed;
  EXPECT_TRUE(absl::StrContains(malformed.json.value("error", ""), "does not parse")) << malformed;
  pastRefusalWindow();
  Posted shape = post("/v1/alerts/alertmanager", R"({"alerts": 5})", bearer(token_));
  EXPECT_EQ(shape.code, "400") << shape;
  EXPECT_TRUE(absl::StrContains(shape.json.value("error", ""), "alerts")) << shape;
  pastRefusalWindow();
  std::string big = "[";
  big.append(10 << 20, ' ');
  big += "]";
  Posted huge = post("/v1/alerts/json", big, bearer(token_));
  EXPECT_EQ(huge.code, "413") << huge;
  EXPECT_FALSE(huge.json.value("error", "").empty()) << huge;
  // A sender that does not wait for 100-continue sends the whole body: still a 413.
  std::vector<std::string> no_expect = bearer(token_);
  no_expect.insert(no_expect.end(), {"-H", "Expect:"});
  Posted sent = post("/v1/alerts/json", big, no_expect);
  EXPECT_EQ(sent.code, "413") << sent;
  pastRefusalWindow();
  Posted nowhere = post("/v1/alerts/nope", cryptoMiner("host-43"), bearer(token_));
  EXPECT_EQ(nowhere.code, "404") << nowhere;

  // Host names: one that is not enrolled, and one that would be a glob.
  for (const char* name : {"host-99", "host-4*"}) {
    Posted p = post("/v1/alerts/json", cryptoMiner(name), bearer(token_));
    EXPECT_EQ(p.code, "200") << name << ": " << p;
    ASSERT_TRUE(p.json.contains("alerts") && p.json["alerts"].size() == 1) << name << ": " << p;
    const Json& a = p.json["alerts"][0];
    EXPECT_EQ(a.value("decision", ""), "no-action") << name << ": " << p.body;
    EXPECT_EQ(a.value("reason", ""), "unknown-host") << name << ": " << p.body;
    EXPECT_FALSE(a.contains("action")) << name << ": " << p.body;
    Json shown = alertById(a.value("id", ""));
    EXPECT_EQ(field(shown, "outcome"), "no-action") << shown.dump(2);
    EXPECT_EQ(field(shown, "reason"), "unknown-host") << shown.dump(2);
    EXPECT_EQ(field(shown, "action_id"), "") << shown.dump(2);
  }

  // A rules file with an error: refused with its line, and the rules in force stay.
  RunResult shown_before = d_->cliResult({"rules", "show", "--json"});
  ASSERT_EQ(shown_before.exit_code, 0) << shown_before.err;
  const std::string version = jsonString(shown_before.out, "version");
  EXPECT_FALSE(version.empty()) << shown_before.out;
  const std::string broken = work_ + "/broken-rules.yaml";
  ASSERT_TRUE(writeLocal(broken, kBrokenRules));
  RunResult check = d_->cliResult({"rules", "check", broken});
  EXPECT_EQ(check.exit_code, 2) << check.out << check.err;
  EXPECT_NE((check.out + check.err).find("line 7, column"), std::string::npos)
      << check.out << check.err;
  RunResult apply = d_->cliResult({"rules", "apply", broken});
  EXPECT_EQ(apply.exit_code, 2) << apply.out << apply.err;
  EXPECT_NE((apply.out + apply.err).find("line 7, column"), std::string::npos)
      << apply.out << apply.err;
  RunResult shown_after = d_->cliResult({"rules", "show", "--json"});
  EXPECT_EQ(jsonString(shown_after.out, "version"), version) << shown_after.out;
  RunResult text = d_->cliResult({"rules", "show"});
  EXPECT_NE(text.out.find("cryptominer-kill"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("obliterate"), std::string::npos) << text.out;

  // Nothing was dispatched, and every refusal is in the log.
  EXPECT_EQ(actionCount(), actions_before);
  std::vector<std::string> refusals;
  for (const Json& e : entriesSince(log_from, "refusal")) {
    refusals.push_back(e.value("summary", ""));
  }
  const std::string all = absl::StrJoin(refusals, "\n");
  for (const char* expected :
       {"(401): the credential names no alert source", "(401): no credential",
        "(400): json body does not parse", "(400): alertmanager body does not parse", "(413)"}) {
    bool found = false;
    for (const auto& s : refusals) {
      found =
          found || (absl::StrContains(s, "alert intake refused") && absl::StrContains(s, expected));
    }
    EXPECT_TRUE(found) << "no refusal entry with '" << expected << "' in:\n" << all;
  }
  // The two alerts naming no host were decided, and the decisions logged.
  int unknown = 0;
  for (const Json& e : entriesSince(log_from, "decision")) {
    unknown += absl::StrContains(e.value("summary", ""), "names no enrolled host");
  }
  EXPECT_EQ(unknown, 2);
}

// Killed once an alert's decision is stored but before its entries are durable: the sender
// never got its 200, and the restarted controller drops the stored row, so the sender's retry
// is decided afresh rather than as a duplicate of something the log never held.
TEST_F(AlertIntakeTest, KilledBeforeTheAlertIsLoggedTheRetryIsDecidedAfresh) {
  const std::string body =
      R"([{"labels":{"alertname":"CryptoMiner","hostname":"host-97","user":"mallory",)"
      R"("case":"killed-before-log"}}])";
  ASSERT_TRUE(d_->restartController({"WARDEN_FAULT_INJECT=exit-before-log:alerts"}).ok())
      << d_->controllerLog();
  Posted lost = post("/v1/alerts/json", body, bearer(token_));
  EXPECT_NE(lost.code, "200") << lost;
  auto ended = d_->waitControllerExit();
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(ended->exit_code, 70);

  ASSERT_TRUE(d_->restartController().ok()) << d_->controllerLog();
  Posted retry = post("/v1/alerts/json", body, bearer(token_));
  ASSERT_EQ(retry.code, "200") << retry;
  ASSERT_TRUE(retry.json.contains("alerts") && retry.json["alerts"].size() == 1) << retry;
  EXPECT_EQ(retry.json["alerts"][0].value("reason", ""), "unknown-host") << retry.body;
  int stored = 0;
  for (const Json& a : alerts()) stored += absl::StrContains(a.dump(), "killed-before-log");
  EXPECT_EQ(stored, 1) << "only the alert that reached the log is stored";
  // Sent once more, it is now a duplicate of the logged one.
  Posted again = post("/v1/alerts/json", body, bearer(token_));
  ASSERT_EQ(again.code, "200") << again;
  ASSERT_TRUE(again.json.contains("alerts") && again.json["alerts"].size() == 1) << again;
  EXPECT_EQ(again.json["alerts"][0].value("reason", ""), "deduplicated") << again.body;
}

// Last: everything the tests above did verifies offline against the published log key.
TEST_F(AlertIntakeTest, ZzExportedLogVerifiesOffline) {
  const std::string file = work_ + "/log.export";
  RunResult exported = d_->cliResult({"audit", "export", "--out", file});
  ASSERT_EQ(exported.exit_code, 0) << exported.out << exported.err;
  RunResult verified =
      d_->cliResult({"audit", "verify", file, "--vkey", d_->dataDir() + "/log.vkey"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

}  // namespace
}  // namespace warden::testing
