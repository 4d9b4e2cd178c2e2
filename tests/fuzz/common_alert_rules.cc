// The alert rules file (common/alerts/rules.h) and the label matchers in it (matcher.h): the
// whole input is read both as a rules file and as one matcher. No exception leaves either; an
// error is InvalidArgument and names a line and column; an accepted matcher prints as text that
// parses back to the same matcher (and matches alike); an accepted rule set holds every bound
// and every rule only what its action takes, in canonical form.
#include <cctype>
#include <map>
#include <set>
#include <string>

#include "common/alerts/matcher.h"
#include "common/alerts/rules.h"
#include "common/net.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace warden;

constexpr std::int64_t kDayMs = 24 * 60 * 60 * 1000;

void checkRoundTrip(const Matcher& m) {
  const std::string printed = m.toString();
  auto again = Matcher::parse(printed);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->name() == m.name() && again->op() == m.op() && again->value() == m.value());
  FUZZ_CHECK(again->toString() == printed);
  const std::map<std::string, std::string> samples[] = {
      {}, {{m.name(), m.value()}}, {{m.name(), ""}}, {{m.name(), "x" + m.value()}}};
  for (const auto& labels : samples) FUZZ_CHECK(again->matches(labels) == m.matches(labels));
  // Equality matchers mean exactly what they say.
  const std::map<std::string, std::string> same = {{m.name(), m.value()}};
  if (m.op() == Matcher::Op::kEqual) FUZZ_CHECK(m.matches(same));
  if (m.op() == Matcher::Op::kNotEqual) FUZZ_CHECK(!m.matches(same));
}

// "line L, column C: " with L, C >= 1.
bool startsWithPosition(std::string_view message) {
  int line = 0;
  int column = 0;
  int used = 0;
  const std::string text(message.substr(0, 64));
  return std::sscanf(text.c_str(), "line %d, column %d: %n", &line, &column, &used) == 2 &&
         used > 0 && line >= 1 && column >= 1;
}

bool validName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return n[0] != '.' && n[0] != '_' && n[0] != '-';
}

void checkRuleSet(const RuleSet& set, std::size_t input_size) {
  FUZZ_CHECK(input_size <= kMaxRulesFileBytes);
  FUZZ_CHECK(set.rules.size() <= kMaxRules);
  std::set<std::string> names;
  std::int64_t program_total = 0;
  for (const AlertRule& r : set.rules) {
    FUZZ_CHECK(validName(r.name));
    FUZZ_CHECK(names.insert(r.name).second);
    FUZZ_CHECK(r.line >= 1);
    FUZZ_CHECK(r.formats.size() <= 3);
    FUZZ_CHECK(std::set<AlertFormat>(r.formats.begin(), r.formats.end()).size() ==
               r.formats.size());
    FUZZ_CHECK(r.senders.size() <= 64);
    for (const std::string& s : r.senders) FUZZ_CHECK(validName(s));
    FUZZ_CHECK(r.match.size() <= 64);
    for (const Matcher& m : r.match) {
      checkRoundTrip(m);
      program_total += m.programSize();
    }
    FUZZ_CHECK(!r.host_from.empty() && r.host_from.size() <= 16);
    for (const std::string& h : r.host_from) FUZZ_CHECK(!h.empty() && h.size() <= kMaxLabelBytes);
    FUZZ_CHECK(r.action == "isolate" || r.action == "kill-sessions" || r.action == "block" ||
               r.action == "collect");
    FUZZ_CHECK(r.allow.empty() || r.action == "isolate");
    FUZZ_CHECK(r.allow.size() <= 64);
    for (const std::string& a : r.allow) {
      auto entry = AllowEntry::parse(a);
      FUZZ_CHECK(entry.ok() && entry->toString() == a);
    }
    FUZZ_CHECK(r.user_from.empty() == (r.action != "kill-sessions"));
    FUZZ_CHECK(r.address_from.empty() == (r.action != "block"));
    FUZZ_CHECK(r.mode == RuleMode::kDryRun || r.mode == RuleMode::kApprove ||
               r.mode == RuleMode::kEnforce);
  }
  FUZZ_CHECK(program_total <= (1 << 21));
  const Guardrails& g = set.guardrails;
  for (std::int64_t ms :
       {g.window_ms, g.cooldown_ms, g.dedupe_ms, g.max_alert_age_ms, g.approval_ttl_ms}) {
    FUZZ_CHECK(ms >= 1000 && ms <= 30 * kDayMs);
  }
  for (std::uint32_t n : {g.max_isolations, g.max_hosts_per_alert, g.max_blocks}) {
    FUZZ_CHECK(n <= 1'000'000);
  }
  FUZZ_CHECK(g.protected_hosts.size() <= 1024 && g.never_block.size() <= 1024);
  for (const std::string& p : g.never_block) {
    auto prefix = IpPrefix::parse(p);
    FUZZ_CHECK(prefix.ok() && prefix->toString() == p);
  }
  FUZZ_CHECK(set.notify.size() <= 8);
  for (const NotifyTarget& t : set.notify) {
    FUZZ_CHECK(t.url.size() > 8 && t.url.size() <= 2048);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::asText(data, size);

  auto set = parseRules(text);
  if (set.ok()) {
    checkRuleSet(*set, size);
  } else {
    FUZZ_CHECK(set.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(startsWithPosition(std::string(set.status().message())));
  }

  if (auto m = Matcher::parse(text); m.ok()) {
    checkRoundTrip(*m);
  } else {
    FUZZ_CHECK(m.status().code() == absl::StatusCode::kInvalidArgument);
  }
  return 0;
}
