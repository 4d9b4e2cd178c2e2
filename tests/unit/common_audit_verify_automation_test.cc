// `warden audit verify` on automation (DESIGN.md "Automation", "Provable"): every automated
// dispatch follows from a logged alert, an applied rules version that matches it, and guardrails
// that allowed it. Logs are built in memory the way controller/alerts/automation.cc writes them
// (ALERT -> DECISION -> automated REQUEST signed by the automation key -> DISPATCH -> RECEIPT),
// after the standard log (tests/unit/standard_audit_log.h), exported and verified with the real
// verifier; a dishonest controller's variants must fail at the first bad entry, naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/alerts/decide.h"
#include "common/alerts/rules.h"
#include "common/audit/automation_record.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "tests/unit/standard_audit_log.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The controller's automation key (made at init, logged as a key event).
const crypto::Ed25519Key& automationKey() {
  static const crypto::Ed25519Key* k = new crypto::Ed25519Key(newKey());
  return *k;
}

constexpr char kSource[] = "prometheus-prod";
constexpr char kReceiver[] = "warden";

// DESIGN.md's example rule, plus a dry-run rule for warnings; `guardrails` are YAML lines
// (2 spaces of indent) of the guardrails map.
std::string rulesYaml(const std::string& guardrails = "") {
  std::string y = R"(rules:
  - name: ssh-bruteforce
    format: alertmanager
    senders: [prometheus-prod]
    match:
      - alertname="SSHBruteForce"
      - severity=~"critical|page"
    host_from: [hostname, instance]
    action: isolate
    with: {allow: ["198.51.100.7:22"]}
    mode: enforce
  - name: collect-on-warning
    match: ['severity="warning"']
    host_from: [hostname, instance]
    action: collect
)";
  if (!guardrails.empty()) y += "guardrails:\n" + guardrails;
  return y;
}

std::map<std::string, std::string> sshLabels(const std::string& host) {
  return {{"alertname", "SSHBruteForce"},
          {"severity", "critical"},
          {"hostname", host + ".example.org"},
          {"instance", host + ":9100"}};
}

// The guardrails' past as the controller's store keeps it, for decide() here.
class History final : public AutomationHistory {
 public:
  bool decidedSince(const std::string& key, std::int64_t since) override {
    auto it = decided_.find(key);
    return it != decided_.end() && it->second >= since;
  }
  std::uint32_t actedSince(const std::string& action, std::int64_t since) override {
    std::uint32_t n = 0;
    for (const auto& [a, t] : acted_) n += a == action && t >= since;
    return n;
  }
  std::optional<std::int64_t> lastContainmentChange(const std::string& host) override {
    auto it = changed_.find(host);
    if (it == changed_.end()) return std::nullopt;
    return it->second;
  }
  bool breakerOpen() override { return false; }

  void remember(const DecisionRecord& d, std::int64_t at) {
    decided_[d.dedupe_key] = at;
    if (d.outcome == decision::kActed) {
      acted_.emplace_back(d.action, at);
      changed_[d.host] = at;
    }
  }

 private:
  std::map<std::string, std::int64_t> decided_;
  std::vector<std::pair<std::string, std::int64_t>> acted_;
  std::map<std::string, std::int64_t> changed_;
};

// The registry's enrolled hosts, by id.
class Enrolled final : public HostDirectory {
 public:
  std::vector<std::string> hostsNamed(const std::string& value) override {
    if (value == "host-1" || value == "host-2") return {value};
    return {};
  }
};

// Entry indices of one alert's chain; npos where there is none.
struct Chain {
  static constexpr std::uint64_t npos = ~std::uint64_t{0};
  std::uint64_t alert = npos, decision = npos, request = npos, dispatch = npos, receipt = npos;
  AlertRecord alert_record;
  DecisionRecord decision_record;
};

// Writes automation's entries into a LogBuilder as controller/alerts/automation.cc does.
class AutomationWriter {
 public:
  explicit AutomationWriter(LogBuilder& b) : b_(b) {}

  std::uint64_t key(const crypto::Ed25519Key& k = automationKey()) {
    return b_.key("automation", k.publicKey());
  }

