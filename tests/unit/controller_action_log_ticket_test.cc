// controller/action_log.h's two-phase append (enqueueInOrder, then wait): entries take their
// places and indices when enqueued, tickets waited for in any order are all durable, and a
// failed commit fails what was queued with it, counts a failure, refuses callers who prepared
// their entries before it, and hands out the next indices from what is on disk.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "controller/action_log.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/scratch_action_log.h"

namespace warden::testing {
namespace {

std::vector<std::string> entries(std::initializer_list<const char*> list) {
  return std::vector<std::string>(list.begin(), list.end());
}

TEST(ActionLogTicketTest, EntriesTakeTheirPlacesWhenEnqueued) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->append("zero").ok());
  auto a = log->enqueueInOrder([] { return entries({"a1", "a2"}); }, log->failures());
  auto b = log->enqueueInOrder([] { return entries({"b1"}); }, log->failures());
  auto c = log->enqueueInOrder([] { return entries({"c1", "c2", "c3"}); }, log->failures());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->first(), 1u);
  EXPECT_EQ(a->count(), 2u);
  EXPECT_EQ(b->first(), 3u);
  EXPECT_EQ(c->first(), 4u);
  EXPECT_EQ(log->size(), 1u);  // nothing is durable before someone waits
  // Waiting for the last one commits all three (one commit: they were all queued).
  auto waited_c = log->wait(*c);
  ASSERT_TRUE(waited_c.ok()) << waited_c.status();
  EXPECT_EQ(*waited_c, 4u);
  EXPECT_EQ(log->size(), 7u);
  EXPECT_EQ(*log->wait(*a), 1u);
  EXPECT_EQ(*log->wait(*b), 3u);
  EXPECT_EQ(log->wait(*b).status().code(), absl::StatusCode::kFailedPrecondition);  // waited
  const std::vector<std::string> want = {"zero", "a1", "a2", "b1", "c1", "c2", "c3"};
  for (std::uint64_t i = 0; i < want.size(); ++i) EXPECT_EQ(*log->entry(i), want[i]);
  // A plain append after them takes the next place.
  EXPECT_EQ(*log->append("after"), 7u);
}

TEST(ActionLogTicketTest, ATicketNotWaitedForIsWrittenWhenDropped) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  {
    auto t = log->enqueueInOrder([] { return entries({"x", "y"}); }, 0);
    ASSERT_TRUE(t.ok());
  }
  EXPECT_EQ(log->size(), 2u);
  EXPECT_EQ(*log->entry(1), "y");
}

TEST(ActionLogTicketTest, BadEntriesAreRefusedAndTakeNoPlace) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->enqueueInOrder([] { return std::vector<std::string>{}; }, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->enqueueInOrder(
                   [] {
                     return entries({"ok", ""});
                   },
                   0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->enqueueInOrder([] { return std::vector<std::string>{std::string(5000, 'x')}; }, 0)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  auto t = log->enqueueInOrder([] { return entries({"first"}); }, 0);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->first(), 0u);
  EXPECT_EQ(*log->wait(*t), 0u);
}

// Makes writes past `bytes` fail with EFBIG (RLIMIT_FSIZE) until it ends; SIGXFSZ is ignored
// meanwhile, so the write returns the error instead of killing the test.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit lower = saved_;
    lower.rlim_cur = bytes;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &lower) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &saved_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  sighandler_t old_handler_;
  bool ok_ = false;
};

TEST(ActionLogTicketTest, AFailedCommitFailsItsEntriesAndRefusesStaleCallers) {
  TempDir tmp;
  const std::string path = tmp.path() + "/log/entries";
  {
    auto log = mustOpen(options(tmp.path()));
    ASSERT_NE(log, nullptr);
    for (const char* e : {"e0", "e1", "e2"}) ASSERT_TRUE(log->append(e).ok());
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    ASSERT_EQ(log->failures(), 0u);
    {
      FileSizeLimit limit(static_cast<rlim_t>(st.st_size) + 8);  // not even one more record
      ASSERT_TRUE(limit.ok());
      auto t1 = log->enqueueInOrder([] { return entries({"lost-1a", "lost-1b"}); }, 0);
      auto t2 = log->enqueueInOrder([] { return entries({"lost-2"}); }, 0);
      ASSERT_TRUE(t1.ok() && t2.ok());
      EXPECT_EQ(t2->first(), 5u);
      EXPECT_FALSE(log->wait(*t1).ok());
      EXPECT_FALSE(log->wait(*t2).ok());
      EXPECT_EQ(log->failures(), 1u);
      EXPECT_EQ(log->size(), 3u);
    }
    // A caller that prepared its entries before the failure (it saw 0 failures) is refused:
    // what it decided may rest on the lost entries.
    auto stale = log->enqueueInOrder([] { return entries({"stale"}); }, 0);
    EXPECT_EQ(stale.status().code(), absl::StatusCode::kUnavailable);
    // One who has seen the failure goes on, at the index after what is on disk.
    auto fresh = log->enqueueInOrder([] { return entries({"e3"}); }, log->failures());
    ASSERT_TRUE(fresh.ok()) << fresh.status();
    EXPECT_EQ(fresh->first(), 3u);
    EXPECT_EQ(*log->wait(*fresh), 3u);
    EXPECT_EQ(*log->append("e4"), 4u);
  }
  auto reopened = mustOpen(options(tmp.path()));
  ASSERT_NE(reopened, nullptr);
  ASSERT_EQ(reopened->size(), 5u);
  for (std::uint64_t i = 0; i < 5; ++i) EXPECT_EQ(*reopened->entry(i), "e" + std::to_string(i));
}

}  // namespace
}  // namespace warden::testing
