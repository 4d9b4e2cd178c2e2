// The audit verifier against an attacker without the log key, who changes the exported file:
// flipped bytes, changed signatures and bodies, dropped, reordered and truncated entries, an
// older checkpoint placed as the newest, malformed lines. The first bad entry and the reason
// are checked, also when several verification batches hold problems.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/unit/standard_audit_log.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

// First checkpoint size strictly greater than `index` (every entry has one: the last covers
// all).
std::uint64_t nextCheckpointAfter(const LogBuilder& b, std::uint64_t index) {
  std::uint64_t best = UINT64_MAX;
  for (const auto& cp : b.checkpoints) {
    const std::uint64_t s = *checkpointSize(cp);
    if (s > index) best = std::min(best, s);
  }
  return best;
}

TEST_F(AuditVerifyTest, EveryFlippedByteIsCaughtNoEarlierThanItsEntry) {
  const auto entry_lines = linesOf(lines_, "entry ");
  ASSERT_EQ(entry_lines.size(), log_.entries.size());
  int exact = 0, later = 0, by_checkpoint = 0;
  for (std::uint64_t i = 0; i < log_.entries.size(); ++i) {
    const std::string& bytes = log_.entries[i];
    const std::uint64_t next_cp = nextCheckpointAfter(log_, i);
    // Every fourth byte of the first 64 (tag, version, type, time, actor), then a sample.
    std::vector<std::size_t> positions;
    for (std::size_t p = 0; p < bytes.size(); p += (p < 64 ? 4 : bytes.size() / 10 + 1)) {
      positions.push_back(p);
    }
    positions.push_back(bytes.size() - 1);
    for (std::size_t p : positions) {
      std::string flipped = bytes;
      flipped[p] = static_cast<char>(flipped[p] ^ (1 << (p % 8)));
      std::vector<std::string> lines = lines_;
      lines[entry_lines[i]] = entryLine(flipped);
      const AuditReport r = verifyLines(lines);
      SCOPED_TRACE(absl::StrFormat("entry %d byte %d: %s", i, p, r.error));
      ASSERT_FALSE(r.ok);
      if (r.bad_index >= 0) {
        // The entry itself, or one whose check depends on it (a key it recorded, its time),
        // before the next checkpoint.
        EXPECT_GE(r.bad_index, static_cast<std::int64_t>(i));
        EXPECT_LT(r.bad_index, static_cast<std::int64_t>(next_cp));
        (r.bad_index == static_cast<std::int64_t>(i) ? exact : later)++;
        EXPECT_THAT(r.error, HasSubstr(absl::StrFormat("entry %d", r.bad_index)));
      } else {
        // Unsigned fields: the next checkpoint's root no longer matches.
        EXPECT_THAT(r.error, HasSubstr(absl::StrFormat("(after %d entries)", next_cp)));
        EXPECT_THAT(r.error, HasSubstr("is not what the log signed"));
        ++by_checkpoint;
      }
    }
  }
  EXPECT_GT(exact, 10 * later);
  EXPECT_GT(by_checkpoint, 0);
}

TEST_F(AuditVerifyTest, FlippedSignatureOrBodyNamesTheEntry) {
  const auto entry_lines = linesOf(lines_, "entry ");
  int checked = 0;
  for (std::uint64_t i = 0; i < log_.entries.size(); ++i) {
    auto e = decodeLogEntry(log_.entries[i]);
    ASSERT_TRUE(e.ok());
    if (e->signature.empty()) continue;
    for (int field = 0; field < 2; ++field) {
      LogEntry bad = *e;
      std::string& target = field == 0 ? bad.signature : bad.body;
      target[target.size() / 2] ^= 0x10;
      std::vector<std::string> lines = lines_;
      lines[entry_lines[i]] = entryLine(encodeLogEntry(bad));
      const AuditReport r = verifyLines(lines);
      SCOPED_TRACE(r.error);
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(i));
      EXPECT_EQ(r.bad_line, entry_lines[i] + 1);
      if (field == 0) {
        EXPECT_THAT(r.error, HasSubstr("signature does not verify under"));
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * 19);
}

TEST_F(AuditVerifyTest, ReceiptSignedByAnotherAgentsKey) {
  const auto entry_lines = linesOf(lines_, "entry ");
  auto e = decodeLogEntry(log_.entries[kAliceReceipt]);
  ASSERT_TRUE(e.ok());
  e->signature = mustSign(keys().host2, e->body);
  std::vector<std::string> lines = lines_;
  lines[entry_lines[kAliceReceipt]] = entryLine(encodeLogEntry(*e));
  const AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 10);
  EXPECT_EQ(r.error,
            "entry 10 (receipt by agent:host-1, command a-0000000000000001): signature does not "
            "verify under host-1's enrolled key");

  // The same forgery in a log the controller signed: still the receipt's signature.
  const AuditReport built = verifyBuilt([](LogBuilder& b) {
    b.request("alice", keys().alice, "r-5e6f708192a3b4c5", "release", {"host-1"});
    b.dispatch(b.command("a-0000000000000007", "host-1", "release", "alice"), "r-5e6f708192a3b4c5");
    b.receipt("a-0000000000000007", "host-1", "release", keys().host1);  // the replaced key
  });
  EXPECT_EQ(built.bad_index, 30);
  EXPECT_EQ(built.error,
            "entry 30 (receipt by agent:host-1, command a-0000000000000007): signature does not "
            "verify under host-1's enrolled key");
}

