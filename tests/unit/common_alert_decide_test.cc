// common/alerts/decide.h, from DESIGN.md "Automation: quarantine triggered by alerts": every alert
// gets one decision (acted, dry-run, pending-approval or no-action) with one reason code, in a
// fixed order of checks. The history and the host directory are fakes (this is logic); the rules
// are parsed from YAML as an admin writes them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/alerts/decide.h"
#include "common/alerts/rules.h"
#include "common/audit/automation_record.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr std::int64_t kNow = 1'763'700'000'000;
constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 60 * kMinute;

// The guardrails' past as the controller's store would answer it: times are alert arrivals.
class FakeHistory final : public AutomationHistory {
 public:
  bool decidedSince(const std::string& key, std::int64_t since_ms) override {
    auto it = decided.find(key);
    return it != decided.end() && it->second >= since_ms;
  }
  std::uint32_t actedSince(const std::string& action, std::int64_t since_ms) override {
    auto it = acted.find(action);
    if (it == acted.end()) return 0;
    return static_cast<std::uint32_t>(std::count_if(it->second.begin(), it->second.end(),
                                                    [&](std::int64_t t) { return t >= since_ms; }));
  }
  std::optional<std::int64_t> lastContainmentChange(const std::string& host) override {
    auto it = changed.find(host);
    if (it == changed.end()) return std::nullopt;
    return it->second;
  }
  bool breakerOpen() override { return breaker; }

  // What the controller remembers of a decision it made at `at`.
  void remember(const Decision& d, std::int64_t at) {
    decided[d.dedupe_key] = at;
    if (d.outcome == decision::kActed) {
      acted[d.action].push_back(at);
      changed[d.host] = at;
    }
  }

  std::map<std::string, std::int64_t> decided;             // dedupe key -> last decided
  std::map<std::string, std::vector<std::int64_t>> acted;  // action -> acted decisions
  std::map<std::string, std::int64_t> changed;             // host -> last action or release
  bool breaker = false;
};

// Enrolled hosts by id and by their warden.alias label; exact names, no patterns.
class FakeHosts final : public HostDirectory {
 public:
  std::vector<std::string> hostsNamed(const std::string& value) override {
    std::vector<std::string> out;
    for (const auto& [id, alias] : hosts) {
      if (id == value || (!alias.empty() && alias == value)) out.push_back(id);
    }
    return out;
  }
  bool protectedByLabel(const std::string& host) override {
    return protected_by_label.contains(host);
  }

  // host id -> alias ("" for none). web-a and web-b share the alias "web".
  std::map<std::string, std::string> hosts = {
      {"host-1", ""},   {"host-2", ""},   {"host-42", "bastion"}, {"web-a", "web"},
      {"web-b", "web"}, {"10.0.0.5", ""}, {"2001:db8::1", ""},
  };
  std::set<std::string> protected_by_label;
};

RuleSet rulesOf(const std::string& yaml) {
  auto r = parseRules(yaml);
  EXPECT_TRUE(r.ok()) << r.status() << "\n" << yaml;
  return r.ok() ? *r : RuleSet{};
}

// One rule, isolating the host an SSH brute force names, in `mode` ("" for the default), with
// `guardrails` (YAML lines of the guardrails map, 2 spaces of indent) if any.
std::string sshRule(const std::string& mode, const std::string& guardrails = "") {
  std::string y = R"(rules:
  - name: ssh-bruteforce
    match:
      - alertname="SSHBruteForce"
      - severity=~"critical|page"
    host_from: [hostname, instance]
    action: isolate
    with: {allow: ["198.51.100.7:22", "[2001:DB8:0::53]:53"]}
)";
  if (!mode.empty()) y += "    mode: " + mode + "\n";
  if (!guardrails.empty()) y += "guardrails:\n" + guardrails;
  return y;
}

std::string blockRule(const std::string& mode, const std::string& guardrails = "") {
  std::string y = R"(rules:
  - name: block-scanner
    match: ['alertname="PortScan"']
    host_from: [hostname]
    action: block
    with: {address_from: src_ip}
)";
  if (!mode.empty()) y += "    mode: " + mode + "\n";
  if (!guardrails.empty()) y += "guardrails:\n" + guardrails;
  return y;
}

std::string killRule(const std::string& mode) {
  return R"(rules:
  - name: kill-intruder
    match: ['alertname="Intruder"']
    host_from: [hostname]
    action: kill-sessions
    with: {user_from: user}
    mode: )" +
         mode + "\n";
}

Alert sshAlert(const std::string& hostname = "host-42.example.org",
               const std::string& fingerprint = "fp-ssh-1") {
  Alert a;
  a.fingerprint = fingerprint;
  a.starts_unix_ms = kNow - 2 * kMinute;
  a.labels = {{"alertname", "SSHBruteForce"}, {"severity", "critical"}};
  if (!hostname.empty()) a.labels["hostname"] = hostname;
  return a;
}

