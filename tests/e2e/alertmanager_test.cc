// End to end: automated quarantine driven by a real Prometheus Alertmanager (DESIGN.md
// "Automation: quarantine triggered by alerts"). Alertmanager runs in the controller's test
// host and sends its own webhooks (grouping, repeats, resolved notifications, retries while the
// controller restarts) over HTTPS to the alert intake, pinning the controller's CA. Every
// decision is read back from `warden alerts --json`; every containment is proven with packets
// from a peer host that runs no agent.
//
// One deployment serves the whole story, in order:
//   1. an alert for host-42 fires → host-42 isolated by the rule, receipt verified, `acted`;
//   2. Alertmanager repeats the group every 2s → still one isolation, the repeats `deduplicated`;
//   3. a protected host's alert → no action (`protected`), the host untouched;
//   4. an alert group naming three hosts with one isolation left in the budget → one isolated,
//      two `pending-approval` (`budget-exhausted`); an operator approves one (isolated) and
//      rejects the other (untouched, and no longer approvable);
//   5. the controller restarts mid-storm → already-decided alerts stay `deduplicated`, a new
//      host past the budget goes to `pending-approval`, isolations stay;
//   6. host-42's alert resolves → `no-action` (`resolved`), host-42 stays isolated;
//   7. the exported log (alerts, decisions, automated requests) verifies offline.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "tests/support/alertmanager_peer.h"
#include "tests/support/fleet.h"
#include "tests/support/json_lookup.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kSource[] = "alertmanager-e2e";
constexpr char kProtectedHost[] = "host-47";
// The hosts with agents; "peer" (no agent) probes them.
const std::vector<std::string> kAgentHosts = {"host-42", "host-43", "host-44",
                                              "host-45", "host-46", kProtectedHost};
const std::vector<std::string> kStormHosts = {"host-43", "host-44", "host-45"};

// The rules under test: one enforcing rule for the three alert names, a budget of two automated
// isolations in the window (host-42 takes one, the storm the other), groups of up to ten hosts
// allowed, host-47 protected. The storm's alerts carry only `instance`, so host_from's fallback
// and the ":port"/domain cut are exercised with Alertmanager's own labels.
constexpr char kRules[] = R"(rules:
  - name: contain-critical
    format: alertmanager
    senders: [alertmanager-e2e]
    match:
      - alertname=~"SSHBruteForce|LateralMovement|CryptoMiner"
      - severity="critical"
    host_from: [hostname, instance]
    action: isolate
    mode: enforce
guardrails:
  window: 10m
  max_isolations: 2
  max_hosts_per_alert: 10
  cooldown: 30m
  dedupe: 1h
  max_alert_age: 1h
  protected_hosts: [host-47]
)";

// Alertmanager: group by alertname, flush every second; SSHBruteForce's group is repeated every
// 2s (the duplicate deliveries automation must absorb), the others only when they change.
std::string alertmanagerConfig(const std::string& token, const std::string& ca_file) {
  return absl::StrFormat(R"(global:
  resolve_timeout: 5m
route:
  receiver: warden
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['alertname="SSHBruteForce"']
      receiver: warden
      repeat_interval: 2s
receivers:
  - name: warden
    webhook_configs:
      - url: https://198.18.0.1:7444/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: %s
          tls_config:
            ca_file: %s
)",
                         token, ca_file);
}

std::string instanceOf(const std::string& host) { return host + ".example.org:9100"; }

// One row of `warden alerts --json` (operator.proto AlertView).
struct AlertRow {
  std::string id, status, outcome, reason, host, rule, action_id, action_state, decision_id;
  std::string approval;  // pending-approval: "", approved or rejected
  std::map<std::string, std::string> labels;
  std::int64_t received_ms = 0;

  std::string label(const std::string& k) const {
    auto it = labels.find(k);
    return it == labels.end() ? "" : it->second;
  }
  // The alert's name and the instance it is about: what identifies it across repeats.
  bool is(const std::string& alertname, const std::string& host) const {
    return label("alertname") == alertname && label("instance") == instanceOf(host);
  }
  std::string toString() const {
    return absl::StrFormat("%s %s %s %s/%s host=%s action=%s(%s) decision=%s%s at=%d",
                           label("alertname"), label("instance"), status, outcome, reason, host,
                           action_id, action_state, decision_id,
                           approval.empty() ? "" : " " + approval, received_ms);
  }
};
using AlertRows = std::vector<AlertRow>;

