// agent/actions/containment.h with hand-written fakes of the firewall and conntrack interfaces:
// the logic, not the kernel. Isolation rolls back when the controller is unreachable, release
// keeps blocks, tampering is repaired, and restore reapplies what was persisted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "agent/actions/containment.h"
#include "agent/os/firewall.h"
#include "agent/runtime/state_store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/sample_isolation_policy.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class FakeFirewall : public Firewall {
 public:
  std::string backend() const override { return "fake"; }

  absl::StatusOr<FirewallReport> apply(const ContainmentState& state) override {
    applied.push_back(state);
    const int call = static_cast<int>(applied.size());
    if (fail_apply_call == call || fail_every_apply) {
      return absl::InternalError(absl::StrFormat("apply #%d refused by the fake", call));
    }
    installed = state;
    tampered = false;
    return FirewallReport{"fake",
                          absl::StrFormat("script #%d", call),
                          "prior-digest",
                          absl::StrFormat("installed-digest-%d", call),
                          {}};
  }

  absl::Status verify(const ContainmentState& state) override {
    ++verifies;
    if (tampered) return absl::FailedPreconditionError("chain 'input' is missing");
    if (!(installed == state)) return absl::FailedPreconditionError("installed state differs");
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> rulesetDigest() override { return std::string("digest"); }
  absl::StatusOr<std::string> installedDigest(const ContainmentState&) override {
    return std::string("digest");
  }

  std::vector<ContainmentState> applied;
  ContainmentState installed;
  bool tampered = false;
  int fail_apply_call = 0;  // 1-based index of the apply() call that fails; 0: none
  bool fail_every_apply = false;
  int verifies = 0;
};

class FakeConntrack : public ConnectionTracker {
 public:
  absl::StatusOr<int> flushExcept(const IsolationPolicy& policy) override {
    flushed.push_back(policy);
    if (!error.ok()) return error;
    return 3;
  }
  std::vector<IsolationPolicy> flushed;
  absl::Status error = absl::OkStatus();
};

class ContainmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = StateStore::open(dir_.file("state"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    containment_ = std::make_unique<Containment>(firewall_, conntrack_, *store_);
    ASSERT_TRUE(containment_->load().ok());
  }

  ContainmentState persisted() {
    auto s = store_->loadContainment();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : ContainmentState{};
  }

  // Puts the host in `state` through the public interface and forgets the calls.
  void startFrom(const ContainmentState& state) {
    ASSERT_TRUE(store_->saveContainment(state).ok());
    ASSERT_TRUE(containment_->restore().ok());
    firewall_.applied.clear();
    firewall_.verifies = 0;
    conntrack_.flushed.clear();
  }

  TempDir dir_;
  FakeFirewall firewall_;
  FakeConntrack conntrack_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Containment> containment_;
};

TEST_F(ContainmentTest, IsolateAppliesAndPersistsWhenTheControllerIsReachable) {
  ContainmentState before;
  before.blocked = {prefix("203.0.113.0/24")};
  startFrom(before);

  ContainmentState expected = before;
  expected.isolation = samplePolicy();
  int checks = 0;
  auto out = containment_->isolate(samplePolicy(), [&] {
    ++checks;
    // The check runs over the new rules.
    EXPECT_EQ(firewall_.installed, expected);
    // Nothing is persisted before the controller answered.
    EXPECT_EQ(persisted(), before);
    return true;
  });
  EXPECT_TRUE(out.ok) << out.message;
  EXPECT_EQ(checks, 1);
  EXPECT_THAT(out.message, HasSubstr("isolated"));
  EXPECT_THAT(out.message, HasSubstr("3 flows cut"));
  ASSERT_EQ(firewall_.applied.size(), 1u);
  EXPECT_EQ(firewall_.applied[0], expected) << "blocks are kept while isolating";
  EXPECT_EQ(firewall_.installed, expected);
  EXPECT_EQ(persisted(), expected);
  EXPECT_EQ(containment_->current(), expected);
  ASSERT_EQ(conntrack_.flushed.size(), 1u);
  EXPECT_EQ(conntrack_.flushed[0], samplePolicy());
  EXPECT_EQ(out.details["backend"], "fake");
  EXPECT_EQ(out.details["flows_cut"], "3");
  EXPECT_EQ(out.details["applied"], "script #1");
  EXPECT_EQ(out.details["installed_sha256"], "installed-digest-1");
  EXPECT_EQ(out.details["controller"], "198.18.0.1,2001:db8::1 port 7443");
  EXPECT_EQ(out.details["allow"],
            "198.18.0.0/24:443,[2001:db8:5::/64]:22,198.18.1.9,2001:db8:6::7");
  EXPECT_EQ(out.details.count("rolled_back"), 0u);
}