  // An operator's signed apply-rules request; an admin's is the version in force from here on.
  std::uint64_t applyRules(const std::string& yaml, const std::string& id,
                           const std::string& name = "alice",
                           const crypto::Ed25519Key& signer = keys().alice) {
    Request q;
    q.id = id;
    q.operator_name = name;
    q.kind = kApplyRulesKind;
    q.args = {"rules=" + yaml};
    q.reason = "automation for INC-4711";
    const std::uint64_t index = b_.request(signer, q);
    if (auto parsed = parseRules(yaml); name == "alice" && parsed.ok()) {
      rules_ = *parsed;
      version_ = id;
    }
    return index;
  }

  // An alert as the intake records it: received now, by the next entry's time at the latest.
  AlertRecord alert(const std::string& id, const std::map<std::string, std::string>& labels,
                    const std::string& fingerprint) {
    AlertRecord a;
    a.id = id;
    a.source = kSource;
    a.format = "alertmanager";
    a.receiver = kReceiver;
    a.fingerprint = fingerprint;
    a.status = "firing";
    a.starts_unix_ms = b_.now_ - 60'000;
    for (const auto& [k, v] : labels) a.labels.push_back(k + "=" + v);
    a.payload_sha256 = crypto::hex(crypto::sha256("payload of " + id));
    a.received_unix_ms = b_.now_;
    return a;
  }

  std::uint64_t logAlert(const AlertRecord& a) {
    return b_.add(
        makeEntry(entry_type::kAlert, "source:" + a.source, "", a.id, encodeAlertRecord(a)));
  }

  // What decide() makes of the alert, with the rules in force and the history so far; an acted
  // decision names its automated request.
  DecisionRecord decisionFor(const AlertRecord& r, const std::string& id) {
    Alert a;
    a.resolved = r.status == "resolved";
    a.fingerprint = r.fingerprint;
    a.starts_unix_ms = r.starts_unix_ms;
    for (const auto& l : r.labels) a.labels[l.substr(0, l.find('='))] = l.substr(l.find('=') + 1);
    AlertContext ctx{r.source, AlertFormat::kAlertmanager, r.receiver, r.received_unix_ms, 1};
    Enrolled hosts;
    const Decision got = decide(version_.empty() ? nullptr : &rules_, a, ctx, history_, hosts);
    DecisionRecord d;
    d.id = id;
    d.alert_id = r.id;
    d.rules_version = version_;
    d.rule = got.rule;
    d.host = got.host;
    d.via = got.via;
    d.outcome = got.outcome;
    d.reason = got.reason;
    d.action = got.action;
    d.allow = got.allow;
    d.addresses = got.addresses;
    d.args = got.args;
    d.dedupe_key = got.dedupe_key;
    d.group_hosts = 1;
    if (d.outcome == decision::kActed) d.request_id = "r-" + id.substr(2);
    return d;
  }

  std::uint64_t logDecision(const DecisionRecord& d, std::int64_t received_ms) {
    history_.remember(d, received_ms);
    return b_.add(makeEntry(entry_type::kDecision, "controller", d.host, d.alert_id,
                            encodeDecisionRecord(d), "", "decided"));
  }

  // The automated request an acted decision makes.
  static Request requestFor(const DecisionRecord& d) {
    Request q;
    q.id = d.request_id;
    q.operator_name = kAutomationName;
    q.kind = d.action;
    q.hosts = {d.host};
    q.allow = d.allow;
    q.addresses = d.addresses;
    q.args = d.args;
    q.reason = automatedReason(d.alert_id, d.id);
    return q;
  }

  std::uint64_t logAutomated(Request q, const crypto::Ed25519Key& signer = automationKey()) {
    q.issued_unix_ms = b_.now_;
    const std::string body = encodeRequest(q);
    return b_.add(
        makeEntry(entry_type::kRequest, kAutomationName, "", q.id, body, mustSign(signer, body)));
  }

  // The command the controller dispatches for an automated request, signed by its command key.
  Command commandFor(const Request& q, const std::string& id) {
    Command c;
    c.id = id;
    c.host_id = q.hosts.front();
    c.kind = q.kind;
    c.issued_unix_ms = b_.now_;
    c.expires_unix_ms = b_.now_ + 60'000;
    c.requested_by = kAutomationName;
    c.reason = q.reason;
    c.allow = q.allow;
    c.addresses = q.addresses;
    c.args = q.args;
    return c;
  }