std::string field(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Rows about (alertname, host) with `status`, newest first.
AlertRows about(const AlertRows& rows, const std::string& alertname, const std::string& host,
                const std::string& status = "firing") {
  AlertRows out;
  for (const auto& r : rows) {
    if (r.is(alertname, host) && r.status == status) out.push_back(r);
  }
  return out;
}

// The rows that decided something, i.e. not the deduplicated repeats.
AlertRows decisive(const AlertRows& rows) {
  AlertRows out;
  for (const auto& r : rows) {
    if (r.reason != "deduplicated") out.push_back(r);
  }
  return out;
}

std::size_t countIf(const AlertRows& rows, const std::function<bool(const AlertRow&)>& p) {
  return static_cast<std::size_t>(std::count_if(rows.begin(), rows.end(), p));
}

class AlertmanagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    if (auto am = alertmanagerBinary(); !am.ok()) {
      if (privilegesRequired()) {
        GTEST_FAIL() << "WARDEN_REQUIRE_PRIVILEGED=1 but " << am.status();
      }
      GTEST_SKIP() << am.status();
    }
    std::map<std::string, int> hosts = {{"peer", 40}};
    for (const auto& h : kAgentHosts) hosts[h] = std::atoi(h.c_str() + 5);
    auto d = WardenDeployment::create(absl::StrFormat("amq%d", getpid() % 100000), hosts);
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    for (const auto& h : kAgentHosts) {
      ASSERT_TRUE(d_->enroll(h).ok()) << h;
      ASSERT_TRUE(d_->startAgent(h).ok()) << h << ": " << d_->agentLog(h);
      auto server = TcpEchoServer::start(d_->host(h));
      ASSERT_TRUE(server.ok()) << server.status();
      servers_[h] = std::move(*server);
      ASSERT_TRUE(reachable(h)) << h << " should be reachable before any alert";
    }
  }
  void TearDown() override {
    if (am_) {
      EXPECT_TRUE(am_->stop().ok());
    }
    am_.reset();
    servers_.clear();
    d_.reset();
  }

  RunResult warden(const std::vector<std::string>& args) { return d_->cliResult(args); }
  TestHost& peer() { return d_->host("peer"); }

  // A new TCP connection from the peer to the host's echo server, IPv4 and IPv6; isolation
  // must cut both, so a split answer fails the test.
  bool reachable(const std::string& h) {
    TestHost& host = d_->host(h);
    const std::uint16_t port = servers_.at(h)->port();
    const bool v4 = tcpConnect(peer(), host.ipv4(), port, absl::Seconds(1));
    const bool v6 = tcpConnect(peer(), host.ipv6(), port, absl::Seconds(1));
    EXPECT_EQ(v4, v6) << h << ": IPv4 and IPv6 disagree";
    return v4 || v6;
  }

  AlertRows alerts() {
    AlertRows rows;
    auto r = d_->cli({"alerts", "--limit", "1000", "--json"});
    if (!r.ok() || r->exit_code != 0) return rows;
    const Json doc = parseOrNull(r->out);
    if (!doc.is_object() || !doc.contains("alerts") || !doc["alerts"].is_array()) return rows;
    for (const Json& a : doc["alerts"]) {
      AlertRow row;
      row.id = field(a, "id");
      row.status = field(a, "status");
      row.outcome = field(a, "outcome");
      row.reason = field(a, "reason");
      row.host = field(a, "host");
      row.rule = field(a, "rule");
      row.action_id = field(a, "action_id");
      row.action_state = field(a, "action_state");
      row.decision_id = field(a, "decision_id");
      row.approval = field(a, "approval");
      row.received_ms = std::atoll(field(a, "received_unix_ms").c_str());
      if (a.contains("labels") && a["labels"].is_object()) {
        for (const auto& [k, v] : a["labels"].items()) {
          if (v.is_string()) row.labels[k] = v.get<std::string>();
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  // Polls `warden alerts` until `done` holds (at most `timeout`); the last list read either way.
  // A timeout fails the test with what was awaited and what was seen.
  AlertRows waitForAlerts(const std::string& what,
                          const std::function<bool(const AlertRows&)>& done,
                          absl::Duration timeout = absl::Seconds(30)) {
    const absl::Time deadline = absl::Now() + timeout;
    AlertRows rows;
    while (true) {
      rows = alerts();
      if (done(rows)) return rows;
      if (absl::Now() >= deadline) break;
      absl::SleepFor(absl::Milliseconds(250));
    }
    std::vector<std::string> seen;
    for (std::size_t i = 0; i < rows.size() && i < 40; ++i) seen.push_back(rows[i].toString());
    ADD_FAILURE() << "not within " << absl::FormatDuration(timeout) << ": " << what
                  << "\nalerts (newest first):\n  " << absl::StrJoin(seen, "\n  ")
                  << "\ncontroller log (end):\n"
                  << tail(d_->controllerLog()) << "\nalertmanager log (end):\n"
                  << tail(am_ ? am_->log() : "");
    return rows;
  }

  static std::string tail(const std::string& s, std::size_t n = 6000) {
    return s.size() <= n ? s : "..." + s.substr(s.size() - n);
  }

  // `warden actions --host H --json`: the host's actions of `kind` (empty: all).
  std::vector<Json> actionsOf(const std::string& h, const std::string& kind) {
    std::vector<Json> out;
    RunResult r = warden({"actions", "--host", h, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const Json doc = parseOrNull(r.out);
    if (doc.is_object() && doc.contains("actions") && doc["actions"].is_array()) {
      for (const Json& a : doc["actions"]) {
        if (kind.empty() || field(a, "kind") == kind) out.push_back(a);
      }
    }
    return out;
  }
  std::size_t isolations(const std::string& h) { return actionsOf(h, "isolate").size(); }

  std::string containment(const std::string& h) {
    auto j = d_->hostJson(h);
    return j.ok() ? jsonString(*j, "containment") : "";
  }

  // Posts alerts to Alertmanager's API (inside the controller host), as Prometheus would.
  void fire(const std::string& alertname, const std::vector<std::string>& hosts, bool with_hostname,
            absl::Time starts, absl::Time ends = absl::InfinitePast()) {
    std::vector<std::string> items;
    for (const auto& h : hosts) {
      std::map<std::string, std::string> labels = {
          {"alertname", alertname}, {"severity", "critical"}, {"instance", instanceOf(h)}};
      if (with_hostname) labels["hostname"] = h;
      items.push_back(alertmanagerApiAlert(labels, starts, ends));
    }
    const absl::Status posted = am_->post("[" + absl::StrJoin(items, ",") + "]");
    ASSERT_TRUE(posted.ok()) << posted;
  }

  std::unique_ptr<WardenDeployment> d_;
  std::map<std::string, std::unique_ptr<TcpEchoServer>> servers_;
  std::unique_ptr<AlertmanagerPeer> am_;  // destroyed (stopped) before the deployment
};

TEST_F(AlertmanagerTest, AlertsQuarantineHostsWithinGuardrailsAcrossARestart) {
  // ---- The source, the rules, and Alertmanager pointed at the intake. ----------------------
  RunResult source = warden({"alerts", "source", "add", kSource});
  ASSERT_EQ(source.exit_code, 0) << source.out << source.err;
  const std::string token(absl::StripAsciiWhitespace(source.out));
  ASSERT_FALSE(token.empty());
  ASSERT_EQ(token.find_first_of(" \n"), std::string::npos) << "the token alone: " << source.out;

  const std::string rules_file = d_->controllerHost().dir() + "/rules.yml";
  ASSERT_TRUE(d_->controllerHost().writeFile(rules_file, kRules).ok());
  RunResult check = warden({"rules", "check", rules_file});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  RunResult apply = warden({"rules", "apply", rules_file, "--reason", "e2e"});
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  RunResult shown = warden({"rules", "show"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("max_isolations: 2"), std::string::npos) << shown.out;

  auto am = AlertmanagerPeer::start(d_->controllerHost(),
                                    alertmanagerConfig(token, d_->dataDir() + "/ca.pem"));
  ASSERT_TRUE(am.ok()) << am.status();
  am_ = std::move(*am);

  // ---- 1. An alert for host-42 fires: isolated by the rule, the receipt verified. ----------
  const absl::Time ssh_start = absl::Now();
  fire("SSHBruteForce", {"host-42"}, /*with_hostname=*/true, ssh_start);
  AlertRows rows = waitForAlerts("SSHBruteForce host-42 acted and its isolation succeeded",
                                 [](const AlertRows& rs) {
                                   for (const auto& r : about(rs, "SSHBruteForce", "host-42")) {
                                     if (r.outcome == "acted" && r.action_state == "succeeded") {
                                       return true;
                                     }
                                   }
                                   return false;
                                 });
  AlertRows first = decisive(about(rows, "SSHBruteForce", "host-42"));
  ASSERT_EQ(first.size(), 1u);
  const AlertRow acted42 = first.front();
  EXPECT_EQ(acted42.outcome, "acted");
  EXPECT_EQ(acted42.reason, "rule-matched");
  EXPECT_EQ(acted42.host, "host-42");
  EXPECT_EQ(acted42.rule, "contain-critical");
  ASSERT_FALSE(acted42.action_id.empty());
  EXPECT_FALSE(reachable("host-42")) << "host-42 should be isolated";
  EXPECT_FALSE(ping(peer(), d_->host("host-42").ipv4(), absl::Seconds(1)));
  EXPECT_EQ(containment("host-42"), "isolated");
  RunResult action = warden({"action", acted42.action_id, "--json"});
  ASSERT_EQ(action.exit_code, 0) << action.out << action.err;
  {
    const Json a = parseOrNull(action.out);
    EXPECT_EQ(jsonString(a, "state"), "succeeded") << action.out;
    EXPECT_EQ(jsonString(a, "kind"), "isolate") << action.out;
    EXPECT_EQ(jsonString(a, "host_id"), "host-42") << action.out;
    EXPECT_EQ(jsonString(a, "requested_by"), "automation") << action.out;
    EXPECT_EQ(jsonNumber(action.out, "receipt_verified"), "true") << action.out;
  }
  // The human list says the same.
  RunResult table = warden({"alerts"});
  EXPECT_NE(table.out.find("acted"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(acted42.action_id), std::string::npos) << table.out;

  // ---- 2. The group again and again (repeat_interval 2s, and a re-post): one isolation. ----
  fire("SSHBruteForce", {"host-42"}, true, ssh_start);
  rows = waitForAlerts("two repeats of SSHBruteForce host-42 decided deduplicated",
                       [](const AlertRows& rs) {
                         return countIf(about(rs, "SSHBruteForce", "host-42"), [](const auto& r) {
                                  return r.outcome == "no-action" && r.reason == "deduplicated";
                                }) >= 2;
                       });
  AlertRows all42 = about(rows, "SSHBruteForce", "host-42");
  EXPECT_EQ(decisive(all42).size(), 1u);
  EXPECT_EQ(countIf(all42, [](const auto& r) { return r.outcome == "acted"; }), 1u);
  for (const auto& r : all42) {
    if (r.id == acted42.id) continue;
    EXPECT_EQ(r.outcome, "no-action") << r.toString();
    EXPECT_EQ(r.reason, "deduplicated") << r.toString();
    EXPECT_TRUE(r.action_id.empty()) << r.toString();
    EXPECT_LT(acted42.received_ms, r.received_ms) << "newest first: " << r.toString();
  }
  EXPECT_EQ(isolations("host-42"), 1u);

  // ---- 3. A protected host is never touched. ------------------------------------------------
  fire("CryptoMiner", {kProtectedHost}, true, absl::Now());
  rows = waitForAlerts("CryptoMiner host-47 decided", [](const AlertRows& rs) {
    return !about(rs, "CryptoMiner", kProtectedHost).empty();
  });
  {
    AlertRows p = decisive(about(rows, "CryptoMiner", kProtectedHost));
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p.front().outcome, "no-action") << p.front().toString();
    EXPECT_EQ(p.front().reason, "protected") << p.front().toString();
    EXPECT_TRUE(p.front().action_id.empty());
  }
  EXPECT_TRUE(actionsOf(kProtectedHost, "").empty()) << "no action at all on " << kProtectedHost;
  EXPECT_TRUE(reachable(kProtectedHost));

  // ---- 4. A group naming three hosts, one isolation left in the budget. --------------------
  const absl::Time storm_start = absl::Now();
  fire("LateralMovement", kStormHosts, /*with_hostname=*/false, storm_start);
  rows = waitForAlerts(
      "LateralMovement decided for host-43..45 (one acted and succeeded, two pending)",
      [](const AlertRows& rs) {
        int acted = 0, pending = 0;
        for (const auto& h : kStormHosts) {
          for (const auto& r : decisive(about(rs, "LateralMovement", h))) {
            acted += r.outcome == "acted" && r.action_state == "succeeded";
            pending += r.outcome == "pending-approval";
          }
        }
        return acted == 1 && pending == 2;
      });
  std::string storm_acted;
  std::vector<AlertRow> pending;
  for (const auto& h : kStormHosts) {
    AlertRows mine = decisive(about(rows, "LateralMovement", h));
    ASSERT_EQ(mine.size(), 1u) << h;
    const AlertRow& r = mine.front();
    EXPECT_EQ(r.host, h) << "named by instance " << instanceOf(h) << ": " << r.toString();
    if (r.outcome == "acted") {
      storm_acted = h;
      EXPECT_EQ(r.reason, "rule-matched");
      EXPECT_FALSE(reachable(h)) << h << " should be isolated";
      EXPECT_EQ(isolations(h), 1u) << h;
    } else {
      EXPECT_EQ(r.outcome, "pending-approval") << r.toString();
      EXPECT_EQ(r.reason, "budget-exhausted") << r.toString();
      EXPECT_TRUE(r.action_id.empty()) << r.toString();
      EXPECT_TRUE(reachable(h)) << h << " is pending approval, not isolated";
      EXPECT_EQ(isolations(h), 0u) << h;
      pending.push_back(r);
    }
  }
  ASSERT_FALSE(storm_acted.empty());
  ASSERT_EQ(pending.size(), 2u);
  const AlertRow to_approve = pending[0], to_reject = pending[1];
  const std::string approved_host = to_approve.host, rejected_host = to_reject.host;

  // Operators decide the two pending ones (`warden approvals|approve|reject`).
  RunResult approvals = warden({"approvals", "--json"});
  EXPECT_EQ(approvals.exit_code, 0) << approvals.out << approvals.err;
  EXPECT_NE(approvals.out.find(to_approve.decision_id), std::string::npos) << approvals.out;
  EXPECT_NE(approvals.out.find(to_reject.decision_id), std::string::npos) << approvals.out;
  RunResult approve = warden({"approve", to_approve.decision_id});
  EXPECT_EQ(approve.exit_code, 0) << approve.out << approve.err;
  EXPECT_FALSE(reachable(approved_host)) << approved_host << " approved: isolated";
  EXPECT_EQ(isolations(approved_host), 1u);
  EXPECT_EQ(containment(approved_host), "isolated");
  RunResult reject = warden({"reject", to_reject.decision_id});
  EXPECT_EQ(reject.exit_code, 0) << reject.out << reject.err;
  RunResult late = warden({"approve", to_reject.decision_id});
  EXPECT_NE(late.exit_code, 0) << "a rejected decision cannot be approved: " << late.out;
  EXPECT_TRUE(reachable(rejected_host)) << rejected_host << " rejected: untouched";
  EXPECT_EQ(isolations(rejected_host), 0u);
  // Both answered: no longer waiting, and the alerts say how they were settled.
  approvals = warden({"approvals", "--json"});
  EXPECT_EQ(approvals.exit_code, 0) << approvals.out << approvals.err;
  EXPECT_EQ(approvals.out.find(to_approve.decision_id), std::string::npos) << approvals.out;
  EXPECT_EQ(approvals.out.find(to_reject.decision_id), std::string::npos) << approvals.out;
  rows = alerts();
  for (const auto& r : rows) {
    if (r.decision_id == to_approve.decision_id) {
      EXPECT_EQ(r.approval, "approved") << r.toString();
    } else if (r.decision_id == to_reject.decision_id) {
      EXPECT_EQ(r.approval, "rejected") << r.toString();
    }
  }

  // ---- 5. The controller restarts mid-storm. -------------------------------------------------
  ASSERT_TRUE(d_->restartController().ok()) << d_->controllerLog();
  const std::int64_t restarted_ms = absl::ToUnixMillis(absl::Now());
  for (const auto& h : kAgentHosts) {
    ASSERT_TRUE(d_->waitConnected(h, true).ok()) << h;
  }
  // A new host joins the storm's group: Alertmanager sends the whole group again.
  fire("LateralMovement", {"host-46"}, false, absl::Now());
  auto after = [restarted_ms](const AlertRows& rs) {
    AlertRows out;
    for (const auto& r : rs) {
      if (r.received_ms >= restarted_ms) out.push_back(r);
    }
    return out;
  };
  rows = waitForAlerts(
      "after the restart: host-46 decided, the storm's and host-42's repeats deduplicated",
      [&](const AlertRows& rs) {
        const AlertRows since = after(rs);
        if (about(since, "LateralMovement", "host-46").empty()) return false;
        if (about(since, "SSHBruteForce", "host-42").empty()) return false;
        for (const auto& h : kStormHosts) {
          if (about(since, "LateralMovement", h).empty()) return false;
        }
        return true;
      });
  const AlertRows since = after(rows);
  {
    AlertRows r46 = about(rows, "LateralMovement", "host-46");
    ASSERT_FALSE(r46.empty());
    const AlertRow& d46 = r46.back();  // its first decision
    EXPECT_EQ(d46.outcome, "pending-approval") << d46.toString();
    EXPECT_EQ(d46.reason, "budget-exhausted") << d46.toString();
    EXPECT_EQ(d46.host, "host-46") << d46.toString();
    RunResult waiting = warden({"approvals", "--json"});
    EXPECT_EQ(waiting.exit_code, 0) << waiting.out << waiting.err;
    EXPECT_NE(waiting.out.find(d46.decision_id), std::string::npos) << waiting.out;
  }
  for (const auto& h : kStormHosts) {
    for (const auto& r : about(since, "LateralMovement", h)) {
      EXPECT_EQ(r.reason, "deduplicated") << "after the restart: " << r.toString();
      EXPECT_TRUE(r.action_id.empty()) << r.toString();
    }
  }
  for (const auto& r : about(since, "SSHBruteForce", "host-42")) {
    EXPECT_EQ(r.reason, "deduplicated") << "after the restart: " << r.toString();
  }
  EXPECT_TRUE(reachable("host-46")) << "past the budget: not isolated";
  EXPECT_EQ(isolations("host-46"), 0u);
  // What was isolated before the restart still is; nothing was isolated twice.
  for (const auto& h : {std::string("host-42"), storm_acted, approved_host}) {
    EXPECT_FALSE(reachable(h)) << h;
    EXPECT_EQ(isolations(h), 1u) << h;
  }
  EXPECT_TRUE(reachable(rejected_host));
  EXPECT_TRUE(reachable(kProtectedHost));

  // ---- 6. host-42's alert resolves: decided, and the host stays isolated. -------------------
  fire("SSHBruteForce", {"host-42"}, true, ssh_start, absl::Now() - absl::Seconds(1));
  rows = waitForAlerts("SSHBruteForce host-42 resolved and decided", [](const AlertRows& rs) {
    return !about(rs, "SSHBruteForce", "host-42", "resolved").empty();
  });
  {
    AlertRows resolved = decisive(about(rows, "SSHBruteForce", "host-42", "resolved"));
    ASSERT_EQ(resolved.size(), 1u);
    EXPECT_EQ(resolved.front().outcome, "no-action") << resolved.front().toString();
    EXPECT_EQ(resolved.front().reason, "resolved") << resolved.front().toString();
    EXPECT_TRUE(resolved.front().action_id.empty());
  }
  EXPECT_FALSE(reachable("host-42")) << "a resolved alert never releases a host";
  EXPECT_EQ(containment("host-42"), "isolated");
  EXPECT_EQ(isolations("host-42"), 1u);
  EXPECT_TRUE(actionsOf("host-42", "release").empty());

  // Over the whole run: three isolations (host-42, the storm's one, the approved one).
  std::size_t total = 0;
  for (const auto& h : kAgentHosts) total += isolations(h);
  EXPECT_EQ(total, 3u);

  // Alertmanager's side: the intake answered no webhook with an error status (Alertmanager
  // logs "unexpected status code N"; it retries 5xx, which the waits above would hide).
  ASSERT_TRUE(am_->stop().ok());
  auto am_log = readFile(am_->dir() + "/alertmanager.log", 64 << 20);
  ASSERT_TRUE(am_log.ok()) << am_log.status();
  EXPECT_FALSE(absl::StrContains(*am_log, "unexpected status code")) << tail(*am_log);

  // ---- 7. The log with the alerts, decisions and automated requests verifies offline. -------
  const std::string exported = d_->controllerHost().dir() + "/audit.export";
  RunResult exp = warden({"audit", "export", "--out", exported});
  ASSERT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  RunResult verify = warden({"audit", "verify", exported, "--vkey", d_->dataDir() + "/log.vkey"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("verified"), std::string::npos) << verify.out;
}

}  // namespace
}  // namespace warden::testing