Alert scanAlert(const std::string& src_ip, const std::string& hostname = "host-42",
                const std::string& fingerprint = "fp-scan-1") {
  Alert a;
  a.fingerprint = fingerprint;
  a.starts_unix_ms = kNow - kMinute;
  a.labels = {{"alertname", "PortScan"}, {"hostname", hostname}};
  if (!src_ip.empty()) a.labels["src_ip"] = src_ip;
  return a;
}

Alert intruderAlert(const std::string& user, const std::string& hostname = "host-42",
                    const std::string& fingerprint = "fp-intruder-1") {
  Alert a;
  a.fingerprint = fingerprint;
  a.labels = {{"alertname", "Intruder"}, {"hostname", hostname}};
  if (!user.empty()) a.labels["user"] = user;
  return a;
}

AlertContext ctxOf(const std::string& source = "prometheus-prod",
                   AlertFormat format = AlertFormat::kAlertmanager,
                   const std::string& receiver = "warden", std::uint32_t group_hosts = 1) {
  return AlertContext{source, format, receiver, kNow, group_hosts};
}

class DecideTest : public ::testing::Test {
 protected:
  Decision run(const RuleSet& rules, const Alert& a, const AlertContext& ctx = ctxOf()) {
    return decide(&rules, a, ctx, history_, hosts_);
  }
  Decision run(const std::string& yaml, const Alert& a, const AlertContext& ctx = ctxOf()) {
    const RuleSet rules = rulesOf(yaml);
    return run(rules, a, ctx);
  }

  FakeHistory history_;
  FakeHosts hosts_;
};

// ---- outcomes and reason codes, one at a time ---------------------------------------------

TEST_F(DecideTest, RuleMatchedInEnforceModeActs) {
  const Decision d = run(sshRule("enforce"), sshAlert());
  EXPECT_EQ(d.outcome, decision::kActed);
  EXPECT_EQ(d.reason, reason::kRuleMatched);
  EXPECT_EQ(d.rule, "ssh-bruteforce");
  EXPECT_EQ(d.host, "host-42");
  EXPECT_EQ(d.via, "host-42");
  EXPECT_EQ(d.action, "isolate");
  // The allow list as the rules file canonicalized it.
  EXPECT_THAT(d.allow, ElementsAre("198.51.100.7:22", "[2001:db8::53]:53"));
  EXPECT_THAT(d.addresses, IsEmpty());
  EXPECT_THAT(d.args, IsEmpty());
  EXPECT_EQ(d.dedupe_key, dedupeKey("prometheus-prod", "warden", "fp-ssh-1", false));
  EXPECT_THAT(d.why, HasSubstr("rule ssh-bruteforce"));
  EXPECT_THAT(d.why, HasSubstr("label hostname=host-42.example.org names host host-42"));
}

TEST_F(DecideTest, DryRunIsTheDefaultMode) {
  const Decision d = run(sshRule(""), sshAlert());
  EXPECT_EQ(d.outcome, decision::kDryRun);
  EXPECT_EQ(d.reason, reason::kRuleMatched);
  // A dry run says what it would have done.
  EXPECT_EQ(d.host, "host-42");
  EXPECT_EQ(d.action, "isolate");
  EXPECT_THAT(d.why, HasSubstr("dry-run mode, nothing was done"));
}

TEST_F(DecideTest, SameAlertWithinDedupeIsDeduplicated) {
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-ssh-1", false)] = kNow - 59 * kMinute;
  const Decision d = run(sshRule("enforce"), sshAlert());
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kDeduplicated);
  EXPECT_THAT(d.why, HasSubstr("within the last 1h"));
  EXPECT_TRUE(d.host.empty());
}

TEST_F(DecideTest, SameAlertPastDedupeIsDecidedAgain) {
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-ssh-1", false)] = kNow - kHour - 1;
  EXPECT_EQ(run(sshRule("enforce"), sshAlert()).outcome, decision::kActed);
}

TEST_F(DecideTest, DedupeWindowComesFromTheGuardrails) {
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-ssh-1", false)] = kNow - 6 * kMinute;
  EXPECT_EQ(run(sshRule("enforce", "  dedupe: 5m\n"), sshAlert()).outcome, decision::kActed);
  EXPECT_EQ(run(sshRule("enforce", "  dedupe: 10m\n"), sshAlert()).reason, reason::kDeduplicated);
}

TEST_F(DecideTest, AnotherReceiverIsNotDeduplicated) {
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-ssh-1", false)] = kNow - kMinute;
  const Decision d = run(sshRule("enforce"), sshAlert(),
                         ctxOf("prometheus-prod", AlertFormat::kAlertmanager, "warden-secondary"));
  EXPECT_EQ(d.outcome, decision::kActed);
  EXPECT_EQ(d.dedupe_key, dedupeKey("prometheus-prod", "warden-secondary", "fp-ssh-1", false));
}

TEST_F(DecideTest, AnotherSourceOrFingerprintIsNotDeduplicated) {
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-ssh-1", false)] = kNow - kMinute;
  EXPECT_EQ(run(sshRule("enforce"), sshAlert(), ctxOf("prometheus-dr")).outcome, decision::kActed);
  EXPECT_EQ(run(sshRule("enforce"), sshAlert("host-42", "fp-ssh-2")).outcome, decision::kActed);
}