  // The whole honest chain for one alert: ALERT, DECISION and, when acted, the automated
  // REQUEST, its DISPATCH and the agent's RECEIPT. `n` numbers the ids.
  Chain chain(int n, const std::map<std::string, std::string>& labels,
              const std::string& fingerprint = "") {
    Chain c;
    c.alert_record = alert(absl::StrFormat("al-%016x", n), labels,
                           fingerprint.empty() ? absl::StrFormat("fp-%d", n) : fingerprint);
    c.alert = logAlert(c.alert_record);
    c.decision_record = decisionFor(c.alert_record, absl::StrFormat("d-%016x", n));
    c.decision = logDecision(c.decision_record, c.alert_record.received_unix_ms);
    if (c.decision_record.outcome != decision::kActed) return c;
    const Request q = requestFor(c.decision_record);
    c.request = logAutomated(q);
    const Command cmd = commandFor(q, absl::StrFormat("a-00000000000a%04x", n));
    c.dispatch = b_.dispatch(cmd, q.id);
    const std::string& host = c.decision_record.host;
    c.receipt =
        b_.receipt(cmd.id, host, cmd.kind, host == "host-1" ? keys().host1_renewed : keys().host2);
    return c;
  }

  const std::string& version() const { return version_; }
  History& history() { return history_; }

 private:
  LogBuilder& b_;
  RuleSet rules_;
  std::string version_;
  History history_;
};

constexpr char kRulesV1[] = "r-a11e500000000001";
constexpr char kRulesV2[] = "r-a11e500000000002";

class AutomationVerifyTest : public ::testing::Test {
 protected:
  // The standard log (entries 0..27), then the automation key and an admin's rules.
  void SetUp() override {
    standardLog(b_);
    w_.key();                                         // 28
    w_.applyRules(rulesYaml(guardrails_), kRulesV1);  // 29
  }

  AuditReport verifyLog() {
    b_.checkpoint();
    EXPECT_TRUE(b_.write(path_).ok());
    return verify(path_);
  }

  // The verifier fails at `index` with `error` in its message.
  void expectBadAt(std::uint64_t index, const std::string& error) {
    const AuditReport r = verifyLog();
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(index)) << r.error;
    EXPECT_THAT(r.error, HasSubstr(error));
  }

  std::string guardrails_;
  TempDir dir_;
  std::string path_ = dir_.file("automation.export");
  LogBuilder b_{keys()};
  AutomationWriter w_{b_};
};

// ---- what verifies ------------------------------------------------------------------------

TEST_F(AutomationVerifyTest, HonestAutomatedChainVerifies) {
  const Chain acted = w_.chain(1, sshLabels("host-2"));
  ASSERT_EQ(acted.decision_record.outcome, decision::kActed);
  ASSERT_NE(acted.receipt, Chain::npos);
  EXPECT_EQ(acted.decision_record.rule, "ssh-bruteforce");
  EXPECT_EQ(acted.decision_record.host, "host-2");
  // Every alert gets a decision, acting or not: a warning in a dry-run rule, an alert no rule
  // matches.
  const Chain dry = w_.chain(2, {{"severity", "warning"}, {"hostname", "host-1"}});
  EXPECT_EQ(dry.decision_record.outcome, decision::kDryRun);
  const Chain none = w_.chain(3, {{"alertname", "DiskFull"}, {"hostname", "host-1"}});
  EXPECT_EQ(none.decision_record.reason, reason::kNoRule);
  const AuditReport r = verifyLog();
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.entries_by_type.at("alert"), 3u);
  EXPECT_EQ(r.entries_by_type.at("decision"), 3u);
  EXPECT_EQ(r.tree_size, b_.size());
}

TEST_F(AutomationVerifyTest, BudgetAllowsAsManyActedIsolationsAsItSays) {
  // Default budget: three isolations per ten minutes, two hosts here.
  EXPECT_EQ(w_.chain(1, sshLabels("host-1")).decision_record.outcome, decision::kActed);
  EXPECT_EQ(w_.chain(2, sshLabels("host-2")).decision_record.outcome, decision::kActed);
  const AuditReport r = verifyLog();
  EXPECT_TRUE(r.ok) << r.error;
}