TEST_F(ContainmentTest, IsolateRollsBackWhenTheControllerIsUnreachable) {
  ContainmentState before;
  before.blocked = {prefix("203.0.113.0/24"), prefix("2001:db8:bad::/48")};
  startFrom(before);

  IsolationPolicy policy = samplePolicy();
  auto out = containment_->isolate(policy, [] { return false; });
  EXPECT_FALSE(out.ok);
  EXPECT_THAT(out.message, HasSubstr("rolled back"));
  EXPECT_EQ(out.details["rolled_back"], "yes");
  ASSERT_EQ(firewall_.applied.size(), 2u);
  EXPECT_TRUE(firewall_.applied[0].isolation.has_value());
  EXPECT_EQ(firewall_.applied[1], before) << "the previous state is re-applied";
  EXPECT_EQ(firewall_.installed, before);
  EXPECT_EQ(persisted(), before) << "nothing persisted";
  EXPECT_EQ(containment_->current(), before);

  // From the unisolated empty state the rollback re-applies the empty state.
  startFrom(ContainmentState{});
  auto again = containment_->isolate(policy, [] { return false; });
  EXPECT_FALSE(again.ok);
  ASSERT_EQ(firewall_.applied.size(), 2u);
  EXPECT_TRUE(firewall_.applied[1].empty());
  EXPECT_TRUE(persisted().empty());
}

TEST_F(ContainmentTest, ReIsolatingKeepsThePreviousIsolationOnRollback) {
  ContainmentState before;
  before.isolation = samplePolicy();
  startFrom(before);
  IsolationPolicy narrower = samplePolicy();
  narrower.allow.clear();
  auto out = containment_->isolate(narrower, [] { return false; });
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(firewall_.installed, before);
  EXPECT_EQ(persisted(), before);
  EXPECT_EQ(containment_->current(), before);
}

TEST_F(ContainmentTest, FailedRollbackIsReported) {
  startFrom(ContainmentState{});
  firewall_.fail_apply_call = 2;  // the rollback
  auto out = containment_->isolate(samplePolicy(), [] { return false; });
  EXPECT_FALSE(out.ok);
  EXPECT_THAT(out.message, HasSubstr("rollback FAILED"));
  EXPECT_THAT(out.message, HasSubstr("apply #2 refused by the fake"));
  EXPECT_EQ(out.details["rolled_back"], "failed");
  EXPECT_TRUE(persisted().empty());
  EXPECT_TRUE(containment_->current().empty());
}

TEST_F(ContainmentTest, ApplyErrorLeavesStateUnchanged) {
  ContainmentState before;
  before.blocked = {prefix("203.0.113.0/24")};
  startFrom(before);
  firewall_.fail_apply_call = 1;
  bool checked = false;
  auto out = containment_->isolate(samplePolicy(), [&] {
    checked = true;
    return true;
  });
  EXPECT_FALSE(out.ok);
  EXPECT_THAT(out.message, HasSubstr("isolation not applied"));
  EXPECT_THAT(out.message, HasSubstr("apply #1 refused by the fake"));
  EXPECT_FALSE(checked) << "no reachability check without rules";
  EXPECT_TRUE(conntrack_.flushed.empty()) << "no flows cut without rules";
  EXPECT_EQ(firewall_.installed, before);
  EXPECT_EQ(persisted(), before);
  EXPECT_EQ(containment_->current(), before);
}

TEST_F(ContainmentTest, ConntrackErrorDoesNotUndoIsolation) {
  startFrom(ContainmentState{});
  conntrack_.error = absl::UnavailableError("netlink said no");
  auto out = containment_->isolate(samplePolicy(), [] { return true; });
  EXPECT_TRUE(out.ok) << out.message;
  EXPECT_EQ(out.details["flows_cut"], "unknown");
  EXPECT_THAT(out.details["conntrack_error"], HasSubstr("netlink said no"));
  EXPECT_TRUE(persisted().isolation.has_value());
}

