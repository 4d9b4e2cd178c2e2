// controller/action_log.h against real temporary directories: durability, recovery, tamper and
// rollback detection, signed checkpoints, proofs, group commit under concurrency, and crash
// safety with SIGKILL at random moments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/merkle.h"
#include "common/note.h"
#include "controller/action_log.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::warden::testing::TempDir;

using ::testing::HasSubstr;

constexpr char kOrigin[] = "warden.test/log";

crypto::Ed25519Key testKey() {
  auto key = crypto::Ed25519Key::fromRawPrivate(std::string(32, '\x42'));
  EXPECT_TRUE(key.ok()) << key.status();
  return *key;
}

ActionLogOptions options(const std::string& dir, absl::Duration delay = absl::Hours(1),
                         absl::Duration idle = absl::Hours(1)) {
  return ActionLogOptions{.dir = dir + "/log",
                          .origin = kOrigin,
                          .key = testKey(),
                          .checkpoint_delay = delay,
                          .idle_checkpoint = idle,
                          .max_entry_bytes = 4096};
}

std::unique_ptr<ActionLog> mustOpen(ActionLogOptions opts) {
  auto log = ActionLog::open(std::move(opts));
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? std::move(*log) : nullptr;
}

std::string makeEntry(std::uint64_t i) {
  std::string e = absl::StrFormat("entry %d:", i);
  e.append(i % 97 + 1, static_cast<char>('a' + i % 26));
  return e;
}

std::string rootOf(const std::vector<std::string>& entries) {
  std::vector<std::string> leaves;
  for (const auto& e : entries) leaves.push_back(merkle::leafHash(e));
  return merkle::rootFromLeafHashes(leaves);
}

std::vector<std::string> appendN(ActionLog& log, std::uint64_t n) {
  std::vector<std::string> entries;
  const std::uint64_t base = log.size();
  for (std::uint64_t i = 0; i < n; ++i) {
    entries.push_back(makeEntry(base + i));
    auto index = log.append(entries.back());
    EXPECT_TRUE(index.ok()) << index.status();
    if (index.ok()) {
      EXPECT_EQ(*index, base + i);
    }
  }
  return entries;
}

std::string readAll(const std::string& path) {
  auto data = readFile(path, 1 << 30);
  EXPECT_TRUE(data.ok()) << data.status();
  return data.ok() ? *data : "";
}

void writeAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  ASSERT_TRUE(out.good());
}

// Verifies a checkpoint note with the standard tooling path and returns its body.
note::Checkpoint verifiedCheckpoint(const std::string& signed_note) {
  auto vkey = note::formatVerifierKey(kOrigin, testKey().publicKey());
  EXPECT_TRUE(vkey.ok()) << vkey.status();
  auto verifier = note::parseVerifierKey(*vkey);
  EXPECT_TRUE(verifier.ok()) << verifier.status();
  auto opened = note::openNote(signed_note, {*verifier});
  EXPECT_TRUE(opened.ok()) << opened.status();
  if (!opened.ok()) return {};
  auto cp = note::parseCheckpoint(opened->text);
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? *cp : note::Checkpoint{};
}