TEST_F(AutomationVerifyTest, NewerRulesVersionIsTheOneInForce) {
  w_.chain(1, sshLabels("host-1"));
  w_.applyRules(rulesYaml("  max_isolations: 5\n"), kRulesV2);
  const Chain c = w_.chain(2, sshLabels("host-2"));
  EXPECT_EQ(c.decision_record.rules_version, kRulesV2);
  const AuditReport r = verifyLog();
  EXPECT_TRUE(r.ok) << r.error;
}

// ---- a dishonest controller ---------------------------------------------------------------

TEST_F(AutomationVerifyTest, AutomatedRequestWithoutAlertOrDecisionFails) {
  Request q;
  q.id = "r-00000000000000f1";
  q.operator_name = kAutomationName;
  q.kind = "isolate";
  q.hosts = {"host-2"};
  q.allow = {"198.51.100.7:22"};
  q.reason = automatedReason("al-00000000000000f1", "d-00000000000000f1");
  const std::uint64_t bad = w_.logAutomated(q);
  b_.dispatch(w_.commandFor(q, "a-00000000000000f1"), q.id);
  expectBadAt(bad,
              "automated request r-00000000000000f1 follows from no logged decision (an acted "
              "decision about a logged alert, or an operator's approval of one, must come first)");
}

TEST_F(AutomationVerifyTest, AutomatedRequestWithAlertButNoDecisionFails) {
  const AlertRecord a = w_.alert("al-00000000000000f2", sshLabels("host-2"), "fp-f2");
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-00000000000000f2");  // decided, never logged
  ASSERT_EQ(d.outcome, decision::kActed);
  const std::uint64_t bad = w_.logAutomated(AutomationWriter::requestFor(d));
  expectBadAt(bad, "follows from no logged decision");
}

TEST_F(AutomationVerifyTest, AutomatedRequestBeforeTheAutomationKeyFails) {
  LogBuilder b(keys());
  standardLog(b);
  AutomationWriter w(b);
  Request q;
  q.id = "r-00000000000000f3";
  q.operator_name = kAutomationName;
  q.kind = "collect";
  q.hosts = {"host-2"};
  q.reason = automatedReason("al-00000000000000f3", "d-00000000000000f3");
  const std::uint64_t bad = w.logAutomated(q);
  b.checkpoint();
  ASSERT_TRUE(b.write(path_).ok());
  const AuditReport r = verify(path_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(bad));
  EXPECT_THAT(r.error, HasSubstr("no automation key is logged before it"));
}

TEST_F(AutomationVerifyTest, DecisionUnderARulesVersionNeverAppliedFails) {
  const AlertRecord a = w_.alert("al-00000000000000f4", sshLabels("host-2"), "fp-f4");
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-00000000000000f4");
  d.rules_version = "r-00000000000bad00";
  const std::uint64_t bad = w_.logDecision(d, a.received_unix_ms);
  w_.logAutomated(AutomationWriter::requestFor(d));
  expectBadAt(bad, absl::StrFormat("decided under rules version 'r-00000000000bad00', but %s was "
                                   "in force",
                                   kRulesV1));
}

TEST_F(AutomationVerifyTest, DecisionUnderASupersededRulesVersionFails) {
  w_.applyRules(rulesYaml("  max_isolations: 5\n"), kRulesV2);
  const AlertRecord a = w_.alert("al-00000000000000f5", sshLabels("host-2"), "fp-f5");
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-00000000000000f5");
  d.rules_version = kRulesV1;  // applied, but no longer in force
  const std::uint64_t bad = w_.logDecision(d, a.received_unix_ms);
  expectBadAt(bad, absl::StrFormat("decided under rules version '%s', but %s was in force",
                                   kRulesV1, kRulesV2));
}