TEST_F(DecideTest, ResolvedAndFiringAreDifferentDedupeKeys) {
  EXPECT_NE(dedupeKey("s", "r", "fp", false), dedupeKey("s", "r", "fp", true));
  // A resolved alert was decided a minute ago; the same alert firing again is not a duplicate.
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-ssh-1", true)] = kNow - kMinute;
  EXPECT_EQ(run(sshRule("enforce"), sshAlert()).outcome, decision::kActed);
  // The firing one was decided; its resolution is not a duplicate either (it is `resolved`).
  history_.decided.clear();
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-ssh-1", false)] = kNow - kMinute;
  Alert resolved = sshAlert();
  resolved.resolved = true;
  EXPECT_EQ(run(sshRule("enforce"), resolved).reason, reason::kResolved);
}

TEST_F(DecideTest, DedupeKeyPartsDoNotRunTogether) {
  // (source "ab", receiver "c") is not (source "a", receiver "bc").
  EXPECT_NE(dedupeKey("ab", "c", "fp", false), dedupeKey("a", "bc", "fp", false));
  EXPECT_NE(dedupeKey("s", "r", "fp1", false), dedupeKey("s", "r", "fp2", false));
  EXPECT_EQ(dedupeKey("s", "r", "fp", false), dedupeKey("s", "r", "fp", false));
  EXPECT_EQ(dedupeKey("s", "r", "fp", false).size(), 64u);
}

TEST_F(DecideTest, RecentChangeOnTheHostIsCooldown) {
  history_.changed["host-42"] = kNow - 29 * kMinute;
  const Decision d = run(sshRule("enforce"), sshAlert());
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kCooldown);
  EXPECT_EQ(d.host, "host-42");
  EXPECT_THAT(d.why, HasSubstr("within the 30m cooldown"));
}

TEST_F(DecideTest, ChangeJustOutsideTheCooldownActs) {
  history_.changed["host-42"] = kNow - 30 * kMinute - 1;
  EXPECT_EQ(run(sshRule("enforce"), sshAlert()).outcome, decision::kActed);
  // Another host's change does not cool this one down.
  history_.changed.clear();
  history_.changed["host-1"] = kNow - kMinute;
  EXPECT_EQ(run(sshRule("enforce"), sshAlert()).outcome, decision::kActed);
}

TEST_F(DecideTest, CooldownComesFromTheGuardrails) {
  history_.changed["host-42"] = kNow - 6 * kMinute;
  EXPECT_EQ(run(sshRule("enforce", "  cooldown: 5m\n"), sshAlert()).outcome, decision::kActed);
  EXPECT_EQ(run(sshRule("enforce", "  cooldown: 2h\n"), sshAlert()).reason, reason::kCooldown);
}

TEST_F(DecideTest, ProtectedHostsAreNeverActedOn) {
  const Decision d = run(sshRule("enforce", "  protected_hosts: [host-42, host-2]\n"), sshAlert());
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kProtected);
  EXPECT_EQ(d.host, "host-42");
  EXPECT_THAT(d.why, HasSubstr("host host-42 is protected"));
  // A host not in the list is acted on.
  EXPECT_EQ(run(sshRule("enforce", "  protected_hosts: [host-2]\n"), sshAlert()).outcome,
            decision::kActed);
}

TEST_F(DecideTest, ProtectedByLabel) {
  hosts_.protected_by_label = {"host-42"};
  EXPECT_EQ(run(sshRule("enforce"), sshAlert()).reason, reason::kProtected);
  EXPECT_EQ(run(sshRule("enforce"), sshAlert("host-1")).outcome, decision::kActed);
}

TEST_F(DecideTest, NoMatchingRule) {
  Alert a = sshAlert();
  a.labels["severity"] = "warning";
  const Decision d = run(sshRule("enforce"), a);
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kNoRule);
  EXPECT_TRUE(d.rule.empty());
  EXPECT_TRUE(d.host.empty());
  EXPECT_EQ(d.why, "no rule matches the alert");
}

TEST_F(DecideTest, NoRulesAppliedIsNoRule) {
  const Decision d = decide(nullptr, sshAlert(), ctxOf(), history_, hosts_);
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kNoRule);
  EXPECT_EQ(d.why, "no rules are applied");
  // Still keyed for dedupe, with the default guardrails.
  EXPECT_EQ(d.dedupe_key, dedupeKey("prometheus-prod", "warden", "fp-ssh-1", false));
}

TEST_F(DecideTest, AlertWithoutAHostLabelIsUnknownHost) {
  const Decision d = run(sshRule("enforce"), sshAlert(""));
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kUnknownHost);
  EXPECT_EQ(d.rule, "ssh-bruteforce");
  EXPECT_TRUE(d.host.empty());
  EXPECT_THAT(d.why, HasSubstr("carries none of the labels"));
}

TEST_F(DecideTest, LabelNamingNoEnrolledHostIsUnknownHost) {
  const Decision d = run(sshRule("enforce"), sshAlert("host-9.example.org"));
  EXPECT_EQ(d.reason, reason::kUnknownHost);
  EXPECT_EQ(d.via, "host-9");
  EXPECT_THAT(d.why, HasSubstr("label hostname=host-9.example.org names no enrolled host"));
}