TEST(ActionLogTest, AppendEntryRoundTripAndRoot) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->size(), 0u);
  EXPECT_EQ(log->root(), merkle::emptyRoot());
  const auto entries = appendN(*log, 100);
  EXPECT_EQ(log->size(), 100u);
  for (std::uint64_t i = 0; i < entries.size(); ++i) {
    auto e = log->entry(i);
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(*e, entries[i]);
  }
  EXPECT_EQ(log->root(), rootOf(entries));
  EXPECT_EQ(log->entry(100).status().code(), absl::StatusCode::kOutOfRange);
  // Binary entries survive unchanged.
  const std::string binary("\0\x01\xff\n\0", 5);
  auto index = log->append(binary);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(*log->entry(*index), binary);

  struct stat st {};
  ASSERT_EQ(::stat((tmp.path() + "/log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(ActionLogTest, RejectsEmptyAndOversizedEntries) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->append("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->append(std::string(4097, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(log->append(std::string(4096, 'x')).ok());
  EXPECT_EQ(log->size(), 1u);
}

TEST(ActionLogTest, RejectsBadOptionsAndSecondOpen) {
  TempDir tmp;
  auto bad = options(tmp.path());
  bad.origin = "bad origin";
  EXPECT_FALSE(ActionLog::open(bad).ok());
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(ActionLog::open(options(tmp.path())).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ActionLogTest, ProofsVerify) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  std::vector<std::string> entries;
  std::vector<std::string> roots = {merkle::emptyRoot()};
  for (std::uint64_t n = 1; n <= 33; ++n) {
    auto more = appendN(*log, 1);
    entries.push_back(more[0]);
    roots.push_back(log->root());
    ASSERT_EQ(roots.back(), rootOf(entries));
  }
  const std::uint64_t n_max = entries.size();
  for (std::uint64_t size = 1; size <= n_max; ++size) {
    for (std::uint64_t i = 0; i < size; ++i) {
      auto proof = log->inclusionProof(i, size);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_TRUE(
          merkle::verifyInclusion(i, size, merkle::leafHash(entries[i]), *proof, roots[size]).ok())
          << i << " in " << size;
    }
    for (std::uint64_t old_size = 1; old_size <= size; ++old_size) {
      auto proof = log->consistencyProof(old_size, size);
      ASSERT_TRUE(proof.ok()) << proof.status();
      EXPECT_TRUE(
          merkle::verifyConsistency(old_size, size, roots[old_size], roots[size], *proof).ok())
          << old_size << " -> " << size;
    }
  }
  EXPECT_FALSE(log->inclusionProof(0, n_max + 1).ok());
  EXPECT_FALSE(log->consistencyProof(1, n_max + 1).ok());
  EXPECT_FALSE(log->inclusionProof(n_max, n_max).ok());
}

TEST(ActionLogTest, CheckpointVerifiesAndMatchesTree) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  appendN(*log, 5);
  auto cp = log->checkpoint();
  ASSERT_TRUE(cp.ok()) << cp.status();
  const note::Checkpoint body = verifiedCheckpoint(*cp);
  EXPECT_EQ(body.origin, kOrigin);
  EXPECT_EQ(body.size, 5u);
  EXPECT_EQ(body.root_hash, log->root());
  EXPECT_TRUE(body.extensions.empty());

  // Another key does not verify it.
  auto other = crypto::Ed25519Key::generate();
  ASSERT_TRUE(other.ok());
  auto vkey = note::formatVerifierKey(kOrigin, other->publicKey());
  ASSERT_TRUE(vkey.ok());
  auto verifier = note::parseVerifierKey(*vkey);
  ASSERT_TRUE(verifier.ok());
  EXPECT_FALSE(note::openNote(*cp, {*verifier}).ok());

  // No growth: the same checkpoint comes back, nothing new is signed.
  auto again = log->checkpoint();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *cp);
  // Growth: checkpoint() covers the new entry at once.
  appendN(*log, 1);
  auto newer = log->checkpoint();
  ASSERT_TRUE(newer.ok());
  EXPECT_EQ(verifiedCheckpoint(*newer).size, 6u);
  auto all = log->checkpoints();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0], *cp);
  EXPECT_EQ((*all)[1], *newer);
}