TEST_F(AutomationVerifyTest, DecisionWhenNoRulesWereAppliedFails) {
  LogBuilder b(keys());
  standardLog(b);
  AutomationWriter w(b);
  w.key();
  const AlertRecord a = w.alert("al-00000000000000f6", sshLabels("host-2"), "fp-f6");
  w.logAlert(a);
  DecisionRecord d = w.decisionFor(a, "d-00000000000000f6");
  EXPECT_EQ(d.reason, reason::kNoRule);  // honest: nothing applied, nothing matches
  d.rules_version = kRulesV1;
  const std::uint64_t bad = w.logDecision(d, a.received_unix_ms);
  b.checkpoint();
  ASSERT_TRUE(b.write(path_).ok());
  const AuditReport r = verify(path_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(bad));
  EXPECT_THAT(r.error,
              HasSubstr(absl::StrFormat(
                  "decided under rules version '%s', but no rules were applied", kRulesV1)));
}

// Rules the controller would have refused (they do not parse) are no version a decision can
// name.
TEST_F(AutomationVerifyTest, RulesThatDoNotParseAreNoVersion) {
  const std::uint64_t bad = w_.applyRules("rules:\n  - name: BAD NAME\n", kRulesV2, "alice");
  expectBadAt(bad, "its rules do not parse");
}

class AutomationBudgetTest : public AutomationVerifyTest {
 protected:
  void SetUp() override {
    guardrails_ = "  max_isolations: 1\n";
    AutomationVerifyTest::SetUp();
  }
};

TEST_F(AutomationBudgetTest, ActedPastTheBudgetFails) {
  EXPECT_EQ(w_.chain(1, sshLabels("host-1")).decision_record.outcome, decision::kActed);
  const AlertRecord a = w_.alert("al-0000000000000002", sshLabels("host-2"), "fp-2");
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-0000000000000002");
  ASSERT_EQ(d.reason, reason::kBudgetExhausted);  // what the guardrails say
  // The controller claims it acted anyway.
  d.outcome = decision::kActed;
  d.reason = reason::kRuleMatched;
  d.request_id = "r-0000000000000002";
  const std::uint64_t bad = w_.logDecision(d, a.received_unix_ms);
  const Request q = AutomationWriter::requestFor(d);
  w_.logAutomated(q);
  b_.dispatch(w_.commandFor(q, "a-0000000000000f02"), q.id);
  expectBadAt(bad,
              "decided acted (rule-matched) on host-2 by rule 'ssh-bruteforce', but alert "
              "al-0000000000000002, rules version r-a11e500000000001 and the guardrails in "
              "force give pending-approval (budget-exhausted) on host-2 by rule "
              "'ssh-bruteforce'");
}

TEST_F(AutomationBudgetTest, PendingApprovalPastTheBudgetVerifies) {
  w_.chain(1, sshLabels("host-1"));
  const Chain c = w_.chain(2, sshLabels("host-2"));
  EXPECT_EQ(c.decision_record.outcome, decision::kPendingApproval);
  EXPECT_EQ(c.request, Chain::npos);
  const AuditReport r = verifyLog();
  EXPECT_TRUE(r.ok) << r.error;
}

// The guardrails' window is in alert arrival times, which the controller writes in the ALERT
// record. It takes that time just before logging the ALERT (controller/alerts/automation.cc;
// log_writer.cc logs at max(now, last)), so an arrival after the entry's own logged time is
// one no honest controller writes. Here the second alert claims to arrive 11 minutes after it
// was logged, which moves the first isolation out of the 10-minute window: the budget of one
// is spent twice within two seconds of log time.
TEST_F(AutomationBudgetTest, AlertArrivingAfterItWasLoggedFails) {
  w_.chain(1, sshLabels("host-1"));
  AlertRecord a = w_.alert("al-0000000000000002", sshLabels("host-2"), "fp-2");
  a.received_unix_ms += 11 * 60'000;
  a.starts_unix_ms = a.received_unix_ms - 60'000;
  const std::uint64_t alert = w_.logAlert(a);
  const DecisionRecord d = w_.decisionFor(a, "d-0000000000000002");
  ASSERT_EQ(d.outcome, decision::kActed);  // what the forged time buys
  const std::uint64_t decided = w_.logDecision(d, a.received_unix_ms);
  const Request q = AutomationWriter::requestFor(d);
  w_.logAutomated(q);
  b_.dispatch(w_.commandFor(q, "a-0000000000000f02"), q.id);
  const AuditReport r = verifyLog();
  EXPECT_FALSE(r.ok)
      << "two automated isolations about a second apart verified under max_isolations: 1";
  EXPECT_GE(r.bad_index, static_cast<std::int64_t>(alert));
  EXPECT_LE(r.bad_index, static_cast<std::int64_t>(decided));
}