TEST_F(DecideTest, HostNameIsNotAGlob) {
  ASSERT_TRUE(hosts_.hosts.contains("host-42"));
  for (const std::string value : {"host-4*", "host-4?", "host-4[0-9]", "host-.*", "*"}) {
    SCOPED_TRACE(value);
    const Decision d = run(sshRule("enforce"), sshAlert(value));
    EXPECT_EQ(d.reason, reason::kUnknownHost);
    EXPECT_TRUE(d.host.empty());
  }
}

TEST_F(DecideTest, EmptyLabelAndBarePortAreUnknownHost) {
  EXPECT_EQ(run(sshRule("enforce"), sshAlert(":9100")).reason, reason::kUnknownHost);
  Alert a = sshAlert("");
  a.labels["hostname"] = "";  // set but empty: as if absent
  EXPECT_EQ(run(sshRule("enforce"), a).reason, reason::kUnknownHost);
}

TEST_F(DecideTest, AliasNamingTwoHostsIsAmbiguous) {
  const Decision d = run(sshRule("enforce"), sshAlert("web.example.org:443"));
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kAmbiguousHost);
  EXPECT_EQ(d.via, "web");
  EXPECT_TRUE(d.host.empty());
  EXPECT_THAT(d.why, HasSubstr("names 2 hosts"));
}

TEST_F(DecideTest, AliasNamingOneHostActs) {
  const Decision d = run(sshRule("enforce"), sshAlert("bastion"));
  EXPECT_EQ(d.outcome, decision::kActed);
  EXPECT_EQ(d.host, "host-42");
  EXPECT_EQ(d.via, "bastion");
}

TEST_F(DecideTest, IsolationsPastTheBudgetGoToApproval) {
  history_.acted["isolate"] = {kNow - 5 * kMinute};
  const Decision d = run(sshRule("enforce", "  max_isolations: 1\n"), sshAlert());
  EXPECT_EQ(d.outcome, decision::kPendingApproval);  // never silently dropped
  EXPECT_EQ(d.reason, reason::kBudgetExhausted);
  EXPECT_EQ(d.host, "host-42");
  EXPECT_THAT(d.why, HasSubstr("1 automated isolations in the last 10m, the budget is 1"));
}

TEST_F(DecideTest, DefaultBudgetIsThreeIsolationsPerTenMinutes) {
  history_.acted["isolate"] = {kNow - 9 * kMinute, kNow - 2 * kMinute};
  EXPECT_EQ(run(sshRule("enforce"), sshAlert()).outcome, decision::kActed);
  history_.acted["isolate"].push_back(kNow - kMinute);
  EXPECT_EQ(run(sshRule("enforce"), sshAlert()).reason, reason::kBudgetExhausted);
  // Isolations older than the window do not count.
  history_.acted["isolate"] = {kNow - 10 * kMinute - 1, kNow - 11 * kMinute, kNow - kMinute};
  EXPECT_EQ(run(sshRule("enforce"), sshAlert()).outcome, decision::kActed);
}

TEST_F(DecideTest, BlocksAndIsolationsHaveSeparateBudgets) {
  history_.acted["isolate"] = {kNow - kMinute};
  history_.acted["block"] = {kNow - kMinute};
  const std::string g = "  max_isolations: 1\n  max_blocks: 2\n";
  // The isolation budget is spent; a block still acts.
  EXPECT_EQ(run(blockRule("enforce", g), scanAlert("203.0.113.7")).outcome, decision::kActed);
  history_.acted["block"].push_back(kNow - kMinute);
  const Decision d = run(blockRule("enforce", g), scanAlert("203.0.113.7"));
  EXPECT_EQ(d.reason, reason::kBudgetExhausted);
  EXPECT_THAT(d.why, HasSubstr("2 automated blocks in the last 10m, the budget is 2"));
  // Spent blocks do not stop an isolation either.
  history_.acted["isolate"].clear();
  EXPECT_EQ(run(sshRule("enforce", g), sshAlert()).outcome, decision::kActed);
}

TEST_F(DecideTest, KillSessionsAndCollectAreNotBudgeted) {
  history_.acted["isolate"] = std::vector<std::int64_t>(50, kNow - kMinute);
  history_.acted["block"] = std::vector<std::int64_t>(50, kNow - kMinute);
  history_.acted["kill-sessions"] = std::vector<std::int64_t>(50, kNow - kMinute);
  EXPECT_EQ(run(killRule("enforce"), intruderAlert("mallory")).outcome, decision::kActed);
  const std::string collect = R"(rules:
  - name: collect-all
    host_from: [hostname]
    action: collect
    mode: enforce
guardrails: {max_isolations: 0, max_blocks: 0}
)";
  history_.acted["collect"] = std::vector<std::int64_t>(50, kNow - kMinute);
  EXPECT_EQ(run(collect, sshAlert()).outcome, decision::kActed);
}