// Polls checkpoints() until the newest one has at least `size` entries; returns false after
// `bound`.
bool waitForCheckpoint(const ActionLog& log, std::uint64_t size, absl::Duration bound) {
  const absl::Time deadline = absl::Now() + bound;
  while (absl::Now() < deadline) {
    auto all = log.checkpoints();
    if (all.ok() && !all->empty() && verifiedCheckpoint(all->back()).size >= size) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

TEST(ActionLogTest, CheckpointThreadSignsSoonAfterGrowth) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path(), absl::Milliseconds(200), absl::Hours(1)));
  ASSERT_NE(log, nullptr);
  // A new log gets a checkpoint of the empty tree.
  ASSERT_TRUE(waitForCheckpoint(*log, 0, absl::Seconds(5)));
  const absl::Time start = absl::Now();
  appendN(*log, 20);  // a burst
  ASSERT_TRUE(waitForCheckpoint(*log, 20, absl::Seconds(5)));
  const absl::Duration took = absl::Now() - start;
  auto all = log->checkpoints();
  ASSERT_TRUE(all.ok());
  const note::Checkpoint newest = verifiedCheckpoint(all->back());
  EXPECT_EQ(newest.root_hash, log->root());
  // The burst did not get one checkpoint per entry: at most the empty tree's, one per 200 ms
  // of growth (however slow the disk made the 20 appends) and the final one.
  EXPECT_LE(all->size(), 2 + static_cast<std::size_t>(took / absl::Milliseconds(200)) + 1);
}

TEST(ActionLogTest, CheckpointThreadResignsWhenIdle) {
  TempDir tmp;
  auto log = mustOpen(options(tmp.path(), absl::Milliseconds(10), absl::Milliseconds(100)));
  ASSERT_NE(log, nullptr);
  appendN(*log, 3);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::size_t count = 0;
  while (absl::Now() < deadline) {
    auto all = log->checkpoints();
    ASSERT_TRUE(all.ok());
    count = all->size();
    if (count >= 4) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_GE(count, 4u);
  auto all = log->checkpoints();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(verifiedCheckpoint(all->back()).size, 3u);
}

TEST(ActionLogTest, ReopenRecoversEverything) {
  TempDir tmp;
  std::vector<std::string> entries;
  std::string root, cp;
  {
    auto log = mustOpen(options(tmp.path()));
    ASSERT_NE(log, nullptr);
    entries = appendN(*log, 50);
    root = log->root();
    cp = *log->checkpoint();
  }
  auto log = mustOpen(options(tmp.path()));
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->size(), 50u);
  EXPECT_EQ(log->root(), root);
  for (std::uint64_t i = 0; i < entries.size(); ++i) EXPECT_EQ(*log->entry(i), entries[i]);
  EXPECT_EQ(*log->checkpoint(), cp);
  auto index = log->append("after reopen");
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(*index, 50u);
  entries.push_back("after reopen");
  EXPECT_EQ(log->root(), rootOf(entries));
}