TEST_F(AutomationVerifyTest, ActedOnADuplicateFails) {
  w_.chain(1, sshLabels("host-1"), "fp-same");
  const AlertRecord a = w_.alert("al-0000000000000002", sshLabels("host-1"), "fp-same");
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-0000000000000002");
  ASSERT_EQ(d.reason, reason::kDeduplicated);
  d.outcome = decision::kActed;
  d.reason = reason::kRuleMatched;
  d.rule = "ssh-bruteforce";
  d.host = "host-1";
  d.action = "isolate";
  d.allow = {"198.51.100.7:22"};
  d.request_id = "r-0000000000000002";
  const std::uint64_t bad = w_.logDecision(d, a.received_unix_ms);
  expectBadAt(bad, "give no-action (deduplicated)");
}

TEST_F(AutomationVerifyTest, ActedWithinTheCooldownOfAnOperatorsReleaseFails) {
  const Keys& k = keys();
  b_.request("alice", k.alice, "r-00000000000e1ea5", "release", {"host-2"});
  b_.dispatch(b_.command("a-00000000000e1ea5", "host-2", "release", "alice"), "r-00000000000e1ea5");
  const AlertRecord a = w_.alert("al-0000000000000001", sshLabels("host-2"), "fp-1");
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-0000000000000001");
  ASSERT_EQ(d.outcome, decision::kActed);  // this test's history knows no release
  d.request_id = "r-0000000000000001";
  const std::uint64_t bad = w_.logDecision(d, a.received_unix_ms);
  expectBadAt(bad, "give no-action (cooldown) on host-2");
}

TEST_F(AutomationVerifyTest, GroupHostsUnderstatedFails) {
  // One payload naming both hosts, each decision claiming its group named one host.
  AlertRecord a1 = w_.alert("al-0000000000000001", sshLabels("host-1"), "fp-1");
  AlertRecord a2 = w_.alert("al-0000000000000002", sshLabels("host-2"), "fp-2");
  a2.payload_sha256 = a1.payload_sha256;
  a2.received_unix_ms = a1.received_unix_ms;
  w_.logAlert(a1);
  w_.logAlert(a2);
  const DecisionRecord d1 = w_.decisionFor(a1, "d-0000000000000001");
  w_.logDecision(d1, a1.received_unix_ms);
  const DecisionRecord d2 = w_.decisionFor(a2, "d-0000000000000002");
  ASSERT_EQ(d2.outcome, decision::kActed);
  const std::uint64_t bad = w_.logDecision(d2, a2.received_unix_ms);
  expectBadAt(bad, "its alert group names at least 2 hosts, not 1");
}

TEST_F(AutomationVerifyTest, DecisionForAnAlertTheRuleDoesNotMatchFails) {
  const AlertRecord a = w_.alert(
      "al-00000000000000f7",
      {{"alertname", "SSHBruteForce"}, {"severity", "info"}, {"hostname", "host-2.example.org"}},
      "fp-f7");
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-00000000000000f7");
  ASSERT_EQ(d.reason, reason::kNoRule);
  // As if the rule had matched.
  d.rule = "ssh-bruteforce";
  d.host = "host-2";
  d.via = "host-2";
  d.outcome = decision::kActed;
  d.reason = reason::kRuleMatched;
  d.action = "isolate";
  d.allow = {"198.51.100.7:22"};
  d.request_id = "r-00000000000000f7";
  const std::uint64_t bad = w_.logDecision(d, a.received_unix_ms);
  const Request q = AutomationWriter::requestFor(d);
  w_.logAutomated(q);
  b_.dispatch(w_.commandFor(q, "a-00000000000000f7"), q.id);
  expectBadAt(bad,
              "decided acted (rule-matched) on host-2 by rule 'ssh-bruteforce', but alert "
              "al-00000000000000f7");
  const AuditReport r = verify(path_);
  EXPECT_THAT(r.error, HasSubstr("give no-action (no-rule) by rule ''"));
}

