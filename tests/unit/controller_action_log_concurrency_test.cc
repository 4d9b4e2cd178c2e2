// controller/action_log.h under load: group commit with concurrent appenders and readers, entries
// acknowledged before a SIGKILL at a random moment survive it, and appendInOrder keeps the
// makers' order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "controller/action_log.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/scratch_action_log.h"

namespace warden::testing {
namespace {

TEST(ActionLogTest, ConcurrentAppendersAndReaders) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path(), absl::Milliseconds(5), absl::Hours(1)));
  ASSERT_NE(log, nullptr);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  std::vector<std::vector<std::uint64_t>> indices(kThreads);
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread reader([&] {
    while (!done) {
      const std::uint64_t n = log->size();
      if (n == 0) continue;
      auto e = log->entry(n - 1);
      if (!e.ok() || e->rfind("t", 0) != 0) ++failures;
      auto proof = log->inclusionProof(n - 1, n);
      if (!proof.ok()) ++failures;
      (void)log->root();
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto index = log->append(absl::StrFormat("t%d-%d", t, i));
        if (!index.ok()) {
          ++failures;
          continue;
        }
        indices[t].push_back(*index);
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(log->size(), std::uint64_t{kThreads * kPerThread});
  std::set<std::uint64_t> all;
  std::vector<std::string> by_index(kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(indices[t].size(), std::size_t{kPerThread});
    for (int i = 0; i < kPerThread; ++i) {
      const std::uint64_t index = indices[t][i];
      EXPECT_TRUE(all.insert(index).second) << "duplicate index " << index;
      ASSERT_LT(index, by_index.size());
      by_index[index] = absl::StrFormat("t%d-%d", t, i);
      if (i > 0) {
        EXPECT_GT(index, indices[t][i - 1]);  // a thread's own appends stay ordered
      }
    }
  }
  for (std::uint64_t i = 0; i < by_index.size(); ++i) ASSERT_EQ(*log->entry(i), by_index[i]);
  EXPECT_EQ(log->root(), rootOf(by_index));
  auto cp = log->checkpoint();
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(verifiedCheckpoint(*cp).size, by_index.size());
}

std::string crashEntry(int round, int thread, int seq) {
  std::string e = absl::StrFormat("crash r%d t%d s%d|", round, thread, seq);
  e.append(static_cast<std::size_t>(50 + (round * 7 + thread * 13 + seq) % 250), 'z');
  return e;
}

TEST(ActionLogTest, AcknowledgedEntriesSurviveSigkill) {
  TempDir tmp;
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE(absl::StrFormat("seed %u", seed));
  std::mt19937 rng(seed);
  constexpr int kRounds = 20;
  constexpr int kChildThreads = 3;
  std::uint64_t total_acked = 0;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto log = ActionLog::open(options(tmp.path(), absl::Milliseconds(2), absl::Hours(1)));
      if (!log.ok()) ::_exit(2);
      std::vector<std::thread> threads;
      for (int t = 0; t < kChildThreads; ++t) {
        threads.emplace_back([&, t] {
          for (int seq = 0;; ++seq) {
            auto index = (*log)->append(crashEntry(round, t, seq));
            if (!index.ok()) ::_exit(3);
            const std::string line = absl::StrFormat("%d %d %d\n", *index, t, seq);
            if (::write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
              ::_exit(4);
            }
          }
        });
      }
      for (auto& t : threads) t.join();
      ::_exit(0);
    }
    ::close(fds[1]);
    // Kill at a random moment: sometimes during open/recovery, mostly mid-append.
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 100000)(rng)));
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    std::string acks;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;) acks.append(buf, n);
    ::close(fds[0]);

    auto log = mustOpen(options(tmp.path()));
    ASSERT_NE(log, nullptr) << "round " << round;
    std::istringstream in(acks);
    std::uint64_t index = 0;
    int t = 0, seq = 0;
    while (in >> index >> t >> seq) {
      ++total_acked;
      ASSERT_LT(index, log->size()) << "acknowledged entry lost, round " << round;
      auto e = log->entry(index);
      ASSERT_TRUE(e.ok()) << e.status();
      ASSERT_EQ(*e, crashEntry(round, t, seq)) << "round " << round << " index " << index;
    }
    // Everything present is intact and the tree matches it.
    std::vector<std::string> all;
    for (std::uint64_t i = 0; i < log->size(); ++i) all.push_back(*log->entry(i));
    ASSERT_EQ(log->root(), rootOf(all));
  }
  EXPECT_GT(total_acked, 0u);
}

// appendInOrder makes each entry as it takes its place: a counter read inside `make` (as the
// controller reads its clock) never decreases along the log, whatever the interleaving.
TEST(ActionLogTest, AppendInOrderKeepsTheMakersOrder) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path(), absl::Milliseconds(5), absl::Hours(1)));
  ASSERT_NE(log, nullptr);
  std::uint64_t counter = 0;  // only touched inside make(), under the log's queue lock
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        auto index = log->appendInOrder([&] { return absl::StrFormat("%020d", counter++); });
        if (!index.ok()) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0);
  ASSERT_EQ(log->size(), 1200u);
  for (std::uint64_t i = 0; i < log->size(); ++i) {
    auto e = log->entry(i);
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(*e, absl::StrFormat("%020d", i)) << "entry " << i;
  }
  // Oversized entries made this way are refused like any other.
  EXPECT_EQ(log->appendInOrder([] { return std::string(5000, 'x'); }).status().code(),
            absl::StatusCode::kInvalidArgument);
}
}  // namespace
}  // namespace warden::testing
