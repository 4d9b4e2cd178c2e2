// The audit verifier and the log's key: the log must start with it, every checkpoint must be
// signed by it, a pinned key must be it, and checkpoints an auditor saved earlier must be
// consistent with the exported log (not rolled back, not forked).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "tests/unit/standard_audit_log.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(AuditVerifyTest, LogMustStartWithItsKey) {
  LogBuilder b(keys());
  b.op("alice", "admin", keys().alice, "controller");
  b.checkpoint();
  ASSERT_TRUE(b.write(variant_).ok());
  const AuditReport r = verify(variant_);
  EXPECT_EQ(r.bad_index, 0);
  EXPECT_THAT(r.error, HasSubstr("must start with the controller's log key"));
}

TEST_F(AuditVerifyTest, CheckpointSignedByAnotherKey) {
  std::vector<std::string> lines = lines_;
  merkle::MerkleTree tree;
  for (int i = 0; i < 16; ++i) tree.append(log_.entries[i]);
  lines[linesOf(lines_, "checkpoint ")[2]] =
      checkpointLine(signCheckpoint(keys().stranger_signer, 16, tree.root()));
  const AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("(after 16 entries): not signed by the log key"));
}

TEST_F(AuditVerifyTest, PinnedKey) {
  AuditVerifyOptions options;
  options.pinned_vkey = *note::formatVerifierKey(kOrigin, keys().stranger.publicKey());
  AuditReport r = verify(path_, options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_TRUE(r.vkey_pinned);
  EXPECT_THAT(r.error, HasSubstr("not the pinned key"));

  // The entries re-checkpointed with another key, its vkey in the file: the pinned key
  // rejects the file, and without a pin the log's own first entry does (it records the real
  // log key).
  std::vector<std::string> lines = lines_;
  lines[2] = "vkey " + *note::formatVerifierKey(kOrigin, keys().stranger.publicKey());
  lines.erase(std::remove_if(lines.begin(), lines.end(),
                             [](const std::string& l) { return l.rfind("checkpoint ", 0) == 0; }),
              lines.end());
  merkle::MerkleTree tree;
  for (const auto& e : log_.entries) tree.append(e);
  lines.insert(lines.end() - 1,
               checkpointLine(signCheckpoint(keys().stranger_signer, 28, tree.root())));
  options.pinned_vkey = keys().vkey;
  r = verifyLines(lines, options);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("not the pinned key"));
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 0);
  EXPECT_THAT(r.error, HasSubstr("but the log is signed with"));

  options.pinned_vkey = "not a key";
  EXPECT_EQ(verifyAuditExport(path_, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditVerifyTest, SavedCheckpoints) {
  // Every checkpoint of this log, saved earlier, is consistent with it.
  AuditVerifyOptions options;
  options.previous_checkpoints = log_.checkpoints;
  AuditReport r = verify(path_, options);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.previous_checkpoints_checked, log_.checkpoints.size());

  // Rolled back: the auditor saw 28 entries, the export has 22.
  ASSERT_TRUE(
      writeAuditExport(
          variant_, kOrigin, keys().vkey, std::span<const std::string>(log_.entries).first(22),
          {log_.checkpoints[0], log_.checkpoints[1], log_.checkpoints[2], log_.checkpoints[4]})
          .ok());
  options.previous_checkpoints = {log_.checkpoints.back()};
  r = verify(variant_, options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("saved checkpoint 1 has size 28, but the log holds only 22 "
                                 "entries: it was rolled back or truncated"));

  // Forked: same size, another history (one event's detail differs), both signed by the key.
  LogBuilder fork(keys());
  standardLog(fork);
  fork.entries[21] = encodeLogEntry(
      makeEntry(entry_type::kEvent, "controller", "host-1", "", "", "", "rewritten"));
  merkle::MerkleTree tree;
  for (const auto& e : fork.entries) tree.append(e);
  options.previous_checkpoints = {log_.checkpoints[1],
                                  signCheckpoint(keys().signer, 28, tree.root())};
  r = verify(path_, options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("saved checkpoint 2 (size 28)"));
  EXPECT_THAT(r.error, HasSubstr("the log has forked from the one you saw"));

  // A saved checkpoint by another key fails; one that is not a note is unusable input.
  options.previous_checkpoints = {signCheckpoint(keys().stranger_signer, 7, tree.root())};
  r = verify(path_, options);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("saved checkpoint 1 is not signed by the log key"));
  options.previous_checkpoints = {"hello\n"};
  EXPECT_EQ(verifyAuditExport(path_, options).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace warden::testing