TEST_F(DecideTest, BudgetCountsWhatWasActed) {
  // Three alerts about three hosts, one after the other, as the controller records them.
  const RuleSet rules = rulesOf(sshRule("enforce", "  max_isolations: 2\n"));
  std::vector<std::string> outcomes;
  for (const std::string host : {"host-1", "host-2", "host-42"}) {
    const Decision d = run(rules, sshAlert(host, "fp-" + host));
    history_.remember(d, kNow);
    outcomes.push_back(d.outcome + " " + d.reason);
  }
  EXPECT_THAT(outcomes, ElementsAre("acted rule-matched", "acted rule-matched",
                                    "pending-approval budget-exhausted"));
  // And a second alert about an acted-on host is in its cooldown.
  EXPECT_EQ(run(rules, sshAlert("host-1", "fp-other")).reason, reason::kCooldown);
}

TEST_F(DecideTest, GroupNamingTooManyHostsGoesToApproval) {
  const Decision d = run(sshRule("enforce"), sshAlert(),
                         ctxOf("prometheus-prod", AlertFormat::kAlertmanager, "warden", 4));
  EXPECT_EQ(d.outcome, decision::kPendingApproval);
  EXPECT_EQ(d.reason, reason::kTooManyHosts);
  EXPECT_THAT(d.why, HasSubstr("names 4 hosts, more than max_hosts_per_alert (3)"));
  EXPECT_EQ(run(sshRule("enforce"), sshAlert(),
                ctxOf("prometheus-prod", AlertFormat::kAlertmanager, "warden", 3))
                .outcome,
            decision::kActed);
  EXPECT_EQ(run(sshRule("enforce", "  max_hosts_per_alert: 1\n"), sshAlert(),
                ctxOf("prometheus-prod", AlertFormat::kAlertmanager, "warden", 2))
                .reason,
            reason::kTooManyHosts);
}

TEST_F(DecideTest, OpenBreakerSendsEverythingToApproval) {
  history_.breaker = true;
  const Decision d = run(sshRule("enforce"), sshAlert());
  EXPECT_EQ(d.outcome, decision::kPendingApproval);
  EXPECT_EQ(d.reason, reason::kBreakerOpen);
  EXPECT_EQ(run(killRule("enforce"), intruderAlert("mallory")).reason, reason::kBreakerOpen);
}

TEST_F(DecideTest, OldAlertIsStale) {
  Alert a = sshAlert();
  a.starts_unix_ms = kNow - kHour - 1;
  const Decision d = run(sshRule("enforce"), a);
  EXPECT_EQ(d.outcome, decision::kPendingApproval);
  EXPECT_EQ(d.reason, reason::kStale);
  EXPECT_THAT(d.why, HasSubstr("started more than 1h ago"));
  a.starts_unix_ms = kNow - kHour;  // exactly the age: not older
  EXPECT_EQ(run(sshRule("enforce"), a).outcome, decision::kActed);
  a.starts_unix_ms = kNow - 6 * kMinute;
  EXPECT_EQ(run(sshRule("enforce", "  max_alert_age: 5m\n"), a).reason, reason::kStale);
  a.starts_unix_ms = 0;  // the sender gave no start: not stale
  EXPECT_EQ(run(sshRule("enforce", "  max_alert_age: 5m\n"), a).outcome, decision::kActed);
}

TEST_F(DecideTest, ResolvedAlertNeverReleases) {
  history_.changed["host-42"] = kNow - 2 * kHour;  // isolated long ago
  Alert a = sshAlert();
  a.resolved = true;
  const Decision d = run(sshRule("enforce"), a);
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kResolved);
  EXPECT_TRUE(d.action.empty());
  EXPECT_TRUE(d.host.empty());
  EXPECT_THAT(d.why, HasSubstr("release is a person's decision"));
  EXPECT_EQ(d.dedupe_key, dedupeKey("prometheus-prod", "warden", "fp-ssh-1", true));
}

TEST_F(DecideTest, ApproveModeAsksForApproval) {
  const Decision d = run(sshRule("approve"), sshAlert());
  EXPECT_EQ(d.outcome, decision::kPendingApproval);
  EXPECT_EQ(d.reason, reason::kModeApprove);
  EXPECT_EQ(d.host, "host-42");
  EXPECT_EQ(d.action, "isolate");
}

TEST_F(DecideTest, KillSessionsTakesTheUserFromItsLabel) {
  const Decision d = run(killRule("enforce"), intruderAlert("mallory"));
  EXPECT_EQ(d.outcome, decision::kActed);
  EXPECT_EQ(d.action, "kill-sessions");
  EXPECT_THAT(d.args, ElementsAre("user=mallory"));
}

TEST_F(DecideTest, KillSessionsWithoutItsUserLabelIsMissingLabel) {
  const Decision d = run(killRule("enforce"), intruderAlert(""));
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kMissingLabel);
  EXPECT_EQ(d.host, "host-42");
  EXPECT_THAT(d.args, IsEmpty());
  EXPECT_THAT(d.why, HasSubstr("label user, which the alert does not carry"));
  // A value that would smuggle a second argument or a space is not a user name.
  for (const std::string& bad : std::vector<std::string>{"mallory,root", "user=root", "mal lory",
                                                         "a\nb", std::string(65, 'u')}) {
    SCOPED_TRACE(bad);
    const Decision b = run(killRule("enforce"), intruderAlert(bad));
    EXPECT_EQ(b.reason, reason::kMissingLabel);
    EXPECT_THAT(b.why, HasSubstr("not a user name"));
    EXPECT_THAT(b.args, IsEmpty());
  }
}