TEST_F(AuditVerifyTest, DroppedEntry) {
  // A dispatch dropped: its receipt becomes an orphan.
  std::vector<std::string> lines = lines_;
  lines.erase(lines.begin() + linesOf(lines_, "entry ")[kAliceDispatch]);
  AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 9);
  EXPECT_THAT(r.error, HasSubstr("entry 9 (receipt by agent:host-1, command a-0000000000000001)"));
  EXPECT_THAT(r.error, HasSubstr("orphan"));

  // A receipt dropped: no rule breaks, but the next checkpoint is out of place.
  lines = lines_;
  lines.erase(lines.begin() + linesOf(lines_, "entry ")[kAliceReceipt]);
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("(after 15 entries): has size 16"));

  // The last entry dropped along with the checkpoint line after it: the end count catches it.
  // (A controller that re-signs checkpoints after dropping entries is caught by the auditor's
  // saved checkpoints: see SavedCheckpoints.)
  lines = lines_;
  const auto cps = linesOf(lines_, "checkpoint ");
  lines.erase(lines.begin() + cps.back());
  lines.erase(lines.begin() + linesOf(lines_, "entry ").back());
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("the 'end' line says 28 entries, but the file holds 27"));
}

TEST_F(AuditVerifyTest, ReorderedEntries) {
  // A dispatch moved before its request.
  const auto entry_lines = linesOf(lines_, "entry ");
  std::vector<std::string> lines = lines_;
  std::swap(lines[entry_lines[kAliceRequest]], lines[entry_lines[kAliceDispatch]]);
  AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 8);
  EXPECT_THAT(r.error, HasSubstr("request r-1a2b3c4d5e6f7081 is not logged before it"));

  // Two receipts swapped (15 and 14's order does not matter to the rules): the timestamps do.
  lines = lines_;
  std::swap(lines[entry_lines[14]], lines[entry_lines[15]]);
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 15);
  EXPECT_THAT(r.error, HasSubstr("time went backwards"));

  // Two entries with the same time and no dependency: only the checkpoint root shows it.
  LogBuilder b(keys());
  standardLog(b);
  b.checkpoint();
  b.event("host-1", "first");
  b.event("host-2", "second");
  b.checkpoint();
  ASSERT_TRUE(b.write(variant_).ok());
  lines = readLines(variant_);
  const auto el = linesOf(lines, "entry ");
  auto e28 = decodeLogEntry(b.entries[28]);
  auto e29 = decodeLogEntry(b.entries[29]);
  e28->logged_unix_ms = e29->logged_unix_ms;
  lines[el[28]] = entryLine(encodeLogEntry(*e29));
  lines[el[29]] = entryLine(encodeLogEntry(*e28));
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("one of entries 28..29 is not what the log signed"));
}

TEST_F(AuditVerifyTest, OlderCheckpointPlacedAsTheNewest) {
  std::vector<std::string> lines = lines_;
  lines[linesOf(lines_, "checkpoint ").back()] = checkpointLine(log_.checkpoints[4]);
  const AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("(after 28 entries): has size 22"));
  // Simply missing: the last entries are not covered.
  lines = lines_;
  lines.erase(lines.begin() + linesOf(lines_, "checkpoint ").back());
  const AuditReport m = verifyLines(lines);
  EXPECT_FALSE(m.ok);
  EXPECT_THAT(m.error, HasSubstr("entries 22..27 come after the last checkpoint"));
}

TEST_F(AuditVerifyTest, TruncatedFile) {
  std::vector<std::string> lines = lines_;
  lines.pop_back();  // "end 28"
  AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("without an 'end' line: it is truncated"));

  // Cut inside an entry line.
  std::string text;
  for (const auto& l : lines_) text += l + "\n";
  writeText(variant_, text.substr(0, text.size() / 2));
  r = verify(variant_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("cut off (no newline): the file is truncated"));

  // Cut inside the header, and an empty file.
  writeText(variant_, "warden-audit-export 1\norigin ");
  EXPECT_FALSE(verify(variant_).ok);
  writeText(variant_, "");
  EXPECT_FALSE(verify(variant_).ok);
}

TEST_F(AuditVerifyTest, OrphanReceipt) {
  const AuditReport r = verifyBuilt([](LogBuilder& b) {
    b.receipt("a-00000000000000ff", "host-2", "isolate", keys().host2);  // 28
  });
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 28);
  EXPECT_EQ(r.error,
            "entry 28 (receipt by agent:host-2, command a-00000000000000ff): command "
            "a-00000000000000ff was not dispatched before it (orphan receipt)");
}

