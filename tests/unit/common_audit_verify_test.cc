// common/audit/export_writer.h and common/audit/export_verifier.h: the standard log
// (standard_audit_log.h) is exported and verifies, the streaming writer and the whole-export writer
// write the same file, and the writer refuses exports that could not verify.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "tests/unit/standard_audit_log.h"

namespace warden::testing {
namespace {

TEST_F(AuditVerifyTest, TheStandardLogVerifies) {
  const AuditReport r = verify(path_);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.tree_size, 28u);
  merkle::MerkleTree tree;
  for (const auto& e : log_.entries) tree.append(e);
  EXPECT_EQ(r.root_hex, crypto::hex(tree.root()));
  EXPECT_FALSE(r.vkey_pinned);
  EXPECT_EQ(r.vkey, keys().vkey);
  EXPECT_EQ(r.origin, kOrigin);
  // Sizes 0, 7, 16 (the idle duplicate skipped), 22, 28.
  EXPECT_EQ(r.checkpoints, 5u);
  EXPECT_EQ(r.latest_checkpoint, log_.checkpoints.back());
  // Requests, dispatches, receipts, and the admin's signed operator changes.
  EXPECT_EQ(r.signatures_verified, 4u + 6u + 6u + 3u);
  EXPECT_EQ(r.entries_by_type, (std::map<std::string, std::uint64_t>{{"dispatch", 6},
                                                                     {"enrollment", 3},
                                                                     {"event", 2},
                                                                     {"key", 2},
                                                                     {"operator", 4},
                                                                     {"receipt", 6},
                                                                     {"refusal", 1},
                                                                     {"request", 4}}));
  EXPECT_EQ(linesOf(lines_, "checkpoint").size(), 5u);
  EXPECT_EQ(lines_.front(), "warden-audit-export 1");
  EXPECT_EQ(lines_.back(), "end 28");

  AuditVerifyOptions pinned;
  pinned.pinned_vkey = keys().vkey;
  pinned.threads = 1;
  const AuditReport p = verify(path_, pinned);
  EXPECT_TRUE(p.ok) << p.error;
  EXPECT_TRUE(p.vkey_pinned);
}

TEST_F(AuditVerifyTest, StreamingWriterAndWholeExportWriteTheSameFile) {
  // Checkpoints in any order, with duplicates.
  std::vector<std::string> shuffled = log_.checkpoints;
  std::reverse(shuffled.begin(), shuffled.end());
  shuffled.push_back(log_.checkpoints[2]);
  const std::string other = dir_.file("other.export");
  ASSERT_TRUE(writeAuditExport(other, kOrigin, keys().vkey, log_.entries, shuffled).ok());
  EXPECT_EQ(readLines(other), lines_);

  const std::string streamed = dir_.file("streamed.export");
  auto w = AuditExportWriter::open(streamed, kOrigin, keys().vkey);
  ASSERT_TRUE(w.ok()) << w.status();
  std::size_t next_cp = 0;
  for (std::size_t i = 0; i <= log_.entries.size(); ++i) {
    while (next_cp < log_.checkpoints.size() && *checkpointSize(log_.checkpoints[next_cp]) == i) {
      ASSERT_TRUE((*w)->addCheckpoint(log_.checkpoints[next_cp++]).ok());
    }
    if (i < log_.entries.size()) {
      ASSERT_TRUE((*w)->addEntry(log_.entries[i]).ok());
    }
  }
  EXPECT_FALSE(std::filesystem::exists(streamed)) << "visible before finish()";
  auto n = (*w)->finish();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 28u);
  EXPECT_EQ(readLines(streamed), lines_);
  // Nothing but the three exports in the directory: no temporary file left behind.
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 3u);
}

TEST_F(AuditVerifyTest, WriterRefusesExportsThatCannotVerify) {
  const std::string path = dir_.file("refused.export");
  {
    auto w = AuditExportWriter::open(path, kOrigin, keys().vkey);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->addEntry(log_.entries[0]).ok());
    // The size-7 checkpoint after one entry, one by another key, one over another root.
    EXPECT_EQ((*w)->addCheckpoint(log_.checkpoints[1]).code(),
              absl::StatusCode::kFailedPrecondition);
    merkle::MerkleTree one;
    one.append(log_.entries[0]);
    EXPECT_FALSE((*w)->addCheckpoint(signCheckpoint(keys().stranger_signer, 1, one.root())).ok());
    EXPECT_FALSE((*w)->addCheckpoint(signCheckpoint(keys().signer, 1, merkle::emptyRoot())).ok());
    ASSERT_TRUE((*w)->addEntry(log_.entries[1]).ok());
    // No checkpoint covers the entries: finish fails and nothing appears.
    EXPECT_EQ((*w)->finish().status().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  {
    // Abandoned half-way: nothing appears either.
    auto w = AuditExportWriter::open(path, kOrigin, keys().vkey);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->addCheckpoint(log_.checkpoints[0]).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);  // log.export only
  // A checkpoint beyond the exported entries, and no checkpoint covering them all.
  EXPECT_EQ(writeAuditExport(path, kOrigin, keys().vkey,
                             std::span<const std::string>(log_.entries).first(20), log_.checkpoints)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      writeAuditExport(path, kOrigin, keys().vkey,
                       std::span<const std::string>(log_.entries).first(7), {log_.checkpoints[0]})
          .code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(AuditExportWriter::open(path, "another/origin", keys().vkey).ok());
}

}  // namespace
}  // namespace warden::testing