TEST_F(DecideTest, BlockTakesTheAddressFromItsLabelCanonically) {
  const Decision d = run(blockRule("enforce"), scanAlert("2001:DB8:0::BAD"));
  EXPECT_EQ(d.outcome, decision::kActed);
  EXPECT_EQ(d.action, "block");
  EXPECT_THAT(d.addresses, ElementsAre("2001:db8::bad"));
  EXPECT_THAT(d.allow, IsEmpty());
}

TEST_F(DecideTest, BlockWithoutAnAddressIsMissingLabel) {
  const Decision absent = run(blockRule("enforce"), scanAlert(""));
  EXPECT_EQ(absent.outcome, decision::kNoAction);
  EXPECT_EQ(absent.reason, reason::kMissingLabel);
  EXPECT_THAT(absent.why, HasSubstr("label src_ip, which the alert does not carry"));
  for (const std::string bad :
       {"scanner.example.net", "203.0.113.7:443", "203.0.113.300", "203.0.113.7/24"}) {
    SCOPED_TRACE(bad);
    const Decision d = run(blockRule("enforce"), scanAlert(bad));
    EXPECT_EQ(d.reason, reason::kMissingLabel);
    EXPECT_THAT(d.why, HasSubstr("holds as no address"));
    EXPECT_THAT(d.addresses, IsEmpty());
  }
}

// DESIGN.md: block takes `address_from: src_ip`, the address in the alert's label. A label
// holding a whole network is not an address: a sender (outside input) must not make automation
// block 0.0.0.0/0 on a host, which is an isolation without its allow list and outside the
// isolation budget.
TEST_F(DecideTest, BlockLabelHoldingANetworkIsNotAnAddress) {
  for (const std::string net : {"0.0.0.0/0", "::/0", "10.0.0.0/8"}) {
    SCOPED_TRACE(net);
    const Decision d = run(blockRule("enforce"), scanAlert(net));
    EXPECT_EQ(d.reason, reason::kMissingLabel) << d.outcome << ": " << d.why;
    EXPECT_THAT(d.addresses, IsEmpty());
  }
}

TEST_F(DecideTest, NeverBlockRangesAreNeverBlocked) {
  const std::string g = "  never_block: [203.0.113.0/24, '2001:db8::/32']\n";
  const Decision d = run(blockRule("enforce", g), scanAlert("203.0.113.7"));
  EXPECT_EQ(d.outcome, decision::kNoAction);
  EXPECT_EQ(d.reason, reason::kNeverBlock);
  EXPECT_THAT(d.why, HasSubstr("address 203.0.113.7 is within never_block range 203.0.113.0/24"));
  EXPECT_EQ(run(blockRule("enforce", g), scanAlert("2001:DB8::7")).reason, reason::kNeverBlock);
  EXPECT_EQ(run(blockRule("enforce", g), scanAlert("198.51.100.7")).outcome, decision::kActed);
}

// ---- the order of the checks --------------------------------------------------------------

TEST_F(DecideTest, DeduplicatedBeatsResolved) {
  Alert a = sshAlert();
  a.resolved = true;
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-ssh-1", true)] = kNow - kMinute;
  EXPECT_EQ(run(sshRule("enforce"), a).reason, reason::kDeduplicated);
}

TEST_F(DecideTest, ResolvedBeatsNoRule) {
  Alert a = sshAlert();
  a.resolved = true;
  a.labels["alertname"] = "Other";
  EXPECT_EQ(run(sshRule("enforce"), a).reason, reason::kResolved);
  EXPECT_EQ(decide(nullptr, a, ctxOf(), history_, hosts_).reason, reason::kResolved);
}

TEST_F(DecideTest, DryRunBeatsEveryGuardrail) {
  history_.acted["isolate"] = {kNow - kMinute, kNow - kMinute, kNow - kMinute};
  history_.changed["host-42"] = kNow - kMinute;
  history_.breaker = true;
  Alert a = sshAlert();
  a.starts_unix_ms = kNow - 2 * kHour;
  const Decision d = run(sshRule("dry-run", "  max_isolations: 1\n"), a,
                         ctxOf("prometheus-prod", AlertFormat::kAlertmanager, "warden", 9));
  EXPECT_EQ(d.outcome, decision::kDryRun);
  EXPECT_EQ(d.reason, reason::kRuleMatched);
}

TEST_F(DecideTest, ProtectedAndMissingLabelBeatDryRun) {
  EXPECT_EQ(run(sshRule("", "  protected_hosts: [host-42]\n"), sshAlert()).reason,
            reason::kProtected);
  EXPECT_EQ(run(killRule("dry-run"), intruderAlert("")).reason, reason::kMissingLabel);
}

