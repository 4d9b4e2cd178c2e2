// controller/registry.h: the actions it queues for hosts. Adding, finding and listing them,
// expiry on the way, delivery, and a receipt that finishes an action once (recording the
// containment it brought) and is never overwritten.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/command.h"
#include "controller/registry.h"
#include "tests/unit/scratch_registry.h"

namespace warden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- actions -------------------------------------------------------------------------------

TEST_F(RegistryTest, AddFindListActions) {
  const std::int64_t later = nowUnixMs() + kHour;
  for (const char* id : {"a1", "a2", "a3"})
    ASSERT_TRUE(reg_->addAction(action(id, "host-a", later)).ok());
  ASSERT_TRUE(reg_->addAction(action("b1", "host-b", later)).ok());
  ASSERT_TRUE(reg_->addAction(action("a4", "host-a", later)).ok());

  auto a2 = reg_->findAction("a2");
  ASSERT_TRUE(a2.ok()) << a2.status();
  const ActionRecord want = action("a2", "host-a", later);
  EXPECT_EQ(a2->id, "a2");
  EXPECT_EQ(a2->host_id, "host-a");
  EXPECT_EQ(a2->kind, "isolate");
  EXPECT_EQ(a2->state, "queued");
  EXPECT_EQ(a2->requested_by, "alice");
  EXPECT_EQ(a2->reason, want.reason);
  EXPECT_EQ(a2->params, want.params);
  EXPECT_EQ(a2->expires_ms, later);
  EXPECT_EQ(a2->finished_ms, 0);
  EXPECT_EQ(a2->command, want.command) << "blob with a NUL byte";
  EXPECT_EQ(a2->command_signature, want.command_signature);
  EXPECT_EQ(a2->receipt, "");
  EXPECT_FALSE(a2->finished());
  EXPECT_EQ(reg_->findAction("zz").status().code(), absl::StatusCode::kNotFound);

  auto all_a = reg_->listActions("host-a", 10);
  ASSERT_TRUE(all_a.ok());
  EXPECT_THAT(ids(*all_a), ElementsAre("a1", "a2", "a3", "a4")) << "oldest first";
  auto last_two = reg_->listActions("host-a", 2);
  ASSERT_TRUE(last_two.ok());
  EXPECT_THAT(ids(*last_two), ElementsAre("a3", "a4")) << "the newest, oldest first";
  auto everything = reg_->listActions("", 10);
  ASSERT_TRUE(everything.ok());
  EXPECT_THAT(ids(*everything), ElementsAre("a1", "a2", "a3", "b1", "a4"));
  auto last_three = reg_->listActions("", 3);
  ASSERT_TRUE(last_three.ok());
  EXPECT_THAT(ids(*last_three), ElementsAre("a3", "b1", "a4"));
  EXPECT_TRUE(reg_->listActions("host-z", 10)->empty());

  EXPECT_FALSE(reg_->addAction(action("a1", "host-a", later)).ok()) << "ids are unique";
}

TEST_F(RegistryTest, PendingActionsExpireOnTheWay) {
  const std::int64_t now = nowUnixMs();
  ASSERT_TRUE(reg_->addAction(action("old", "host-a", now - 1)).ok());
  ASSERT_TRUE(reg_->addAction(action("p1", "host-a", now + kHour)).ok());
  ASSERT_TRUE(reg_->addAction(action("p2", "host-a", now + kHour)).ok());
  ASSERT_TRUE(reg_->addAction(action("old-delivered", "host-a", now + kHour)).ok());
  ASSERT_TRUE(reg_->markDelivered("old-delivered").ok());
  ASSERT_TRUE(reg_->addAction(action("done", "host-a", now + kHour)).ok());
  ASSERT_TRUE(*reg_->finishAction("done", "succeeded", "ok", "r", "s", now));
  ASSERT_TRUE(reg_->addAction(action("other-host", "host-b", now - 1)).ok());
  ASSERT_TRUE(reg_->markDelivered("p2").ok());

  auto pending = reg_->pendingActions("host-a");
  ASSERT_TRUE(pending.ok()) << pending.status();
  EXPECT_THAT(ids(*pending), ElementsAre("p1", "p2", "old-delivered"));
  EXPECT_EQ((*pending)[1].state, "delivered");

  auto old = reg_->findAction("old");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->state, "expired");
  EXPECT_TRUE(old->finished());
  EXPECT_GE(old->finished_ms, now);
  EXPECT_THAT(old->message, HasSubstr("expired"));
  EXPECT_EQ(reg_->findAction("done")->state, "succeeded") << "finished actions untouched";
  EXPECT_EQ(reg_->findAction("other-host")->state, "queued") << "other hosts untouched";
  // A receipt that arrives after the controller gave up still counts (the agent acted before
  // the command expired there), once.
  EXPECT_TRUE(*reg_->finishAction("old", "succeeded", "late", "r", "s", now));
  EXPECT_EQ(reg_->findAction("old")->state, "succeeded");
  EXPECT_FALSE(*reg_->finishAction("old", "failed", "again", "r2", "s2", now));
  EXPECT_EQ(reg_->findAction("old")->receipt, "r");
}

