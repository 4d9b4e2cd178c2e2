// controller/health/host_health.h: unresponsive after three missed intervals (the interval
// the agent announced), tampered when the digest in force differs from the last containment
// receipt's for two heartbeats in a row, healthy again when either is over; rejected
// heartbeats count and change nothing; changes() reports each transition once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/agent_channel/peer_limits.h"
#include "controller/health/host_health.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

const std::string kApplied(64, 'a');
const std::string kOther(64, 'b');

HeartbeatRecord beat(const std::string& digest, std::uint64_t interval_ms = 3000) {
  HeartbeatRecord h;
  h.host_id = "host-42";
  h.interval_ms = interval_ms;
  h.ruleset_sha256 = digest;
  return h;
}

TEST(HostHealth, UnknownUntilTheFirstHeartbeat) {
  HostHealthBook book;
  EXPECT_EQ(book.view("host-42", 1000).health, HostHealth::kUnknown);
  book.heartbeat(beat(kApplied), 1000);
  const HostHealthView v = book.view("host-42", 1000);
  EXPECT_EQ(v.health, HostHealth::kHealthy);
  EXPECT_EQ(v.last_heartbeat_unix_ms, 1000);
  EXPECT_EQ(v.heartbeat_interval_ms, 3000);
}

TEST(HostHealth, UnresponsiveAfterThreeMissedIntervalsAndBackWithTheNextHeartbeat) {
  HostHealthBook book;
  book.heartbeat(beat(kApplied), 10'000);
  EXPECT_EQ(book.view("host-42", 10'000 + 9'000).health, HostHealth::kHealthy);
  const HostHealthView late = book.view("host-42", 10'000 + 9'001);
  EXPECT_EQ(late.health, HostHealth::kUnresponsive);
  EXPECT_THAT(late.detail, HasSubstr("no valid heartbeat for 9.0 s"));
  book.heartbeat(beat(kApplied), 30'000);
  EXPECT_EQ(book.view("host-42", 30'000).health, HostHealth::kHealthy);
}

TEST(HostHealth, TheAnnouncedIntervalSetsTheDeadline) {
  HostHealthBook book;
  book.heartbeat(beat(kApplied, 500), 0 + 1);
  EXPECT_EQ(book.view("host-42", 1 + 1'501).health, HostHealth::kUnresponsive);
}

TEST(HostHealth, TamperedWhenTheDigestDiffersTwiceInARowFromTheLastReceipt) {
  HostHealthBook book;
  book.expectRuleset("host-42", kApplied, "a-1");
  book.heartbeat(beat(kApplied), 1000);
  EXPECT_EQ(book.view("host-42", 1000).health, HostHealth::kHealthy);
  EXPECT_THAT(book.view("host-42", 1000).detail, HasSubstr("a-1"));
  // One alone may have been taken between a change and its receipt.
  book.heartbeat(beat(kOther), 4000);
  EXPECT_EQ(book.view("host-42", 4000).health, HostHealth::kHealthy);
  book.heartbeat(beat(kOther), 7000);
  const HostHealthView v = book.view("host-42", 7000);
  EXPECT_EQ(v.health, HostHealth::kTampered);
  EXPECT_THAT(v.detail, HasSubstr(kOther.substr(0, 16)));
  EXPECT_THAT(v.detail, HasSubstr("action a-1"));
  // The rules come back as applied: healthy again.
  book.heartbeat(beat(kApplied), 10'000);
  EXPECT_EQ(book.view("host-42", 10'000).health, HostHealth::kHealthy);
}

TEST(HostHealth, ADigestTheAgentCouldNotTakeCountsAsDifferent) {
  HostHealthBook book;
  book.expectRuleset("host-42", kApplied, "a-1");
  HeartbeatRecord h = beat("");
  h.ruleset_error = "table inet warden is missing";
  book.heartbeat(h, 1000);
  book.heartbeat(h, 4000);
  const HostHealthView v = book.view("host-42", 4000);
  EXPECT_EQ(v.health, HostHealth::kTampered);
  EXPECT_THAT(v.detail, HasSubstr("table inet warden is missing"));
}

TEST(HostHealth, ANewReceiptBecomesTheExpectation) {
  HostHealthBook book;
  book.expectRuleset("host-42", kApplied, "a-1");
  book.heartbeat(beat(kOther), 1000);
  book.heartbeat(beat(kOther), 4000);
  ASSERT_EQ(book.view("host-42", 4000).health, HostHealth::kTampered);
  book.expectRuleset("host-42", kOther, "a-2");
  book.heartbeat(beat(kOther), 7000);
  EXPECT_EQ(book.view("host-42", 7000).health, HostHealth::kHealthy);
}

TEST(HostHealth, WithoutAReceiptThereIsNothingToCompare) {
  HostHealthBook book;
  book.heartbeat(beat(kOther), 1000);
  book.heartbeat(beat(kApplied), 4000);
  EXPECT_EQ(book.view("host-42", 4000).health, HostHealth::kHealthy);
  EXPECT_FALSE(book.hasExpectation("host-42"));
}

TEST(HostHealth, RejectedHeartbeatsAreCountedAndKeepNoHostAlive) {
  HostHealthBook book;
  book.heartbeat(beat(kApplied), 1000);
  for (int i = 0; i < 5; ++i) book.rejected("host-42");
  EXPECT_EQ(book.rejectedCount("host-42"), 5u);
  const HostHealthView v = book.view("host-42", 20'000);
  EXPECT_EQ(v.health, HostHealth::kUnresponsive);
  EXPECT_THAT(v.detail, HasSubstr("5 heartbeat(s) rejected"));
}

TEST(HostHealth, ChangesReportEachTransitionOnce) {
  HostHealthBook book;
  book.heartbeat(beat(kApplied), 1000);
  auto first = book.changes(1000);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].from, HostHealth::kUnknown);
  EXPECT_EQ(first[0].to, HostHealth::kHealthy);
  EXPECT_TRUE(book.changes(2000).empty());
  auto silent = book.changes(20'000);
  ASSERT_EQ(silent.size(), 1u);
  EXPECT_EQ(silent[0].host_id, "host-42");
  EXPECT_EQ(silent[0].to, HostHealth::kUnresponsive);
  EXPECT_TRUE(book.changes(21'000).empty());
  book.heartbeat(beat(kApplied), 22'000);
  auto back = book.changes(22'000);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].from, HostHealth::kUnresponsive);
  EXPECT_EQ(back[0].to, HostHealth::kHealthy);
}

TEST(PeerLimits, TokenBucketAllowsTheBurstThenTheRate) {
  TokenBucket b(2, 5);  // 2 per second, burst 5
  int taken = 0;
  for (int i = 0; i < 20; ++i) taken += b.take(1000) ? 1 : 0;
  EXPECT_EQ(taken, 5);
  EXPECT_EQ(b.dropped(), 15u);
  EXPECT_TRUE(b.take(1500));  // one token per 500 ms
  EXPECT_FALSE(b.take(1600));
  // Refill never exceeds the burst.
  taken = 0;
  for (int i = 0; i < 20; ++i) taken += b.take(100'000) ? 1 : 0;
  EXPECT_EQ(taken, 5);
  // A clock that goes back grants nothing.
  EXPECT_FALSE(b.take(50'000));
}

}  // namespace
}  // namespace warden