// Every condition holds at first; each step removes the one that decided, and the next in
// decide.h's order decides.
TEST_F(DecideTest, ChecksRunInTheDocumentedOrder) {
  const std::string g =
      "  max_blocks: 1\n  protected_hosts: [host-42]\n  never_block: [203.0.113.0/24]\n";
  std::string guardrails = g;
  std::string mode = "dry-run";
  history_.decided[dedupeKey("prometheus-prod", "warden", "fp-scan-1", true)] = kNow - kMinute;
  history_.changed["host-42"] = kNow - kMinute;
  history_.breaker = true;
  history_.acted["block"] = {kNow - kMinute};
  Alert a = scanAlert("");
  a.resolved = true;
  a.starts_unix_ms = kNow - 2 * kHour;
  a.labels["alertname"] = "Other";
  hosts_.hosts.erase("host-42");
  std::uint32_t group = 9;

  auto next = [&]() {
    const Decision d = run(blockRule(mode, guardrails), a,
                           ctxOf("prometheus-prod", AlertFormat::kAlertmanager, "warden", group));
    return d.reason;
  };
  EXPECT_EQ(next(), reason::kDeduplicated);
  history_.decided.clear();
  EXPECT_EQ(next(), reason::kResolved);
  a.resolved = false;
  EXPECT_EQ(next(), reason::kNoRule);
  a.labels["alertname"] = "PortScan";
  EXPECT_EQ(next(), reason::kUnknownHost);
  hosts_.hosts["host-42"] = "";
  EXPECT_EQ(next(), reason::kProtected);
  guardrails = "  max_blocks: 1\n  never_block: [203.0.113.0/24]\n";
  EXPECT_EQ(next(), reason::kMissingLabel);
  a.labels["src_ip"] = "203.0.113.7";
  EXPECT_EQ(next(), reason::kNeverBlock);
  a.labels["src_ip"] = "198.51.100.7";
  EXPECT_EQ(next(), reason::kRuleMatched);  // dry-run
  mode = "approve";
  EXPECT_EQ(next(), reason::kCooldown);
  history_.changed.clear();
  EXPECT_EQ(next(), reason::kBreakerOpen);
  history_.breaker = false;
  EXPECT_EQ(next(), reason::kModeApprove);
  mode = "enforce";
  EXPECT_EQ(next(), reason::kStale);
  a.starts_unix_ms = kNow - kMinute;
  EXPECT_EQ(next(), reason::kTooManyHosts);
  group = 1;
  EXPECT_EQ(next(), reason::kBudgetExhausted);
  history_.acted.clear();
  const Decision d = run(blockRule(mode, guardrails), a,
                         ctxOf("prometheus-prod", AlertFormat::kAlertmanager, "warden", group));
  EXPECT_EQ(d.outcome, decision::kActed);
  EXPECT_EQ(d.reason, reason::kRuleMatched);
}

// ---- host names from label values ---------------------------------------------------------

TEST(HostNameOf, CutsThePortAndTheDomain) {
  EXPECT_EQ(hostNameOf("host-42:9100"), "host-42");
  EXPECT_EQ(hostNameOf("host-42.example.org"), "host-42");
  EXPECT_EQ(hostNameOf("host-42.example.org:9100"), "host-42");
  EXPECT_EQ(hostNameOf("host-42"), "host-42");
}

TEST(HostNameOf, LowerCases) {
  EXPECT_EQ(hostNameOf("HOST-42.Example.ORG:9100"), "host-42");
  EXPECT_EQ(hostNameOf("[2001:DB8::1]:22"), "2001:db8::1");
}

TEST(HostNameOf, AddressesStayWhole) {
  EXPECT_EQ(hostNameOf("10.0.0.5"), "10.0.0.5");
  EXPECT_EQ(hostNameOf("10.0.0.5:9100"), "10.0.0.5");
  EXPECT_EQ(hostNameOf("[2001:db8::1]:22"), "2001:db8::1");
  EXPECT_EQ(hostNameOf("2001:db8::1"), "2001:db8::1");
  EXPECT_EQ(hostNameOf("[2001:db8::1]"), "2001:db8::1");
}

TEST(HostNameOf, NothingLeft) {
  EXPECT_EQ(hostNameOf(":9100"), "");
  EXPECT_EQ(hostNameOf(""), "");
}

TEST_F(DecideTest, HostsNamedByAddressLabels) {
  EXPECT_EQ(run(sshRule("enforce"), sshAlert("10.0.0.5:9100")).host, "10.0.0.5");
  EXPECT_EQ(run(sshRule("enforce"), sshAlert("[2001:DB8::1]:22")).host, "2001:db8::1");
}

TEST_F(DecideTest, FirstHostLabelThatIsSetWins) {
  Alert a = sshAlert("");
  a.labels["instance"] = "host-1:9100";
  Decision d = run(sshRule("enforce"), a);
  EXPECT_EQ(d.host, "host-1");
  EXPECT_THAT(d.why, HasSubstr("label instance=host-1:9100 names host host-1"));
  a.labels["hostname"] = "host-2";  // hostname comes first in host_from
  EXPECT_EQ(run(sshRule("enforce"), a).host, "host-2");
  // The first label that is set decides, even when it names no host: no falling through to a
  // label the rule ranks lower.
  a.labels["hostname"] = "host-9";
  d = run(sshRule("enforce"), a);
  EXPECT_EQ(d.reason, reason::kUnknownHost);
  EXPECT_EQ(d.via, "host-9");
}