TEST_F(AutomationVerifyTest, DecisionFromAnotherSenderThanTheRuleTakesFails) {
  AlertRecord a = w_.alert("al-00000000000000f8", sshLabels("host-2"), "fp-f8");
  a.source = "prometheus-staging";  // the rule takes prometheus-prod only
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-00000000000000f8");
  ASSERT_EQ(d.reason, reason::kNoRule);
  a.source = kSource;
  DecisionRecord forged = w_.decisionFor(a, "d-00000000000000f8");
  ASSERT_EQ(forged.outcome, decision::kActed);
  const std::uint64_t bad = w_.logDecision(forged, a.received_unix_ms);
  expectBadAt(bad, "give no-action (no-rule)");
}

TEST_F(AutomationVerifyTest, ApplyRulesByAResponderFails) {
  const std::uint64_t bad = w_.applyRules(rulesYaml(), kRulesV2, "bob", keys().bob);
  expectBadAt(bad, "operator bob (role responder) may not apply rules");
}

TEST_F(AutomationVerifyTest, ApplyRulesByAnAuditorFails) {
  const std::uint64_t bad = w_.applyRules(rulesYaml(), kRulesV2, "carol", keys().carol);
  expectBadAt(bad, "operator carol (role auditor) may not apply rules");
}

TEST_F(AutomationVerifyTest, AutomatedRequestSignedByAnotherKeyFails) {
  for (const crypto::Ed25519Key* signer : {&keys().stranger, &keys().command, &keys().alice}) {
    LogBuilder b(keys());
    standardLog(b);
    AutomationWriter w(b);
    w.key();
    w.applyRules(rulesYaml(), kRulesV1);
    const AlertRecord a = w.alert("al-00000000000000f9", sshLabels("host-2"), "fp-f9");
    w.logAlert(a);
    const DecisionRecord d = w.decisionFor(a, "d-00000000000000f9");
    w.logDecision(d, a.received_unix_ms);
    const Request q = AutomationWriter::requestFor(d);
    const std::uint64_t bad = w.logAutomated(q, *signer);
    b.dispatch(w.commandFor(q, "a-00000000000000f9"), q.id);
    b.checkpoint();
    ASSERT_TRUE(b.write(path_).ok());
    const AuditReport r = verify(path_);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(bad));
    EXPECT_THAT(r.error, HasSubstr("signature does not verify under the controller's automation "
                                   "key"));
  }
}

TEST_F(AutomationVerifyTest, AutomatedRequestForAnotherHostFails) {
  const AlertRecord a = w_.alert("al-00000000000000fa", sshLabels("host-2"), "fp-fa");
  w_.logAlert(a);
  const DecisionRecord d = w_.decisionFor(a, "d-00000000000000fa");
  ASSERT_EQ(d.host, "host-2");
  w_.logDecision(d, a.received_unix_ms);
  Request q = AutomationWriter::requestFor(d);
  q.hosts = {"host-1"};
  const std::uint64_t bad = w_.logAutomated(q);
  b_.dispatch(w_.commandFor(q, "a-00000000000000fa"), q.id);
  expectBadAt(bad, absl::StrFormat("automated request %s asks for other than decision "
                                   "d-00000000000000fa decided (isolate on host-2)",
                                   d.request_id));
}

TEST_F(AutomationVerifyTest, AutomatedRequestWithAnotherAllowListFails) {
  const AlertRecord a = w_.alert("al-00000000000000fb", sshLabels("host-2"), "fp-fb");
  w_.logAlert(a);
  const DecisionRecord d = w_.decisionFor(a, "d-00000000000000fb");
  w_.logDecision(d, a.received_unix_ms);
  Request q = AutomationWriter::requestFor(d);
  q.allow.push_back("0.0.0.0/0");
  const std::uint64_t bad = w_.logAutomated(q);
  expectBadAt(bad, "asks for other than decision d-00000000000000fb decided");
}

