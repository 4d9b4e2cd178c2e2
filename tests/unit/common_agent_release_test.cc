// A release the agent makes by itself at the end of `isolate --for` (common/audit/
// agent_release.h): its strict encoding, the isolate duration argument, and the verifier's
// rule — the agent's own signature, an isolation with a duration dispatched to that host and
// answered, once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/audit/agent_release.h"
#include "tests/unit/standard_audit_log.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

AgentRelease sampleRelease(const std::string& host, const std::string& command) {
  AgentRelease r;
  r.host_id = host;
  r.cause = kTimedRelease;
  r.command_id = command;
  r.deadline_unix_ms = 1'763'700'003'000;
  r.released_unix_ms = 1'763'700'003'400;
  r.released = true;
  r.message = "released: the isolation's duration ran out";
  return r;
}

TEST(AgentRelease, RoundTripAndStrictness) {
  const AgentRelease r = sampleRelease("host-2", "a-1");
  const std::string bytes = encodeAgentRelease(r);
  auto back = decodeAgentRelease(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->host_id, "host-2");
  EXPECT_EQ(back->command_id, "a-1");
  EXPECT_TRUE(back->released);
  EXPECT_EQ(encodeAgentRelease(*back), bytes);
  EXPECT_FALSE(decodeAgentRelease(bytes + "x").ok());
  EXPECT_FALSE(decodeAgentRelease(bytes.substr(0, bytes.size() - 1)).ok());
  AgentRelease other = r;
  other.cause = "operator";
  EXPECT_THAT(decodeAgentRelease(encodeAgentRelease(other)).status().message(),
              HasSubstr("unknown cause"));
}

TEST(AgentRelease, IsolateDuration) {
  EXPECT_EQ(*isolateForMs({}), 0);
  EXPECT_EQ(*isolateForMs({"for_ms=1000"}), 1000);
  EXPECT_EQ(*isolateForMs({"for_ms=2592000000"}), 2'592'000'000);
  for (const auto& bad : std::vector<std::vector<std::string>>{{"for_ms=999"},
                                                               {"for_ms=2592000001"},
                                                               {"for_ms=0"},
                                                               {"for_ms=-1000"},
                                                               {"for_ms=1e4"},
                                                               {"for_ms= 1000"},
                                                               {"for_ms="},
                                                               {"for_ms=99999999999999999999"},
                                                               {"for_ms=1000", "for_ms=2000"},
                                                               {"allow=1"}}) {
    EXPECT_FALSE(isolateForMs(bad).ok()) << bad[0];
  }
}

TEST_F(AuditVerifyTest, AgentReleaseRules) {
  const Keys& k = keys();
  // Bob's isolation of host-2, with a duration or not, dispatched and (or not) answered.
  const auto isolate = [&](LogBuilder& b, bool timed, bool answered) {
    Request q = LogBuilder::makeRequest("bob", "r-00000000000000f1", "isolate", {"host-2"});
    if (timed) q.args = {"for_ms=3000"};
    b.request(k.bob, q);
    Command c = b.command("a-00000000000000f1", "host-2", "isolate", "bob");
    c.args = q.args;
    b.dispatch(c, "r-00000000000000f1");
    if (answered) b.receipt("a-00000000000000f1", "host-2", "isolate", k.host2);
  };
  const auto failedIsolation = [&](LogBuilder& b) {
    isolate(b, true, false);
    Receipt r;
    r.command_id = "a-00000000000000f1";
    r.host_id = "host-2";
    r.kind = "isolate";
    r.status = ReceiptStatus::kFailed;
    r.message = "controller unreachable after isolating; rolled back";
    const std::string body = encodeReceipt(r);
    b.add(makeEntry(entry_type::kReceipt, "agent:host-2", "host-2", r.command_id, body,
                    mustSign(k.host2, body)));
  };
  const auto release = [&](LogBuilder& b, const std::string& host, const crypto::Ed25519Key& key,
                           const std::string& command, bool released = true) {
    AgentRelease record = sampleRelease(host, command);
    record.released = released;
    const std::string body = encodeAgentRelease(record);
    b.add(makeEntry(entry_type::kAgentRelease, "agent:" + host, host, command, body,
                    mustSign(key, body)));
  };
  const std::vector<RuleCase> cases = {
      {"the end of a timed isolation",
       [&](LogBuilder& b) {
         isolate(b, true, true);
         release(b, "host-2", k.host2, "a-00000000000000f1");
       },
       ""},
      {"twice",
       [&](LogBuilder& b) {
         isolate(b, true, true);
         release(b, "host-2", k.host2, "a-00000000000000f1");
         release(b, "host-2", k.host2, "a-00000000000000f1");
       },
       "already ended with a timed release"},
      {"an isolation without a duration",
       [&](LogBuilder& b) {
         isolate(b, false, true);
         release(b, "host-2", k.host2, "a-00000000000000f1");
       },
       "not an isolation with a duration"},
      {"before the isolation's receipt",
       [&](LogBuilder& b) {
         isolate(b, true, false);
         release(b, "host-2", k.host2, "a-00000000000000f1");
       },
       "has no receipt before its timed release"},
      {"another host's isolation",
       [&](LogBuilder& b) {
         isolate(b, true, true);
         release(b, "host-1", k.host1, "a-00000000000000f1");
       },
       "was dispatched to host-2, not host-1"},
      {"signed by another key",
       [&](LogBuilder& b) {
         isolate(b, true, true);
         release(b, "host-2", k.host1, "a-00000000000000f1");
       },
       "signature"},
      {"an isolation that failed",
       [&](LogBuilder& b) {
         failedIsolation(b);
         release(b, "host-2", k.host2, "a-00000000000000f1");
       },
       "did not succeed"},
      {"a release that failed",
       [&](LogBuilder& b) {
         isolate(b, true, true);
         release(b, "host-2", k.host2, "a-00000000000000f1", false);
       },
       "says it failed"},
      {"no such command",
       [&](LogBuilder& b) { release(b, "host-2", k.host2, "a-00000000000000f9"); },
       "was not dispatched before it"},
  };
  checkCases(cases, [&](const auto& extra) { return verifyBuilt(extra); });
}

}  // namespace
}  // namespace warden::testing
