// common/alerts/matcher.h: Alertmanager's matcher syntax, RE2 anchored, missing labels as "".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/alerts/matcher.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using Labels = std::map<std::string, std::string>;

Matcher mustParse(std::string_view text) {
  auto m = Matcher::parse(text);
  EXPECT_TRUE(m.ok()) << text << ": " << m.status();
  if (!m.ok()) return *Matcher::parse("never=\"parsed\"");
  return *m;
}

std::string parseError(std::string_view text) {
  auto m = Matcher::parse(text);
  EXPECT_FALSE(m.ok()) << text << " parsed as " << (m.ok() ? m->toString() : "");
  return m.ok() ? "" : std::string(m.status().message());
}

// ---- syntax ------------------------------------------------------------------------------

TEST(MatcherParse, TheFourOperators) {
  const Matcher eq = mustParse(R"(alertname="SSHBruteForce")");
  EXPECT_EQ(eq.name(), "alertname");
  EXPECT_EQ(eq.op(), Matcher::Op::kEqual);
  EXPECT_EQ(eq.value(), "SSHBruteForce");
  EXPECT_EQ(mustParse(R"(severity!="info")").op(), Matcher::Op::kNotEqual);
  EXPECT_EQ(mustParse(R"(severity=~"critical|page")").op(), Matcher::Op::kRegex);
  EXPECT_EQ(mustParse(R"(severity!~"info|none")").op(), Matcher::Op::kNotRegex);
}

TEST(MatcherParse, SpacesAroundTheOperatorAndTheWhole) {
  const Matcher m = mustParse("  severity   =~ \t \"critical\"  ");
  EXPECT_EQ(m.name(), "severity");
  EXPECT_EQ(m.op(), Matcher::Op::kRegex);
  EXPECT_EQ(m.value(), "critical");
  // Inside the quotes, spaces are the value's own.
  EXPECT_EQ(mustParse(R"(a=" x ")").value(), " x ");
}

TEST(MatcherParse, UnquotedValueRunsToTheEndTrimmed) {
  const Matcher m = mustParse("job = node exporter  ");
  EXPECT_EQ(m.value(), "node exporter");
  EXPECT_EQ(mustParse("a=").value(), "");
  EXPECT_EQ(mustParse("a=\"\"").value(), "");
  EXPECT_EQ(mustParse("a!=b").op(), Matcher::Op::kNotEqual);
}

TEST(MatcherParse, GoEscapesInQuotedValues) {
  EXPECT_EQ(mustParse(R"(a="say \"hi\"")").value(), "say \"hi\"");
  EXPECT_EQ(mustParse(R"(a="back\\slash")").value(), "back\\slash");
  EXPECT_EQ(mustParse(R"(a="two\nlines")").value(), "two\nlines");
  EXPECT_EQ(mustParse(R"(a="tab\there")").value(), "tab\there");
  // Any other backslash stays, as in Alertmanager, so regular expressions read naturally.
  EXPECT_EQ(mustParse(R"(instance=~"host-\d+\.example\.org")").value(),
            R"(host-\d+\.example\.org)");
}

TEST(MatcherParse, FalcoOutputFieldNames) {
  EXPECT_EQ(mustParse(R"(output_fields.proc.name="bash")").name(), "output_fields.proc.name");
  EXPECT_EQ(mustParse(R"(output_fields.ka.uri.param[command]="sh")").name(),
            "output_fields.ka.uri.param[command]");
  EXPECT_EQ(mustParse(R"(output_fields.proc.aname[2]=~"ssh.*")").name(),
            "output_fields.proc.aname[2]");
  // Prometheus's colon, and anything else in double quotes (Alertmanager 0.27's UTF-8 names).
  EXPECT_EQ(mustParse(R"(job:rate="1")").name(), "job:rate");
  const Matcher q = mustParse(R"("output_fields.k8s.pod.label[app.kubernetes.io/name]"="web")");
  EXPECT_EQ(q.name(), "output_fields.k8s.pod.label[app.kubernetes.io/name]");
  EXPECT_EQ(q.value(), "web");
}