TEST_F(AutomationVerifyTest, AutomatedRequestNotNamingItsAlertAndDecisionFails) {
  const AlertRecord a = w_.alert("al-00000000000000fc", sshLabels("host-2"), "fp-fc");
  w_.logAlert(a);
  const DecisionRecord d = w_.decisionFor(a, "d-00000000000000fc");
  w_.logDecision(d, a.received_unix_ms);
  Request q = AutomationWriter::requestFor(d);
  q.reason = "INC-4711: isolate now";
  const std::uint64_t bad = w_.logAutomated(q);
  expectBadAt(bad,
              "does not name its alert and decision (al-00000000000000fc, "
              "d-00000000000000fc)");
}

TEST_F(AutomationVerifyTest, DispatchRequestedByAnotherThanAutomationFails) {
  const AlertRecord a = w_.alert("al-00000000000000fd", sshLabels("host-2"), "fp-fd");
  w_.logAlert(a);
  const DecisionRecord d = w_.decisionFor(a, "d-00000000000000fd");
  w_.logDecision(d, a.received_unix_ms);
  const Request q = AutomationWriter::requestFor(d);
  w_.logAutomated(q);
  Command c = w_.commandFor(q, "a-00000000000000fd");
  c.requested_by = "alice";
  const std::uint64_t bad = b_.dispatch(c, q.id);
  expectBadAt(bad, absl::StrFormat("command says requested by 'alice', but request %s is "
                                   "automation's",
                                   q.id));
}

TEST_F(AutomationVerifyTest, ForgedExportNamesTheEntry) {
  const AlertRecord a = w_.alert("al-00000000000000fe", sshLabels("host-2"), "fp-fe");
  w_.logAlert(a);
  const DecisionRecord d = w_.decisionFor(a, "d-00000000000000fe");
  w_.logDecision(d, a.received_unix_ms);
  Request q = AutomationWriter::requestFor(d);
  q.hosts = {"host-1"};
  const std::uint64_t bad = w_.logAutomated(q);
  const AuditReport r = verifyLog();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(bad));
  EXPECT_GT(r.bad_line, 0u);
  // "entry 34 (request by automation, request r-...): automated request r-... asks for ..."
  EXPECT_THAT(r.error, StartsWith(absl::StrFormat(
                           "entry %d (request by automation, request %s): ", bad, q.id)));
}

TEST_F(AutomationVerifyTest, ForgedDecisionNamesItsEntryAlertAndHost) {
  const AlertRecord a = w_.alert("al-00000000000000ff", sshLabels("host-2"), "fp-ff");
  w_.logAlert(a);
  DecisionRecord d = w_.decisionFor(a, "d-00000000000000ff");
  d.rules_version = "r-00000000000bad00";
  const std::uint64_t bad = w_.logDecision(d, a.received_unix_ms);
  const AuditReport r = verifyLog();
  EXPECT_THAT(
      r.error,
      StartsWith(absl::StrFormat(
          "entry %d (decision by controller, alert al-00000000000000ff, host host-2): ", bad)));
}

// An alias (the host label warden.alias, common/alerts/decide.h HostDirectory) naming two hosts
// is an honest `ambiguous-host` decision that acts on nothing. The log holds no aliases, so the
// verifier cannot re-derive it; it takes aliases "as the decision says" for a host it names
// (decision_rule.cc LoggedHosts), but has no such allowance for a decision that names none.
TEST_F(AutomationVerifyTest, HonestAmbiguousHostDecisionVerifies) {
  const AlertRecord a = w_.alert(
      "al-0000000000000a1b",
      {{"alertname", "SSHBruteForce"}, {"severity", "critical"}, {"hostname", "web.example.org"}},
      "fp-ambiguous");
  w_.logAlert(a);
  // What decide() says when "web" is the alias of two enrolled hosts.
  DecisionRecord d;
  d.id = "d-0000000000000a1b";
  d.alert_id = a.id;
  d.rules_version = kRulesV1;
  d.rule = "ssh-bruteforce";
  d.via = "web";
  d.outcome = decision::kNoAction;
  d.reason = reason::kAmbiguousHost;
  d.dedupe_key = dedupeKey(kSource, kReceiver, "fp-ambiguous", false);
  d.group_hosts = 0;
  w_.logDecision(d, a.received_unix_ms);
  const AuditReport r = verifyLog();
  EXPECT_TRUE(r.ok) << r.error;
}

}  // namespace
}  // namespace warden::testing