TEST_F(AuditVerifyTest, ErrorsCarryNoTerminalEscapes) {
  const AuditReport r = verifyBuilt([](LogBuilder& b) {
    b.receipt("a-\x1b[2J\x1b]0;pwned\x07", "host-2", "isolate", keys().host2);
  });
  EXPECT_EQ(r.bad_index, 28);
  EXPECT_EQ(r.error.find('\x1b'), std::string::npos) << r.error;
  EXPECT_THAT(r.error, HasSubstr("command a-\\x1b[2J\\x1b]0;pwned\\x07)"));
}

TEST_F(AuditVerifyTest, DispatchWithoutRequest) {
  const AuditReport r = verifyBuilt([](LogBuilder& b) {
    b.dispatch(b.command("a-0000000000000010", "host-2", "isolate", "alice"), "r-ffffffffffffffff");
  });
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 28);
  EXPECT_EQ(r.error,
            "entry 28 (dispatch by controller, command a-0000000000000010, for request "
            "r-ffffffffffffffff): request r-ffffffffffffffff is not logged before it");
}
TEST_F(AuditVerifyTest, MalformedFiles) {
  EXPECT_EQ(verifyAuditExport(dir_.file("missing")).status().code(), absl::StatusCode::kNotFound);
  std::vector<std::string> lines = lines_;
  lines[0] = "warden-audit-export 2";
  EXPECT_THAT(verifyLines(lines).error, HasSubstr("not a Warden audit export"));
  lines = lines_;
  lines.insert(lines.begin() + 10, "entyr AAAA");
  AuditReport r = verifyLines(lines);
  EXPECT_EQ(r.bad_line, 11u);
  EXPECT_THAT(r.error, HasSubstr("line 11: not an entry, checkpoint or end line"));
  lines = lines_;
  lines[linesOf(lines_, "entry ")[3]] += "!";
  r = verifyLines(lines);
  EXPECT_EQ(r.bad_index, 3);
  EXPECT_THAT(r.error, HasSubstr("not valid base64"));
  lines = lines_;
  lines.push_back("entry AAAA");
  EXPECT_THAT(verifyLines(lines).error, HasSubstr("follows the 'end' line"));
}

// Several verification batches (small ones, to stay fast): the first bad entry is still the one
// reported when a later batch also holds problems, whatever thread finds them.
TEST(AuditVerifyBatchTest, FirstProblemAcrossBatches) {
  TempDir dir;
  LogBuilder b(keys());
  genesis(b);
  for (int i = 0; b.size() < 1'000; ++i) {
    const std::string rid = absl::StrFormat("r-%016x", i);
    const std::string cid = absl::StrFormat("a-%016x", i);
    const std::string host = i % 2 ? "host-1" : "host-2";
    b.request("bob", keys().bob, rid, "isolate", {host});
    b.dispatch(b.command(cid, host, "isolate", "bob"), rid);
    b.receipt(cid, host, "isolate", i % 2 ? keys().host1 : keys().host2);
    if (i % 50 == 0) b.checkpoint();
  }
  b.checkpoint();
  const std::string path = dir.file("big.export");
  ASSERT_TRUE(b.write(path).ok());
  AuditVerifyOptions options;
  options.batch_entries = 100;
  const AuditReport ok = verify(path, options);
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.tree_size, b.size());
  EXPECT_EQ(ok.signatures_verified, b.size() - 5);  // all but the genesis' unsigned five

  const auto lines = readLines(path);
  const auto entry_lines = linesOf(lines, "entry ");
  const auto badSignature = [&](std::vector<std::string>& l, std::uint64_t index) {
    auto e = decodeLogEntry(b.entries[index]);
    e->signature[5] ^= 1;
    l[entry_lines[index]] = entryLine(encodeLogEntry(*e));
  };
  const auto badTime = [&](std::vector<std::string>& l, std::uint64_t index) {
    auto e = decodeLogEntry(b.entries[index]);
    e->logged_unix_ms = 0;
    l[entry_lines[index]] = entryLine(encodeLogEntry(*e));
  };
  struct Case {
    std::vector<std::uint64_t> bad_signatures;
    std::vector<std::uint64_t> bad_times;
    std::int64_t first;
  };
  const std::vector<Case> cases = {
      {{459}, {900}, 459},    // signature in an early batch, rule break in a later one
      {{801}, {803}, 801},    // one batch, the signature first
      {{804}, {803}, 803},    // one batch, the rule break first
      {{450, 410}, {}, 410},  // two signatures in one batch
      {{650, 420}, {}, 420},  // two signatures in two batches
      {{999}, {}, 999},       // the very last entry
  };
  for (unsigned threads : {1u, 3u}) {
    options.threads = threads;
    for (const auto& c : cases) {
      std::vector<std::string> l = lines;
      for (auto i : c.bad_signatures) badSignature(l, i);
      for (auto i : c.bad_times) badTime(l, i);
      writeLines(dir.file("v"), l);
      const AuditReport r = verify(dir.file("v"), options);
      EXPECT_EQ(r.bad_index, c.first) << "threads " << threads << ": " << r.error;
    }
  }
}

}  // namespace
}  // namespace warden::testing