TEST(MatcherParse, RefusesWhatIsNotAMatcher) {
  EXPECT_THAT(parseError(""), HasSubstr("expected name"));
  EXPECT_THAT(parseError("severity"), HasSubstr("expected name"));
  EXPECT_THAT(parseError("severity ~= \"x\""), HasSubstr("expected name"));
  EXPECT_THAT(parseError("=\"x\""), HasSubstr("missing label name"));
  EXPECT_THAT(parseError("1abc=\"x\""), HasSubstr("bad label name"));
  EXPECT_THAT(parseError("se-verity=\"x\""), HasSubstr("bad label name"));
  EXPECT_THAT(parseError("\"\"=\"x\""), HasSubstr("empty label name"));
  EXPECT_THAT(parseError("\"abc=\"x\""), HasSubstr("expected name"));
  EXPECT_THAT(parseError("\"abc=x"), HasSubstr("no closing double quote"));
  EXPECT_THAT(parseError("a=\"x"), HasSubstr("no closing double quote"));
  EXPECT_THAT(parseError("a=\"x\\\""), HasSubstr("no closing double quote"));
  EXPECT_THAT(parseError("a=\"x\"y\""), HasSubstr("unescaped double quote"));
  EXPECT_THAT(parseError("a=\"x\" y"), HasSubstr("unescaped double quote"));
  EXPECT_THAT(parseError("a=x\"y"), HasSubstr("unescaped double quote"));
  EXPECT_THAT(parseError("a=\"\xff\""), HasSubstr("UTF-8"));
  EXPECT_THAT(parseError("a=" + std::string(5000, 'x')), HasSubstr("longer than 4096"));
}

TEST(MatcherParse, InvalidRegexIsRe2sMessage) {
  EXPECT_EQ(parseError(R"(severity=~"(critical")"), "missing ): (critical");
  EXPECT_THAT(parseError(R"(a!~"[z-a]")"), HasSubstr("invalid character class range"));
  // A value that would close the anchoring group is refused, not matched unanchored.
  EXPECT_THAT(parseError(R"(a=~"x)|(y")"), HasSubstr("unexpected )"));
  // RE2's memory bound: a pattern that would need more is refused.
  EXPECT_EQ(parseError(R"(a=~"\pL{1000}")"), "pattern too large - compile failed");
  // Not a regex: the same text is a plain value.
  EXPECT_EQ(mustParse(R"(a="(critical")").value(), "(critical");
}

// ---- matching ----------------------------------------------------------------------------

TEST(MatcherMatches, EqualAndNotEqual) {
  const Labels l = {{"alertname", "SSHBruteForce"}, {"severity", "critical"}};
  EXPECT_TRUE(mustParse(R"(alertname="SSHBruteForce")").matches(l));
  EXPECT_FALSE(mustParse(R"(alertname="SSHBruteforce")").matches(l));
  EXPECT_FALSE(mustParse(R"(alertname="SSHBrute")").matches(l));
  EXPECT_TRUE(mustParse(R"(severity!="info")").matches(l));
  EXPECT_FALSE(mustParse(R"(severity!="critical")").matches(l));
}

TEST(MatcherMatches, RegexIsAnchoredAtBothEnds) {
  const Labels l = {{"severity", "critical"}};
  EXPECT_FALSE(mustParse(R"(severity=~"crit")").matches(l));
  EXPECT_FALSE(mustParse(R"(severity=~"ritical")").matches(l));
  EXPECT_TRUE(mustParse(R"(severity=~"crit.*")").matches(l));
  EXPECT_TRUE(mustParse(R"(severity=~"critical|page")").matches(l));
  EXPECT_TRUE(mustParse(R"(severity=~"page|critical")").matches(l));
  EXPECT_FALSE(mustParse(R"(severity=~"page|crit")").matches(l));
  // The negation is of the anchored match.
  EXPECT_TRUE(mustParse(R"(severity!~"crit")").matches(l));
  EXPECT_FALSE(mustParse(R"(severity!~"crit.*")").matches(l));
  // $ is the end of the text, not of a line.
  EXPECT_FALSE(mustParse(R"(a=~"x")").matches({{"a", "x\n"}}));
}

TEST(MatcherMatches, MissingLabelIsTheEmptyString) {
  const Labels none;
  EXPECT_TRUE(mustParse(R"(severity!="info")").matches(none));
  EXPECT_FALSE(mustParse(R"(severity="info")").matches(none));
  EXPECT_TRUE(mustParse(R"(severity="")").matches(none));
  EXPECT_TRUE(mustParse(R"(severity=~"info|")").matches(none));
  EXPECT_TRUE(mustParse(R"(severity=~".*")").matches(none));
  EXPECT_FALSE(mustParse(R"(severity=~".+")").matches(none));
  EXPECT_TRUE(mustParse(R"(severity!~".+")").matches(none));
  // An empty value and a missing label match alike.
  EXPECT_TRUE(mustParse(R"(severity="")").matches({{"severity", ""}}));
}

TEST(MatcherMatches, EscapedValuesMatchTheirText) {
  EXPECT_TRUE(mustParse(R"(msg="say \"hi\"")").matches({{"msg", "say \"hi\""}}));
  EXPECT_TRUE(mustParse(R"(instance=~"host-\d+\.example\.org(:\d+)?")")
                  .matches({{"instance", "host-42.example.org:9100"}}));
  EXPECT_FALSE(mustParse(R"(instance=~"host-\d+\.example\.org")")
                   .matches({{"instance", "host-42Xexample.org"}}));
  EXPECT_TRUE(mustParse(R"(output_fields.ka.uri.param[command]="sh")")
                  .matches({{"output_fields.ka.uri.param[command]", "sh"}}));
}

