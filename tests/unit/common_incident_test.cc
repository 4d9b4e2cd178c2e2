// Incident requests (common/audit/incident.h): strict parsing of what each kind takes, valid
// codenames and ids, and generated codenames that are innocuous and varied; requests and
// commands carry the incident from version 2 on and still read version 1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "common/audit/incident.h"
#include "common/audit/request.h"
#include "common/command.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

Request requestOf(const std::string& kind, std::vector<std::string> args) {
  Request r;
  r.kind = kind;
  r.args = std::move(args);
  return r;
}

TEST(IncidentChange, OpenCloseAndNoteRoundTrip) {
  for (const IncidentChange& c :
       {IncidentChange{kIncidentOpenKind, "i-0123456789abcdef", "sapphire-unicorn", 2,
                       "web, = and newlines\nare fine", ""},
        IncidentChange{kIncidentOpenKind, "i-0123456789abcdef", "quiet-harbor", 5, "", ""},
        IncidentChange{kIncidentCloseKind, "i-0123456789abcdef", "", 0, "", ""},
        IncidentChange{kIncidentNoteKind, "i-0123456789abcdef", "", 0, "", "a=b, c"}}) {
    auto back = incidentChangeOf(requestOf(c.kind, incidentChangeArgs(c)));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->kind, c.kind);
    EXPECT_EQ(back->id, c.id);
    EXPECT_EQ(back->codename, c.codename);
    EXPECT_EQ(back->severity, c.severity);
    EXPECT_EQ(back->summary, c.summary);
    EXPECT_EQ(back->text, c.text);
  }
}

TEST(IncidentChange, RefusesWhatItsKindDoesNotTake) {
  const std::string id = "id=i-0123456789abcdef";
  struct Case {
    Request r;
    const char* error;
  };
  Request with_host = requestOf(kIncidentCloseKind, {id});
  with_host.hosts = {"host-42"};
  Request with_incident = requestOf(kIncidentCloseKind, {id});
  with_incident.incident = "i-0123456789abcdef";
  for (const Case& c : std::vector<Case>{
           {requestOf("isolate", {id}), "not an incident change"},
           {with_host, "names no hosts"},
           {with_incident, "names no hosts, addresses or incident"},
           {requestOf(kIncidentCloseKind, {id, "codename=x-y"}), "bad incident-close argument"},
           {requestOf(kIncidentCloseKind, {id, id}), "bad incident-close argument"},
           {requestOf(kIncidentCloseKind, {"id"}), "bad incident-close argument"},
           {requestOf(kIncidentCloseKind, {}), "invalid incident id"},
           {requestOf(kIncidentCloseKind, {"id=i-0123456789ABCDEF"}), "invalid incident id"},
           {requestOf(kIncidentCloseKind, {"id=i-0123"}), "invalid incident id"},
           {requestOf(kIncidentOpenKind, {id, "severity=2"}), "invalid codename"},
           {requestOf(kIncidentOpenKind, {id, "codename=A-b", "severity=2"}), "invalid codename"},
           {requestOf(kIncidentOpenKind, {id, "codename=good-name"}), "needs a severity"},
           {requestOf(kIncidentOpenKind, {id, "codename=good-name", "severity=6"}),
            "invalid severity"},
           {requestOf(kIncidentOpenKind, {id, "codename=good-name", "severity=12"}),
            "invalid severity"},
           {requestOf(kIncidentOpenKind, {id, "codename=good-name", "severity=1",
                                          "summary=" + std::string(5000, 'x')}),
            "summary is too long"},
           {requestOf(kIncidentNoteKind, {id}), "a note needs text"},
           {requestOf(kIncidentNoteKind, {id, "text="}), "a note needs text"},
       }) {
    auto got = incidentChangeOf(c.r);
    ASSERT_FALSE(got.ok()) << c.error;
    EXPECT_THAT(got.status().message(), HasSubstr(c.error));
  }
}

TEST(Codename, ValidOnesAreLowerCaseWordsJoinedByDashes) {
  for (const char* good : {"sapphire-unicorn", "abc", "a-b-c", "quiet-harbor-two"}) {
    EXPECT_TRUE(validCodename(good).ok()) << good;
  }
  for (const char* bad : {"", "ab", "-abc", "abc-", "a--b", "Sapphire", "a b", "a_b", "../x", "a/b",
                          "ab1", "émile", "abcdefghijklmnopqrstuvwxyzabcdefghijklmno"}) {
    EXPECT_FALSE(validCodename(bad).ok()) << bad;
  }
}

TEST(Codename, GeneratedOnesAreValidVariedAndInnocuous) {
  EXPECT_GE(codenameCount(), 5000u);
  std::set<std::string> seen;
  std::mt19937 random_bits(7);
  for (int i = 0; i < 20000; ++i) {
    const std::uint32_t v = static_cast<std::uint32_t>(random_bits());
    const std::string random = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                                static_cast<char>(v >> 8), static_cast<char>(v)};
    const std::string name = codenameFrom(random);
    ASSERT_TRUE(validCodename(name).ok()) << name;
    seen.insert(name);
    for (const char* alarming : {"kill",  "dead", "death", "attack", "bomb",  "breach", "virus",
                                 "hack",  "war",  "blood", "fire",   "evil",  "dark",   "black",
                                 "panic", "doom", "crash", "burn",   "toxic", "storm"}) {
      for (const auto& word : {name.substr(0, name.find('-')), name.substr(name.find('-') + 1)}) {
        EXPECT_NE(word, alarming) << name;
      }
    }
  }
  EXPECT_GT(seen.size(), 4000u);
}

TEST(RequestVersions, Version2CarriesTheIncidentAndVersion1StillReads) {
  Request r;
  r.id = "r-0123456789abcdef";
  r.operator_name = "alice";
  r.kind = "isolate";
  r.hosts = {"host-42"};
  r.incident = "i-0123456789abcdef";
  auto back = decodeRequest(encodeRequest(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 2u);
  EXPECT_EQ(back->incident, r.incident);
  Request old = r;
  old.version = 1;
  const std::string v1 = encodeRequest(old);
  EXPECT_EQ(v1.find("i-0123456789abcdef"), std::string::npos) << "version 1 has no incident";
  auto read = decodeRequest(v1);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->version, 1u);
  EXPECT_TRUE(read->incident.empty());
  EXPECT_EQ(encodeRequest(*read), v1);
}

TEST(CommandVersions, Version2CarriesTheIncidentAndNoReason) {
  Command c;
  c.id = "a-1";
  c.host_id = "host-42";
  c.kind = "isolate";
  c.incident = "i-0123456789abcdef";
  c.reason = "never sent";
  const std::string v2 = encodeCommand(c);
  EXPECT_EQ(v2.find("never sent"), std::string::npos);
  auto back = decodeCommand(v2);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->incident, c.incident);
  EXPECT_TRUE(back->reason.empty());
  Command old = c;
  old.version = 1;
  old.incident.clear();
  old.reason = "from an older controller";
  auto read = decodeCommand(encodeCommand(old));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->version, 1u);
  EXPECT_EQ(read->reason, "from an older controller");
  EXPECT_TRUE(read->incident.empty());
}

}  // namespace
}  // namespace warden