TEST_F(RegistryTest, MarkDeliveredOnlyMovesQueued) {
  const std::int64_t later = nowUnixMs() + kHour;
  ASSERT_TRUE(reg_->addAction(action("a", "host-a", later)).ok());
  ASSERT_TRUE(reg_->markDelivered("a").ok());
  EXPECT_EQ(reg_->findAction("a")->state, "delivered");
  ASSERT_TRUE(*reg_->finishAction("a", "failed", "no route", "r", "s", 5));
  ASSERT_TRUE(reg_->markDelivered("a").ok());
  EXPECT_EQ(reg_->findAction("a")->state, "failed");
}

TEST_F(RegistryTest, FinishActionOnceAndNeverOverwritten) {
  ASSERT_TRUE(reg_->addAction(action("a", "host-a", nowUnixMs() + kHour)).ok());
  const std::string receipt1("receipt\0one", 11), sig1(64, '\x01');
  auto first = reg_->finishAction("a", "succeeded", "isolated", receipt1, sig1, 111);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  auto second = reg_->finishAction("a", "failed", "dup", "receipt two", std::string(64, 2), 222);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(*second);

  auto found = reg_->findAction("a");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->state, "succeeded");
  EXPECT_EQ(found->message, "isolated");
  EXPECT_EQ(found->receipt, receipt1);
  EXPECT_EQ(found->receipt_signature, sig1);
  EXPECT_EQ(found->finished_ms, 111);
  EXPECT_TRUE(found->finished());

  auto unknown = reg_->finishAction("nope", "succeeded", "", "", "", 1);
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(*unknown);
}

// An isolate's receipt and the host's new containment state are one commit; a second receipt
// for the same action changes neither.
TEST_F(RegistryTest, FinishActionRecordsContainmentWithTheReceipt) {
  ASSERT_TRUE(reg_->addHost(host("host-a"), false).ok());
  ASSERT_TRUE(reg_->addAction(action("iso", "host-a", nowUnixMs() + kHour)).ok());
  ASSERT_TRUE(reg_->addAction(action("rel", "host-a", nowUnixMs() + kHour)).ok());
  ASSERT_TRUE(*reg_->finishAction("iso", "succeeded", "isolated", "r", "s", 1, "isolated"));
  EXPECT_EQ(reg_->findHost("host-a")->containment, "isolated");
  ASSERT_TRUE(*reg_->finishAction("rel", "succeeded", "released", "r", "s", 2, "none"));
  EXPECT_EQ(reg_->findHost("host-a")->containment, "none");
  EXPECT_FALSE(*reg_->finishAction("iso", "succeeded", "again", "r", "s", 3, "isolated"));
  EXPECT_EQ(reg_->findHost("host-a")->containment, "none");
}

// The containment a receipt brings follows the action's kind: a host that answers an isolate
// with a "release" receipt (or a failure) changes nothing.
TEST(ContainmentAfterTest, FollowsTheActionNotTheReceipt) {
  Receipt r;
  r.kind = "isolate";
  r.status = ReceiptStatus::kSucceeded;
  EXPECT_EQ(containmentAfter("isolate", r), "isolated");
  r.kind = "release";
  EXPECT_EQ(containmentAfter("release", r), "none");
  EXPECT_EQ(containmentAfter("isolate", r), "");
  r.kind = "isolate";
  EXPECT_EQ(containmentAfter("release", r), "");
  r.status = ReceiptStatus::kFailed;
  EXPECT_EQ(containmentAfter("isolate", r), "");
  r.kind = "kill-sessions";
  r.status = ReceiptStatus::kSucceeded;
  EXPECT_EQ(containmentAfter("kill-sessions", r), "");
}

// A receipt stored late (re-sent, or recovered from the log) does not undo the containment a
// later isolate or release already set.
TEST_F(RegistryTest, ALateReceiptDoesNotUndoALaterContainmentChange) {
  ASSERT_TRUE(reg_->addHost(host("host-a"), false).ok());
  ActionRecord iso = action("iso", "host-a", nowUnixMs() + kHour);
  iso.created_ms = 100;
  ActionRecord rel = action("rel", "host-a", nowUnixMs() + kHour);
  rel.kind = "release";
  rel.created_ms = 200;
  ASSERT_TRUE(reg_->addAction(iso).ok());
  ASSERT_TRUE(reg_->addAction(rel).ok());
  ASSERT_TRUE(*reg_->finishAction("rel", "succeeded", "released", "r", "s", 2, "none"));
  ASSERT_TRUE(*reg_->finishAction("iso", "succeeded", "isolated", "r", "s", 3, "isolated"));
  EXPECT_EQ(reg_->findHost("host-a")->containment, "none");
}

TEST_F(RegistryTest, FinishedStates) {
  ActionRecord a;
  for (const char* s : {"succeeded", "failed", "refused", "expired"}) {
    a.state = s;
    EXPECT_TRUE(a.finished()) << s;
  }
  for (const char* s : {"queued", "delivered", ""}) {
    a.state = s;
    EXPECT_FALSE(a.finished()) << s;
  }
}

}  // namespace
}  // namespace warden::testing