class ActionLogDamageTest : public ::testing::Test {
 protected:
  // A closed log of 10 entries without checkpoints (as after a crash before the first one).
  void SetUp() override {
    {
      auto log = mustOpen(options(tmp_.path()));
      ASSERT_NE(log, nullptr);
      entries_ = appendN(*log, 10);
    }
    ASSERT_EQ(::unlink(checkpointsPath().c_str()), 0);
    data_ = readAll(entriesPath());
  }
  std::string entriesPath() const { return tmp_.path() + "/log/entries"; }
  std::string checkpointsPath() const { return tmp_.path() + "/log/checkpoints"; }
  // Offset of record i's payload.
  std::size_t payloadOffset(std::size_t i) const {
    std::size_t off = 0;
    for (std::size_t k = 0; k < i; ++k) off += 4 + entries_[k].size() + 32;
    return off + 4;
  }
  void expectRecovered(std::size_t n) {
    auto log = mustOpen(options(tmp_.path()));
    ASSERT_NE(log, nullptr);
    ASSERT_EQ(log->size(), n);
    const std::vector<std::string> kept(entries_.begin(), entries_.begin() + n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(*log->entry(i), entries_[i]);
    EXPECT_EQ(log->root(), rootOf(kept));
    // The tail is gone from the file, and appends continue after the last complete record.
    EXPECT_EQ(readAll(entriesPath()).size(), payloadOffset(n) - 4);
    auto index = log->append("next");
    ASSERT_TRUE(index.ok());
    EXPECT_EQ(*index, n);
  }

  TempDir tmp_;
  std::vector<std::string> entries_;
  std::string data_;
};

TEST_F(ActionLogDamageTest, ShortTailIsTruncated) {
  writeAll(entriesPath(), data_.substr(0, data_.size() - 5));
  expectRecovered(9);
}

TEST_F(ActionLogDamageTest, ShortHeaderIsTruncated) {
  writeAll(entriesPath(), data_ + std::string("\x00\x00", 2));
  expectRecovered(10);
}

TEST_F(ActionLogDamageTest, GarbageTailIsTruncated) {
  writeAll(entriesPath(), data_ + "\x7f\x13garbage");
  expectRecovered(10);
}

TEST_F(ActionLogDamageTest, ZeroFilledTailIsTruncated) {
  writeAll(entriesPath(), data_ + std::string(4096, '\0'));
  expectRecovered(10);
}

TEST_F(ActionLogDamageTest, FinalRecordWithBadHashIsTruncated) {
  std::string data = data_;
  data[payloadOffset(9)] ^= 0x01;
  writeAll(entriesPath(), data);
  expectRecovered(9);
}

TEST_F(ActionLogDamageTest, FlippedByteInEarlierEntryFailsOpen) {
  for (std::size_t victim : {0, 3, 8}) {
    std::string data = data_;
    data[payloadOffset(victim) + 2] ^= 0x20;
    writeAll(entriesPath(), data);
    auto log = ActionLog::open(options(tmp_.path()));
    ASSERT_FALSE(log.ok()) << victim;
    EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(log.status().message(), HasSubstr("tampered"));
    // Nothing was truncated.
    EXPECT_EQ(readAll(entriesPath()), data);
  }
}

TEST_F(ActionLogDamageTest, FlippedStoredHashInEarlierRecordFailsOpen) {
  std::string data = data_;
  data[payloadOffset(4) + entries_[4].size() + 7] ^= 0x80;
  writeAll(entriesPath(), data);
  EXPECT_EQ(ActionLog::open(options(tmp_.path())).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ActionLogTest, RollbackIsDetected) {
  TempDir tmp;
  const std::string entries_path = tmp.path() + "/log/entries";
  std::string old_entries;
  {
    auto log = mustOpen(options(tmp.path()));
    ASSERT_NE(log, nullptr);
    appendN(*log, 5);
    ASSERT_TRUE(log->checkpoint().ok());
    old_entries = readAll(entries_path);
    appendN(*log, 5);
    ASSERT_TRUE(log->checkpoint().ok());
  }
  writeAll(entries_path, old_entries);
  auto log = ActionLog::open(options(tmp.path()));
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(log.status().message(), HasSubstr("rollback"));
}

TEST(ActionLogTest, RewrittenHistoryIsDetected) {
  TempDir tmp;
  const std::string entries_path = tmp.path() + "/log/entries";
  {
    auto log = mustOpen(options(tmp.path()));
    ASSERT_NE(log, nullptr);
    appendN(*log, 5);
    ASSERT_TRUE(log->checkpoint().ok());
  }
  // A same-length log with different (self-consistent) records.
  const std::string checkpoints = readAll(tmp.path() + "/log/checkpoints");
  std::filesystem::remove_all(tmp.path() + "/log");
  {
    auto log = mustOpen(options(tmp.path()));
    ASSERT_NE(log, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(log->append(absl::StrFormat("forged %d", i)).ok());
  }
  writeAll(tmp.path() + "/log/checkpoints", checkpoints);
  EXPECT_EQ(ActionLog::open(options(tmp.path())).status().code(), absl::StatusCode::kDataLoss);
}

TEST(ActionLogTest, CheckpointByAnotherKeyFailsOpen) {
  TempDir tmp;
  {
    auto log = mustOpen(options(tmp.path()));
    ASSERT_NE(log, nullptr);
    appendN(*log, 2);
  }
  auto opts = options(tmp.path());
  auto other = crypto::Ed25519Key::generate();
  ASSERT_TRUE(other.ok());
  opts.key = *other;
  EXPECT_EQ(ActionLog::open(opts).status().code(), absl::StatusCode::kDataLoss);
}

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
}  // namespace warden