TEST_F(ContainmentTest, ReleaseKeepsBlocksAndDropsIsolation) {
  ContainmentState before;
  before.isolation = samplePolicy();
  before.blocked = {prefix("203.0.113.0/24"), prefix("2001:db8:bad::/48")};
  startFrom(before);

  auto out = containment_->release();
  EXPECT_TRUE(out.ok) << out.message;
  EXPECT_EQ(out.message, "released");
  ContainmentState expected;
  expected.blocked = before.blocked;
  ASSERT_EQ(firewall_.applied.size(), 1u);
  EXPECT_EQ(firewall_.applied[0], expected);
  EXPECT_EQ(persisted(), expected);
  EXPECT_EQ(containment_->current(), expected);

  auto again = containment_->release();
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.message, "released (was not isolated)");
  EXPECT_EQ(persisted(), expected);
}

TEST_F(ContainmentTest, FailedReleaseKeepsIsolation) {
  ContainmentState before;
  before.isolation = samplePolicy();
  startFrom(before);
  firewall_.fail_every_apply = true;
  auto out = containment_->release();
  EXPECT_FALSE(out.ok);
  EXPECT_THAT(out.message, HasSubstr("release failed"));
  EXPECT_EQ(persisted(), before);
  EXPECT_EQ(containment_->current(), before);
}

TEST_F(ContainmentTest, RepairIfTamperedReappliesAndDescribes) {
  ContainmentState state;
  state.isolation = samplePolicy();
  startFrom(state);

  auto clean = containment_->repairIfTampered();
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_FALSE(clean->has_value());
  EXPECT_TRUE(firewall_.applied.empty()) << "nothing re-applied when verify passes";
  EXPECT_EQ(firewall_.verifies, 1);

  firewall_.tampered = true;
  auto repaired = containment_->repairIfTampered();
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  ASSERT_TRUE(repaired->has_value());
  EXPECT_THAT(**repaired, HasSubstr("chain 'input' is missing"));
  EXPECT_THAT(**repaired, HasSubstr("re-applied"));
  EXPECT_THAT(**repaired, HasSubstr("fake"));
  ASSERT_EQ(firewall_.applied.size(), 1u);
  EXPECT_EQ(firewall_.applied[0], state);
  EXPECT_FALSE(firewall_.tampered);

  // Someone deleted the table (installed is empty) and re-applying fails: an error.
  firewall_.installed = ContainmentState{};
  firewall_.fail_every_apply = true;
  auto failed = containment_->repairIfTampered();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("re-applying failed"));
}

TEST_F(ContainmentTest, RestoreReappliesPersistedState) {
  ContainmentState state;
  state.isolation = samplePolicy();
  state.blocked = {prefix("203.0.113.0/24")};
  ASSERT_TRUE(store_->saveContainment(state).ok());

  // A new agent process: a fresh firewall (nothing installed) and a new Containment.
  FakeFirewall boot_firewall;
  Containment booted(boot_firewall, conntrack_, *store_);
  auto restored = booted.restore();
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*restored, state);
  ASSERT_EQ(boot_firewall.applied.size(), 1u);
  EXPECT_EQ(boot_firewall.applied[0], state);
  EXPECT_EQ(boot_firewall.installed, state);
  EXPECT_EQ(booted.current(), state);
}

TEST_F(ContainmentTest, RestoreOfAnEmptyStateOnlyCleansLeftovers) {
  auto clean = containment_->restore();
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_TRUE(clean->empty());
  EXPECT_TRUE(firewall_.applied.empty()) << "nothing installed, nothing to do";

  firewall_.installed.blocked = {prefix("198.51.100.0/24")};  // leftovers of an old run
  auto cleaned = containment_->restore();
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  ASSERT_EQ(firewall_.applied.size(), 1u);
  EXPECT_TRUE(firewall_.applied[0].empty());
  EXPECT_TRUE(firewall_.installed.empty());
}

TEST_F(ContainmentTest, RestoreReportsApplyErrors) {
  ContainmentState state;
  state.blocked = {prefix("203.0.113.0/24")};
  ASSERT_TRUE(store_->saveContainment(state).ok());
  firewall_.fail_every_apply = true;
  auto r = containment_->restore();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("refused by the fake"));
}
}  // namespace
}  // namespace warden::testing
