// common/audit/verify: the rule table (every entry type has its rule, and only the genesis
// types are genesis rules) and the fleet-wide blocks the controller's own dispatches are
// checked against. The rules themselves are exercised through whole exports in
// common_audit_verify_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/audit/log_entry.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/fleet_blocks.h"
#include "common/audit/verify/log_state.h"

namespace warden::audit_verify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(RuleTable, EveryEntryTypeHasItsRule) {
  for (const char* type :
       {entry_type::kRequest, entry_type::kDispatch, entry_type::kReceipt, entry_type::kRefusal,
        entry_type::kKey, entry_type::kOperator, entry_type::kEnrollment, entry_type::kEvent}) {
    LogEntry e;
    e.type = type;
    LogState log;
    const RuleOutcome outcome = ruleFor(type).check(e, 1, log);
    ASSERT_TRUE(outcome.broken.has_value()) << type << ": an empty entry breaks every rule";
    EXPECT_THAT(*outcome.broken, Not(HasSubstr("unknown entry type"))) << type;
  }
}

TEST(RuleTable, UnknownTypesAreRefused) {
  LogEntry e;
  e.type = "audit\x1b[2J";
  LogState log;
  const RuleOutcome outcome = ruleFor(e.type).check(e, 1, log);
  ASSERT_TRUE(outcome.broken.has_value());
  EXPECT_EQ(*outcome.broken, "unknown entry type 'audit\\x1b[2J'");
  EXPECT_FALSE(outcome.signer.has_value());
}

TEST(RuleTable, OnlyKeysOperatorsAndEnrollmentsMakeTheGenesis) {
  EXPECT_TRUE(ruleFor(entry_type::kKey).genesis());
  EXPECT_TRUE(ruleFor(entry_type::kOperator).genesis());
  EXPECT_TRUE(ruleFor(entry_type::kEnrollment).genesis());
  for (const char* type : {entry_type::kRequest, entry_type::kDispatch, entry_type::kReceipt,
                           entry_type::kRefusal, entry_type::kEvent, "unknown"}) {
    EXPECT_FALSE(ruleFor(type).genesis()) << type;
  }
}

TEST(RuleTable, LabelsSayWhatTheEntryIsAbout) {
  LogEntry e;
  e.type = entry_type::kReceipt;
  e.actor = "agent:host-42";
  e.host_id = "host-42";
  e.ref = "a-1";
  EXPECT_EQ(entryLabel(e, 17), "entry 17 (receipt by agent:host-42, command a-1)");
  e.type = entry_type::kEvent;
  EXPECT_EQ(entryLabel(e, 3), "entry 3 (event by agent:host-42, host host-42)");
  e.type = "";
  e.actor = "";
  e.host_id = "";
  EXPECT_EQ(entryLabel(e, 0), "entry 0 (?)");
}

TEST(FleetBlocks, TheLastStandingChangeOfAnAddressDecides) {
  FleetBlocks fleet;
  EXPECT_FALSE(fleet.blocked("192.0.2.1/32"));
  fleet.change("r-1", 5, true, {"192.0.2.1/32", "198.51.100.0/24"});
  EXPECT_TRUE(fleet.blocked("192.0.2.1/32"));
  EXPECT_TRUE(fleet.blocked("198.51.100.0/24"));
  fleet.change("r-2", 9, false, {"192.0.2.1/32"});
  EXPECT_FALSE(fleet.blocked("192.0.2.1/32"));
  EXPECT_TRUE(fleet.blocked("198.51.100.0/24"));
  // Refusing the unblock before any dispatch undoes it: the block stands again.
  fleet.undo("r-2");
  EXPECT_TRUE(fleet.blocked("192.0.2.1/32"));
}

TEST(FleetBlocks, ADispatchSettlesTheChange) {
  FleetBlocks fleet;
  fleet.change("r-1", 5, true, {"192.0.2.1/32"});
  fleet.settle("r-1");
  fleet.undo("r-1");  // refused after it was dispatched: the controller kept the list
  EXPECT_TRUE(fleet.blocked("192.0.2.1/32"));
  fleet.change("r-2", 6, true, {"203.0.113.7/32"});
  fleet.undo("r-2");
  EXPECT_FALSE(fleet.blocked("203.0.113.7/32"));
  fleet.undo("r-3");  // not a fleet-wide request: nothing changes
  EXPECT_TRUE(fleet.blocked("192.0.2.1/32"));
}

}  // namespace
}  // namespace warden::audit_verify
