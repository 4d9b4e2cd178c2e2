// controller/action_log.h against real temporary directories: entries round trip, proofs
// verify, signed checkpoints match the tree and follow growth (and idleness), and everything
// survives reopening.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/merkle.h"
#include "common/note.h"
#include "controller/action_log.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/scratch_action_log.h"

namespace warden::testing {
namespace {

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
}  // namespace
}  // namespace warden::testing
