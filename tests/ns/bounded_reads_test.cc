// runBounded (agent/os/linux/bounded_reads.h): jobs that hang are given up and their readers
// replaced so the rest of the batch is done; the batch returns by its deadline whatever hangs;
// a reader that comes back later is no longer counted as stuck. The hanging jobs here wait on
// a latch the test opens at the end (a read stuck in the kernel cannot be opened: that is the
// e2e test's, tests/e2e/stuck_read_test.cc). No privileges needed.
#include "agent/os/linux/bounded_reads.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace warden::linux_os {
namespace {

// Jobs wait here until open().
struct Latch {
  std::mutex mu;
  std::condition_variable cv;
  bool opened = false;
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return opened; });
  }
  void open() {
    std::lock_guard<std::mutex> lock(mu);
    opened = true;
    cv.notify_all();
  }
};

// Until `stuck` readers are left behind, at most 5 s.
void waitForStuck(std::size_t stuck) {
  for (int i = 0; i < 500 && stuckReaders() != stuck; ++i) absl::SleepFor(absl::Milliseconds(10));
}

TEST(BoundedReadsTest, EveryJobRunsOnceWhenNothingHangs) {
  auto done = std::make_shared<std::vector<std::atomic<int>>>(100);
  const BoundedRun run = runBounded(
      100, [done](std::size_t i) { ++(*done)[i]; }, 4, absl::Seconds(1), absl::Seconds(10));
  for (std::size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(run.unfinished[i], "") << i;
    EXPECT_EQ((*done)[i].load(), 1) << i;
  }
  EXPECT_EQ(run.left_behind, 0u);
}

TEST(BoundedReadsTest, AHangingJobIsGivenUpAndTheRestAreDone) {
  const std::size_t before = stuckReaders();
  auto latch = std::make_shared<Latch>();
  auto done = std::make_shared<std::vector<std::atomic<int>>>(50);
  // Two jobs hang; one reader only, so each hang must be noticed and its reader replaced.
  const BoundedRun run = runBounded(
      50,
      [latch, done](std::size_t i) {
        if (i == 3 || i == 30) latch->wait();
        ++(*done)[i];
      },
      1, absl::Milliseconds(200), absl::Seconds(20));
  for (std::size_t i = 0; i < 50; ++i) {
    if (i == 3 || i == 30) {
      EXPECT_TRUE(absl::StrContains(run.unfinished[i], "did not finish within 200ms"))
          << run.unfinished[i];
    } else {
      EXPECT_EQ(run.unfinished[i], "") << i;
      EXPECT_EQ((*done)[i].load(), 1) << i;
    }
  }
  EXPECT_EQ(run.left_behind, 2u);
  EXPECT_EQ(stuckReaders(), before + 2);
  latch->open();  // they come back, and are no longer counted
  waitForStuck(before);
  EXPECT_EQ(stuckReaders(), before);
}

TEST(BoundedReadsTest, TheBatchEndsAtItsDeadlineWhateverHangs) {
  const std::size_t before = stuckReaders();
  auto latch = std::make_shared<Latch>();
  const absl::Time start = absl::Now();
  // Every job hangs, and the stuck-after time is longer than the deadline.
  const BoundedRun run = runBounded(
      10, [latch](std::size_t) { latch->wait(); }, 2, absl::Seconds(60), absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));  // a loose bound: it returned at all
  for (std::size_t i = 0; i < 10; ++i) EXPECT_NE(run.unfinished[i], "") << i;
  EXPECT_TRUE(absl::StrContains(run.unfinished[9], "ran out")) << run.unfinished[9];
  EXPECT_EQ(run.left_behind, 2u);
  latch->open();
  waitForStuck(before);
  EXPECT_EQ(stuckReaders(), before);
}

TEST(BoundedReadsTest, PastTheStuckLimitNothingMoreIsStarted) {
  const std::size_t before = stuckReaders();
  auto latch = std::make_shared<Latch>();
  const BoundedRun first = runBounded(
      kMaxStuckReaders, [latch](std::size_t) { latch->wait(); }, kMaxStuckReaders,
      absl::Seconds(60), absl::Milliseconds(200));
  EXPECT_EQ(first.left_behind, kMaxStuckReaders);
  std::atomic<int> ran{0};
  const BoundedRun second = runBounded(
      3, [&ran](std::size_t) { ++ran; }, 2, absl::Seconds(1), absl::Seconds(5));
  EXPECT_EQ(ran.load(), 0);
  EXPECT_TRUE(absl::StrContains(second.unfinished[0], "still stuck")) << second.unfinished[0];
  latch->open();
  waitForStuck(before);
  const BoundedRun third = runBounded(
      3, [&ran](std::size_t) { ++ran; }, 2, absl::Seconds(1), absl::Seconds(5));
  EXPECT_EQ(ran.load(), 3);
}

}  // namespace
}  // namespace warden::linux_os
