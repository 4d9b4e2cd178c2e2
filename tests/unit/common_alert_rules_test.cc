// common/alerts/rules.h: the rules file, strict, every error with its line and column.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/alerts/rules.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// DESIGN.md "Automation", verbatim but for `for: 4h` (timed release does not exist yet; see
// DesignExampleWithForIsRefused).
constexpr char kDesignExample[] = R"(rules:
  - name: ssh-bruteforce
    format: alertmanager            # which endpoint: alertmanager | falco | json; omitted: any
    senders: [prometheus-prod]      # named sources (`warden alerts source add`); omitted: any
    match:                          # Alertmanager matcher syntax, RE2, anchored; all must hold
      - alertname="SSHBruteForce"
      - severity=~"critical|page"
    host_from: [hostname, instance] # label precedence; ":port" and the domain are cut; the value
                                    # must name exactly one enrolled host (or its label warden.alias)
    action: isolate                 # isolate | kill-sessions | block | collect
    with: {allow: ["198.51.100.7:22"]}   # the action's own arguments; kill-sessions:
                                    # {user_from: user}; block: {address_from: src_ip, for: 24h}
    mode: enforce                   # dry-run (the default) | approve | enforce
guardrails:                         # defaults shown
  window: 10m
  max_isolations: 3                 # automated isolations per window, fleet-wide
  max_hosts_per_alert: 3            # an alert group naming more hosts goes to approval
  max_blocks: 20                    # automated address blocks per window
  cooldown: 30m                     # per host, after an automated action or an operator release
  dedupe: 1h                        # same (source, receiver, fingerprint, status): one decision
  max_alert_age: 1h                 # older alerts go to approval
  approval_ttl: 60m                 # an approval not given in time counts as rejected
  protected_hosts: []               # never acted on automatically (also label warden.protected=true)
  never_block: []                   # CIDRs automation never blocks (the controller always)
notify:                             # optional: who hears about automated decisions
  - url: https://chat.example.net/hooks/warden
)";

RuleSet mustParse(std::string_view yaml) {
  auto r = parseRules(yaml);
  EXPECT_TRUE(r.ok()) << r.status() << "\n" << yaml;
  return r.ok() ? *r : RuleSet{};
}

std::string errorOf(std::string_view yaml) {
  auto r = parseRules(yaml);
  EXPECT_FALSE(r.ok()) << "accepted:\n" << yaml;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(r.status().message());
}

// A valid rule to build error cases from; `extra` lines go inside it (4 spaces of indent).
std::string rule(const std::string& name = "r1", const std::string& extra = "") {
  return absl::StrCat("  - name: ", name, "\n    host_from: [hostname]\n    action: collect\n",
                      extra);
}

// ---- what parses -------------------------------------------------------------------------

TEST(ParseRules, DesignExample) {
  const RuleSet set = mustParse(kDesignExample);
  ASSERT_EQ(set.rules.size(), 1u);
  const AlertRule& r = set.rules[0];
  EXPECT_EQ(r.name, "ssh-bruteforce");
  EXPECT_EQ(r.line, 2);
  EXPECT_THAT(r.formats, ElementsAre(AlertFormat::kAlertmanager));
  EXPECT_THAT(r.senders, ElementsAre("prometheus-prod"));
  ASSERT_EQ(r.match.size(), 2u);
  EXPECT_EQ(r.match[0].toString(), R"(alertname="SSHBruteForce")");
  EXPECT_EQ(r.match[1].toString(), R"(severity=~"critical|page")");
  EXPECT_TRUE(r.match[1].matches({{"severity", "page"}}));
  EXPECT_THAT(r.host_from, ElementsAre("hostname", "instance"));
  EXPECT_EQ(r.action, "isolate");
  EXPECT_THAT(r.allow, ElementsAre("198.51.100.7:22"));
  EXPECT_EQ(r.user_from, "");
  EXPECT_EQ(r.address_from, "");
  EXPECT_EQ(r.mode, RuleMode::kEnforce);
  const Guardrails& g = set.guardrails;
  EXPECT_EQ(g.window_ms, 10 * 60 * 1000);
  EXPECT_EQ(g.max_isolations, 3u);
  EXPECT_EQ(g.max_hosts_per_alert, 3u);
  EXPECT_EQ(g.max_blocks, 20u);
  EXPECT_EQ(g.cooldown_ms, 30 * 60 * 1000);
  EXPECT_EQ(g.dedupe_ms, 60 * 60 * 1000);
  EXPECT_EQ(g.max_alert_age_ms, 60 * 60 * 1000);
  EXPECT_EQ(g.approval_ttl_ms, 60 * 60 * 1000);
  EXPECT_TRUE(g.protected_hosts.empty());
  EXPECT_TRUE(g.never_block.empty());
  ASSERT_EQ(set.notify.size(), 1u);
  EXPECT_EQ(set.notify[0].url, "https://chat.example.net/hooks/warden");
}