TEST(MatcherMatches, Utf8) {
  EXPECT_TRUE(mustParse("who=~\"caf.\"").matches({{"who", "caf\u00e9"}}));
  EXPECT_TRUE(mustParse("who=\"caf\u00e9\"").matches({{"who", "caf\u00e9"}}));
}

TEST(MatcherProgramSize, OnlyRegexesHaveOne) {
  EXPECT_EQ(mustParse(R"(a="x")").programSize(), 0);
  EXPECT_EQ(mustParse(R"(a!="x")").programSize(), 0);
  EXPECT_GT(mustParse(R"(a=~"x|y")").programSize(), 0);
  EXPECT_GT(mustParse(R"(a=~".{1000}")").programSize(), mustParse(R"(a=~".{10}")").programSize());
}

// ---- toString round-trips ----------------------------------------------------------------

TEST(MatcherToString, CanonicalText) {
  EXPECT_EQ(mustParse("severity =~ critical|page").toString(), R"(severity=~"critical|page")");
  EXPECT_EQ(mustParse("a!=b").toString(), R"(a!="b")");
  EXPECT_EQ(mustParse(R"(a="x\"y\\z")").toString(), R"(a="x\"y\\z")");
  EXPECT_EQ(mustParse("a=\"x\\ny\\tz\"").toString(), "a=\"x\\ny\\tz\"");
  EXPECT_EQ(mustParse(R"(a=~"\d+")").toString(), R"(a=~"\\d+")");
  EXPECT_EQ(mustParse(R"("a b"="c")").toString(), R"("a b"="c")");
  EXPECT_EQ(mustParse(R"("ok_name"="c")").toString(), R"(ok_name="c")");
}

TEST(MatcherToString, RoundTripsThroughParse) {
  const char* texts[] = {
      R"(alertname="SSHBruteForce")",
      R"(severity=~"critical|page")",
      R"(severity!~"(?i)info")",
      R"(a!="")",
      R"(instance=~"host-\d+\.example\.org")",
      R"(a="say \"hi\" \\ \n \t \x ")",
      R"(output_fields.ka.uri.param[command]="sh")",
      R"("odd \"name\" \\ here"!="v")",
      "a=\"caf\u00e9 \r end\"",
      "unquoted = value with spaces",
  };
  for (const char* text : texts) {
    const Matcher m = mustParse(text);
    const std::string printed = m.toString();
    auto again = Matcher::parse(printed);
    ASSERT_TRUE(again.ok()) << text << " -> " << printed << ": " << again.status();
    EXPECT_EQ(again->name(), m.name()) << text;
    EXPECT_EQ(again->op(), m.op()) << text;
    EXPECT_EQ(again->value(), m.value()) << text;
    EXPECT_EQ(again->toString(), printed) << text;
  }
}

}  // namespace
}  // namespace warden