// ---- which rule ---------------------------------------------------------------------------

constexpr char kTwoRules[] = R"(rules:
  - name: first
    match: ['alertname=~"SSH.*"']
    host_from: [hostname]
    action: collect
    mode: enforce
  - name: second
    match: ['alertname="SSHBruteForce"']
    host_from: [hostname]
    action: isolate
    mode: enforce
)";

TEST_F(DecideTest, FirstMatchingRuleWins) {
  const Decision d = run(kTwoRules, sshAlert());
  EXPECT_EQ(d.rule, "first");
  EXPECT_EQ(d.action, "collect");
  const RuleSet rules = rulesOf(kTwoRules);
  const AlertRule* r = firstMatchingRule(rules, sshAlert(), ctxOf());
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->name, "first");
}

TEST_F(DecideTest, FormatFilter) {
  const std::string yaml = R"(rules:
  - name: falco-only
    format: falco
    host_from: [hostname]
    action: collect
    mode: enforce
  - name: am-or-json
    format: [alertmanager, json]
    host_from: [hostname]
    action: isolate
    mode: enforce
)";
  EXPECT_EQ(run(yaml, sshAlert(), ctxOf("s", AlertFormat::kFalco)).rule, "falco-only");
  EXPECT_EQ(run(yaml, sshAlert(), ctxOf("s", AlertFormat::kAlertmanager)).rule, "am-or-json");
  EXPECT_EQ(run(yaml, sshAlert(), ctxOf("s", AlertFormat::kJson)).rule, "am-or-json");
}

TEST_F(DecideTest, SendersFilter) {
  const std::string yaml = R"(rules:
  - name: prod-only
    senders: [prometheus-prod, falco-edge]
    host_from: [hostname]
    action: isolate
    mode: enforce
  - name: anyone
    host_from: [hostname]
    action: collect
)";
  EXPECT_EQ(run(yaml, sshAlert(), ctxOf("prometheus-prod")).rule, "prod-only");
  EXPECT_EQ(run(yaml, sshAlert(), ctxOf("falco-edge")).rule, "prod-only");
  const Decision other = run(yaml, sshAlert(), ctxOf("prometheus-staging"));
  EXPECT_EQ(other.rule, "anyone");
  EXPECT_EQ(other.outcome, decision::kDryRun);
  // A sender name is not a prefix or a pattern.
  EXPECT_EQ(run(yaml, sshAlert(), ctxOf("prometheus-prod2")).rule, "anyone");
}

TEST_F(DecideTest, RegexMatchersAreAnchored) {
  const std::string yaml = R"(rules:
  - name: anchored
    match:
      - alertname=~"SSH"
      - severity=~"critical|page"
    host_from: [hostname]
    action: isolate
    mode: enforce
)";
  // "SSH" does not match "SSHBruteForce": the regex must match the whole value.
  EXPECT_EQ(run(yaml, sshAlert()).reason, reason::kNoRule);
  Alert a = sshAlert();
  a.labels["alertname"] = "SSH";
  EXPECT_EQ(run(yaml, a).reason, reason::kRuleMatched);
  // Alternation is anchored as a whole: "paged" is neither "critical" nor "page".
  a.labels["severity"] = "paged";
  EXPECT_EQ(run(yaml, a).reason, reason::kNoRule);
  a.labels["severity"] = "page";
  EXPECT_EQ(run(yaml, a).reason, reason::kRuleMatched);
  a.labels["severity"] = "not-critical";
  EXPECT_EQ(run(yaml, a).reason, reason::kNoRule);
}

TEST_F(DecideTest, EveryMatcherMustHold) {
  const std::string yaml = R"(rules:
  - name: all-of
    match:
      - alertname="SSHBruteForce"
      - severity!="info"
      - env!~"dev|test"
    host_from: [hostname]
    action: isolate
    mode: enforce
)";
  Alert a = sshAlert();
  EXPECT_EQ(run(yaml, a).outcome, decision::kActed);  // a missing env is "" (not dev|test)
  a.labels["env"] = "test";
  EXPECT_EQ(run(yaml, a).reason, reason::kNoRule);
  a.labels["env"] = "testing";  // anchored: not "test"
  EXPECT_EQ(run(yaml, a).outcome, decision::kActed);
  a.labels["severity"] = "info";
  EXPECT_EQ(run(yaml, a).reason, reason::kNoRule);
}

TEST_F(DecideTest, RuleWithoutMatchersMatchesEverything) {
  const std::string yaml = R"(rules:
  - name: everything
    host_from: [hostname]
    action: collect
    mode: enforce
)";
  Alert a;
  a.fingerprint = "x";
  a.labels = {{"hostname", "host-1"}};
  const Decision d = run(yaml, a);
  EXPECT_EQ(d.outcome, decision::kActed);
  EXPECT_EQ(d.action, "collect");
}

}  // namespace
}  // namespace warden