TEST(ParseRules, DesignExampleWithForIsRefused) {
  const std::string with_for =
      absl::StrReplaceAll(kDesignExample, {{R"(with: {allow: ["198.51.100.7:22"]})",
                                            R"(with: {allow: ["198.51.100.7:22"], for: 4h})"}});
  EXPECT_EQ(errorOf(with_for),
            "line 11, column 40: rules[0].with: timed release (for) is not supported yet: an "
            "automated action stays until an operator releases it");
}

TEST(ParseRules, EmptyFilesHaveNoRules) {
  for (const char* text : {"", "\n", "# nothing yet\n", "rules: []\n", "rules:\n", "---\n", "~\n",
                           "rules: []\nguardrails: {}\nnotify: []\n"}) {
    const RuleSet set = mustParse(text);
    EXPECT_TRUE(set.rules.empty()) << text;
    EXPECT_TRUE(set.notify.empty()) << text;
    EXPECT_EQ(set.guardrails.window_ms, Guardrails{}.window_ms) << text;
  }
}

TEST(ParseRules, DefaultsApplied) {
  const RuleSet set = mustParse("rules:\n" + rule("minimal"));
  ASSERT_EQ(set.rules.size(), 1u);
  const AlertRule& r = set.rules[0];
  EXPECT_EQ(r.line, 2);
  EXPECT_TRUE(r.formats.empty());
  EXPECT_TRUE(r.senders.empty());
  EXPECT_TRUE(r.match.empty());
  EXPECT_EQ(r.mode, RuleMode::kDryRun);
  EXPECT_TRUE(r.allow.empty());
  const Guardrails defaults;
  EXPECT_EQ(set.guardrails.window_ms, 600'000);
  EXPECT_EQ(set.guardrails.max_isolations, defaults.max_isolations);
  EXPECT_EQ(set.guardrails.max_hosts_per_alert, defaults.max_hosts_per_alert);
  EXPECT_EQ(set.guardrails.max_blocks, defaults.max_blocks);
  EXPECT_EQ(set.guardrails.cooldown_ms, 1'800'000);
  EXPECT_EQ(set.guardrails.dedupe_ms, 3'600'000);
  EXPECT_EQ(set.guardrails.max_alert_age_ms, 3'600'000);
  EXPECT_EQ(set.guardrails.approval_ttl_ms, 3'600'000);
  // A guardrails section that sets one key keeps the others' defaults.
  const RuleSet one = mustParse("guardrails:\n  max_blocks: 0\n");
  EXPECT_EQ(one.guardrails.max_blocks, 0u);
  EXPECT_EQ(one.guardrails.max_isolations, 3u);
  EXPECT_EQ(one.guardrails.window_ms, 600'000);
}

TEST(ParseRules, EveryActionAndMode) {
  const RuleSet set = mustParse(R"(rules:
  - name: kill
    format: [falco, json]
    match: ['rule="Terminal shell in container"', 'output_fields.ka.uri.param[command]=~"sh|bash"']
    host_from: [hostname, "output_fields.k8s.pod.label[app.kubernetes.io/name]"]
    action: kill-sessions
    with: {user_from: output_fields.user.name}
    mode: approve
  - name: block.src_ip
    senders: [wazuh, prometheus-prod]
    host_from: [agent]
    action: block
    with:
      address_from: src_ip
    mode: dry-run
  - name: collect_1
    host_from: [instance]
    action: collect
    with: {}
  - name: isolate-v6
    host_from: [instance]
    action: isolate
    with: {allow: ["2001:db8::1", "[2001:db8::/32]:443", 198.51.100.0/24]}
)");
  ASSERT_EQ(set.rules.size(), 4u);
  EXPECT_THAT(set.rules[0].formats, ElementsAre(AlertFormat::kFalco, AlertFormat::kJson));
  EXPECT_EQ(set.rules[0].match[1].name(), "output_fields.ka.uri.param[command]");
  EXPECT_THAT(set.rules[0].host_from,
              ElementsAre("hostname", "output_fields.k8s.pod.label[app.kubernetes.io/name]"));
  EXPECT_EQ(set.rules[0].action, "kill-sessions");
  EXPECT_EQ(set.rules[0].user_from, "output_fields.user.name");
  EXPECT_EQ(set.rules[0].mode, RuleMode::kApprove);
  EXPECT_EQ(set.rules[1].address_from, "src_ip");
  EXPECT_THAT(set.rules[1].senders, ElementsAre("wazuh", "prometheus-prod"));
  EXPECT_EQ(set.rules[1].line, 9);
  EXPECT_EQ(set.rules[1].mode, RuleMode::kDryRun);
  EXPECT_EQ(set.rules[2].action, "collect");
  EXPECT_THAT(set.rules[3].allow,
              ElementsAre("2001:db8::1", "[2001:db8::/32]:443", "198.51.100.0/24"));
  EXPECT_STREQ(ruleModeName(RuleMode::kDryRun), "dry-run");
  EXPECT_STREQ(ruleModeName(RuleMode::kApprove), "approve");
  EXPECT_STREQ(ruleModeName(RuleMode::kEnforce), "enforce");
}

TEST(ParseRules, GuardrailsValues) {
  const RuleSet set = mustParse(R"(guardrails:
  window: 1h30m
  max_isolations: 0
  max_hosts_per_alert: 10
  max_blocks: 1000000
  cooldown: 30s
  dedupe: 4h
  max_alert_age: 2d
  approval_ttl: 15m
  protected_hosts: [db-1, ctl.example.org, "HOST_7"]
  never_block: [10.0.0.0/8, "2001:DB8::/32", 198.51.100.7]
notify:
  - url: https://chat.example.net/hooks/warden
  - {url: "https://pager.example.net:8443/v1?team=ir"}
)");
  const Guardrails& g = set.guardrails;
  EXPECT_EQ(g.window_ms, 90 * 60 * 1000);
  EXPECT_EQ(g.max_isolations, 0u);
  EXPECT_EQ(g.max_hosts_per_alert, 10u);
  EXPECT_EQ(g.max_blocks, 1'000'000u);
  EXPECT_EQ(g.cooldown_ms, 30'000);
  EXPECT_EQ(g.dedupe_ms, 4 * 3'600'000);
  EXPECT_EQ(g.max_alert_age_ms, 48 * 3'600'000);
  EXPECT_EQ(g.approval_ttl_ms, 15 * 60'000);
  EXPECT_THAT(g.protected_hosts, ElementsAre("db-1", "ctl.example.org", "HOST_7"));
  // Canonical text, as the dispatcher and the verifier print prefixes.
  EXPECT_THAT(g.never_block, ElementsAre("10.0.0.0/8", "2001:db8::/32", "198.51.100.7"));
  ASSERT_EQ(set.notify.size(), 2u);
  EXPECT_EQ(set.notify[1].url, "https://pager.example.net:8443/v1?team=ir");
}

// ---- what is refused, and where ------------------------------------------------------------

TEST(ParseRulesErrors, BadMatcherNamesItsLineColumnAndRe2sMessage) {
  // The matcher is on line 7, after 8 characters of indent and "- ".
  const std::string bad = absl::StrReplaceAll(
      kDesignExample, {{R"(severity=~"critical|page")", R"(severity=~"(critical")"}});
  EXPECT_EQ(errorOf(bad),
            "line 7, column 9: rules[0].match[1]: bad matcher 'severity=~\"(critical\"': "
            "missing ): (critical");
}

struct ErrorCase {
  const char* what;
  std::string yaml;
  const char* prefix;  // "line L, column C: "
  const char* says;
};
void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.what; }

class ParseRulesErrorCases : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParseRulesErrorCases, RefusedWithLineAndReason) {
  const ErrorCase& c = GetParam();
  const std::string message = errorOf(c.yaml);
  EXPECT_THAT(message, StartsWith(c.prefix)) << c.what;
  EXPECT_THAT(message, HasSubstr(c.says)) << c.what;
}

const ErrorCase kErrorCases[] = {
    {"unknown top-level key", "rules: []\nrulez: []\n",
     "line 2, column 1: ", "unknown key 'rulez' (known: rules, guardrails, notify)"},
    {"unknown rule key", "rules:\n" + rule("r1", "    matches: []\n"),
     "line 5, column 5: ", "rules[0]: unknown key 'matches'"},
    {"missing name", "rules:\n  - host_from: [h]\n    action: collect\n",
     "line 2, column 5: ", "rules[0]: name is required"},
    {"empty name", "rules:\n  - name: ''\n    host_from: [h]\n    action: collect\n",
     "line 2, column 11: ", "rules[0].name: name is empty"},
    {"null name", "rules:\n  - name:\n    host_from: [h]\n    action: collect\n",
     "line 2, column 5: ", "rules[0].name: expected a value, found nothing"},
    {"null list", "rules:\n  - name: r1\n    host_from:\n    action: collect\n",
     "line 3, column 5: ", "rules[0].host_from: expected a value, found nothing"},
    {"null guardrail", "guardrails:\n  window:\n",
     "line 2, column 3: ", "guardrails.window: expected a value, found nothing"},
    {"bad name characters", "rules:\n" + rule("SSH Brute"),
     "line 2, column 11: ", "'SSH Brute' is not a rule name"},
    {"duplicate names", "rules:\n" + rule("dup") + rule("dup"),
     "line 5, column 5: ", "rules[1]: duplicate rule name 'dup' (first at line 2)"},
    {"unknown format", "rules:\n" + rule("r1", "    format: prometheus\n"), "line 5, column 13: ",
     "rules[0].format: unknown format 'prometheus' (alertmanager | falco | json)"},
    {"unknown format in a list", "rules:\n" + rule("r1", "    format: [falco, syslog]\n"),
     "line 5, column 21: ", "rules[0].format[1]: unknown format 'syslog'"},
    {"format twice", "rules:\n" + rule("r1", "    format: [json, json]\n"),
     "line 5, column 20: ", "'json' is listed twice"},
    {"senders not a list", "rules:\n" + rule("r1", "    senders: prometheus-prod\n"),
     "line 5, column 14: ", "rules[0].senders: expected a list"},
    {"senders not names", "rules:\n" + rule("r1", "    senders: [ok, {a: b}]\n"),
     "line 5, column 19: ", "rules[0].senders[1]: expected a string"},
    {"no host_from", "rules:\n  - name: r1\n    action: collect\n",
     "line 2, column 5: ", "rules[0]: host_from is required"},
    {"empty host_from", "rules:\n  - name: r1\n    host_from: []\n    action: collect\n",
     "line 3, column 16: ", "rules[0].host_from: name at least one label"},
    {"too many host_from",
     "rules:\n  - name: r1\n    action: collect\n    host_from: [" +
         std::string("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q") + "]\n",
     "line 4, column 49: ", "rules[0].host_from: more than 16 items"},
    {"no action", "rules:\n  - name: r1\n    host_from: [h]\n",
     "line 2, column 5: ", "rules[0]: action is required"},
    {"unknown action", "rules:\n  - name: r1\n    host_from: [h]\n    action: nuke\n",
     "line 4, column 13: ", "rules[0].action: unknown action 'nuke'"},
    {"shutdown is never automated",
     "rules:\n  - name: r1\n    host_from: [h]\n    action: shutdown\n",
     "line 4, column 13: ", "shutdown and imaging are never automated"},
    {"image is never automated", "rules:\n  - name: r1\n    host_from: [h]\n    action: image\n",
     "line 4, column 13: ", "image: shutdown and imaging are never automated"},
    {"with key of another action",
     "rules:\n  - name: r1\n    host_from: [h]\n    action: isolate\n    with: {user_from: u}\n",
     "line 5, column 12: ", "'user_from' is not an argument of isolate (it takes allow)"},
    {"collect takes no arguments",
     "rules:\n  - name: r1\n    host_from: [h]\n    action: collect\n    with:\n      allow: []\n",
     "line 6, column 7: ", "'allow' is not an argument of collect (it takes none)"},
    {"empty with key",
     "rules:\n  - name: r1\n    host_from: [h]\n    action: collect\n"
     "    with: {'': x}\n",
     "line 5, column 12: ", "'' is not an argument of collect"},
    {"kill-sessions without user_from",
     "rules:\n  - name: r1\n    host_from: [h]\n    action: kill-sessions\n",
     "line 2, column 5: ", "kill-sessions needs with: {user_from: LABEL}"},
    {"block without address_from",
     "rules:\n  - name: r1\n    host_from: [h]\n    action: block\n    with: {}\n",
     "line 5, column 11: ", "block needs with: {address_from: LABEL}"},
    {"timed release",
     "rules:\n  - name: r1\n    host_from: [h]\n    action: block\n"
     "    with:\n      address_from: src_ip\n      for: 24h\n",
     "line 7, column 7: ", "timed release (for) is not supported yet"},
    {"bad allow entry",
     "rules:\n  - name: r1\n    host_from: [h]\n    action: isolate\n"
     "    with: {allow: [198.51.100.7/24]}\n",
     "line 5, column 20: ", "rules[0].with.allow[0]: bad allow entry '198.51.100.7/24'"},
    {"unknown mode", "rules:\n" + rule("r1", "    mode: yolo\n"),
     "line 5, column 11: ", "unknown mode 'yolo' (dry-run | approve | enforce)"},
    {"match not a list", "rules:\n" + rule("r1", "    match: severity=\"x\"\n"),
     "line 5, column 12: ", "rules[0].match: expected a list"},
    {"bad duration", "guardrails:\n  window: 10 minutes\n",
     "line 2, column 11: ", "guardrails.window: invalid duration '10 minutes'"},
    {"duration out of range", "guardrails:\n  cooldown: 400d\n",
     "line 2, column 13: ", "out of range (1s to 30d)"},
    {"negative count", "guardrails:\n  max_isolations: -1\n", "line 2, column 19: ",
     "guardrails.max_isolations: expected a whole number from 0 to 1000000, found '-1'"},
    {"count too big", "guardrails:\n  max_blocks: 99999999999\n",
     "line 2, column 15: ", "expected a whole number"},
    {"unknown guardrail", "guardrails:\n  max_isolation: 3\n",
     "line 2, column 3: ", "guardrails: unknown key 'max_isolation'"},
    {"bad protected host", "guardrails:\n  protected_hosts: [ok, \"-bad\"]\n",
     "line 2, column 25: ", "guardrails.protected_hosts[1]: '-bad' is not a host id"},
    {"bad never_block", "guardrails:\n  never_block:\n    - 10.0.0.0/33\n",
     "line 3, column 7: ", "guardrails.never_block[0]: bad address or CIDR '10.0.0.0/33'"},
    {"never_block twice", "guardrails:\n  never_block: [10.0.0.0/8, 10.0.0.0/8]\n",
     "line 2, column 29: ", "'10.0.0.0/8' is listed twice"},
    {"http notify", "notify:\n  - url: http://chat.example.net/hook\n",
     "line 2, column 10: ", "notify[0].url: 'http://chat.example.net/hook' is not an https:// URL"},
    {"notify credentials", "notify:\n  - url: https://bot:secret@chat.example.net/\n",
     "line 2, column 10: ", "credentials in the URL"},
    {"notify unknown key", "notify:\n  - url: https://a.example/\n    secret: x\n",
     "line 3, column 5: ", "notify[0]: unknown key 'secret' (known: url)"},
    {"too many notify targets",
     "notify:\n" + std::string("  - url: https://a.example/1\n  - url: https://a.example/2\n"
                               "  - url: https://a.example/3\n  - url: https://a.example/4\n"
                               "  - url: https://a.example/5\n  - url: https://a.example/6\n"
                               "  - url: https://a.example/7\n  - url: https://a.example/8\n"
                               "  - url: https://a.example/9\n"),
     "line 10, column 5: ", "notify: more than 8 items"},
    {"duplicate key",
     "rules:\n  - name: r1\n    name: r2\n    host_from: [h]\n    action: collect\n",
     "line 3, column 5: ", "rules[0]: duplicate key 'name'"},
    {"rules not a list", "rules: {name: r1}\n", "line 1, column 8: ", "rules: expected a list"},
    {"top level not a map", "- name: r1\n",
     "line 1, column 1: ", "expected a map with rules, guardrails and notify"},
    {"YAML syntax", "rules:\n  - name: r1\n   host_from: [h]\n", "line 3, column ", ""},
    {"anchor", "rules:\n  - &r\n    name: r1\n    host_from: [h]\n    action: collect\n",
     "line 2, column 5: ", "anchors (&) and aliases (*) are not allowed"},
    {"alias", "x: &a [1]\nrules: *a\n", "line 1, column 4: ", "anchors (&) and aliases (*)"},
    {"tag", "rules:\n  - name: !!str r1\n",
     "line 2, column 11: ", "YAML tags (tag:yaml.org,2002:str)"},
    {"second document", "rules: []\n---\nrules: []\n", "line 2, column 1: ", "one YAML document"},
    {"deep nesting", "rules: " + std::string(100, '[') + std::string(100, ']') + "\n",
     "line 1, column 17: ", "nested deeper than 10 levels"},
    {"control character", "rules: []\n# a\x1b[2Jcomment\n",
     "line 2, column 4: ", "control character \\x1b"},
    {"not UTF-8", "rules: []\n# caf\xe9\n", "line 2, column 6: ", "not valid UTF-8"},
    {"UTF-16", std::string("\xff\xfer\0u\0", 6), "line 1, column 1: ", "not valid UTF-8"},
    {"too big", "rules: []\n#" + std::string(kMaxRulesFileBytes, 'x') + "\n",
     "line 1, column 1: ", "at most 262144"},
};

INSTANTIATE_TEST_SUITE_P(Errors, ParseRulesErrorCases, ::testing::ValuesIn(kErrorCases),
                         [](const auto& info) {
                           std::string name = info.param.what;
                           for (char& c : name) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return name;
                         });

TEST(ParseRulesErrors, TooManyRules) {
  std::string yaml = "rules:\n";
  for (std::size_t i = 0; i <= kMaxRules; ++i) yaml += rule(absl::StrCat("r", i));
  EXPECT_EQ(errorOf(yaml), "line 770, column 5: rules: more than 256 items");
  // Exactly the bound is fine.
  yaml = "rules:\n";
  for (std::size_t i = 0; i < kMaxRules; ++i) yaml += rule(absl::StrCat("r", i));
  EXPECT_EQ(mustParse(yaml).rules.size(), kMaxRules);
}

TEST(ParseRulesErrors, TooManyMatchers) {
  std::string match = "    match:\n";
  for (int i = 0; i < 64; ++i) match += absl::StrCat("      - l", i, "=\"v\"\n");
  EXPECT_EQ(mustParse("rules:\n" + rule("r1", match)).rules[0].match.size(), 64u);
  match += "      - one=\"more\"\n";
  EXPECT_EQ(errorOf("rules:\n" + rule("r1", match)),
            "line 70, column 9: rules[0].match: more than 64 items");
}

TEST(ParseRulesErrors, RegexSizeIsBoundedAcrossTheFile) {
  // Each regex alone is within RE2's memory bound (32002 instructions); 66 of them are not.
  const std::string big = "      - a=~\".{1000}.{1000}.{1000}.{1000}\"\n";
  std::string match = "    match:\n";
  for (int i = 0; i < 64; ++i) match += big;
  std::string yaml = "rules:\n" + rule("r1", match);
  EXPECT_EQ(mustParse(yaml).rules[0].match[0].programSize(), 32002);
  yaml += rule("r2", "    match:\n" + big + big);
  EXPECT_EQ(errorOf(yaml),
            "line 75, column 9: rules[1].match[1]: the file's regular expressions together are "
            "too large (more than 2097152 RE2 instructions)");
}

TEST(ParseRulesErrors, OneBadRuleRefusesTheWholeFile) {
  std::string yaml = "rules:\n";
  for (int i = 0; i < 10; ++i) yaml += rule(absl::StrCat("good-", i), "    mode: enforce\n");
  yaml += rule("bad", "    match: ['severity=~\"crit(\"']\n");  // lines 42-45
  for (int i = 10; i < 20; ++i) yaml += rule(absl::StrCat("good-", i), "    mode: enforce\n");
  const std::string message = errorOf(yaml);
  EXPECT_THAT(message, StartsWith("line 45, column 13: rules[10].match[0]: bad matcher"));
  EXPECT_THAT(message, HasSubstr("missing ): crit("));
}

TEST(ParseRulesErrors, ErrorsQuoteHostileTextSafely) {
  const std::string message = errorOf("rules:\n" + rule("r1", "    mode: \"\\e[2J\\u202e\"\n"));
  EXPECT_THAT(message, HasSubstr("unknown mode '\\x1b[2J\\xe2\\x80\\xae'"));
}

TEST(ParseRulesErrors, BillionLaughsIsRefusedBeforeAnyWalk) {
  std::string yaml = "a: &a [x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    yaml += absl::StrCat(std::string(1, c), ": &", std::string(1, c), " [*", std::string(1, c - 1),
                         ", *", std::string(1, c - 1), ", *", std::string(1, c - 1), "]\n");
  }
  yaml += "rules: *j\n";
  EXPECT_THAT(errorOf(yaml), StartsWith("line 1, column 4: "));
}

}  // namespace
}  // namespace warden
