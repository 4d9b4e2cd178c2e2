// controller/action_log.h and a damaged or tampered log: a torn tail (as after a crash) is
// truncated to the last complete record, while a changed earlier record, a rollback, rewritten
// history or a checkpoint by another key makes open fail.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "controller/action_log.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/scratch_action_log.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

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
}  // namespace
}  // namespace warden::testing
