// The verifier's driver: reads the export line by line, checks the header and each
// checkpoint, applies what holds for every entry and then the entry's rule (entry_rule.h), and
// runs the signature checks of each batch of entries on all threads (signature_pool.h).
#include "common/audit/export_verifier.h"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/audit/export_format.h"
#include "common/audit/merkle_frontier.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/line_reader.h"
#include "common/audit/verify/log_state.h"
#include "common/audit/verify/signature_pool.h"
#include "common/audit/verify/untrusted_text.h"
#include "common/crypto/encoding.h"
#include "common/note.h"
#include "common/status.h"

namespace warden {
namespace audit_verify {
namespace {

// Entries per batch: large enough that handing a batch to the signature threads costs nothing
// next to its ~4096 Ed25519 checks, small enough that two batches in memory stay a few MiB.
constexpr std::size_t kDefaultBatchEntries = 4096;

// Where a problem sits in log order, so that the first one wins however the work was split:
// anything between entries (a checkpoint, a malformed line, the header) after k entries sits
// at 2k, entry i at 2i + 1.
using Position = std::uint64_t;
constexpr Position kNoProblem = std::numeric_limits<Position>::max();
Position gapPosition(std::uint64_t entries_before) { return 2 * entries_before; }
Position entryPosition(std::uint64_t index) { return 2 * index + 1; }

struct Problem {
  Position position = kNoProblem;
  std::int64_t index = -1;
  std::uint64_t line = 0;
  std::string message;
};

struct SavedCheckpoint {
  std::uint64_t size = 0;
  std::string root;
  std::size_t ordinal = 0;  // 1-based, in the order the caller gave them
};

class ExportVerifier {
 public:
  explicit ExportVerifier(const AuditVerifyOptions& options) : options_(options) {}

  absl::StatusOr<AuditReport> run(const std::string& path);

 private:
  // Parse and state updates for one line; false once verification must stop.
  absl::StatusOr<bool> header(LineReader& reader);
  bool entryLine(std::string_view b64, std::uint64_t line, Batch& batch);
  bool checkpointLine(std::string_view b64, std::uint64_t line);
  // What holds for every entry, then the entry's own rule; adds its signature check to
  // `batch`. An error message (without the entry label) when a rule is broken.
  std::optional<std::string> applyRules(const LogEntry& e, std::uint64_t index, Batch& batch);
  void checkSavedCheckpointsAtSize();

  void fail(Position position, std::int64_t index, std::uint64_t line, std::string message) {
    if (position < problem_.position) {
      problem_ = Problem{position, index, line, printableAscii(message)};
    }
  }
  void failGap(std::uint64_t line, std::string message) {
    fail(gapPosition(frontier_.size()), -1, line, std::move(message));
  }
  void collect(Batch& batch);

  const AuditVerifyOptions& options_;
  AuditReport report_;
  Problem problem_;

  note::Verifier verifier_;
  std::vector<SavedCheckpoint> saved_;  // by size
  std::size_t next_saved_ = 0;

  MerkleFrontier frontier_;
  std::uint64_t covered_ = 0;  // size of the last verified checkpoint
  bool have_checkpoint_ = false;
  std::int64_t last_ms_ = std::numeric_limits<std::int64_t>::min();

  LogState log_;
};

absl::StatusOr<bool> ExportVerifier::header(LineReader& reader) {
  std::string_view line;
  std::string lines[3];
  for (int i = 0; i < 3; ++i) {
    WARDEN_ASSIGN_OR_RETURN(LineReader::Result r, reader.next(&line));
    if (r != LineReader::Result::kLine) {
      fail(0, -1, reader.lineNumber(),
           absl::StrFormat("line %d: the file ends inside the header: not a complete Warden audit "
                           "export",
                           reader.lineNumber()));
      return false;
    }
    lines[i] = std::string(line);
  }
  if (lines[0] != kAuditExportMagic) {
    fail(0, -1, 1,
         absl::StrFormat("line 1: not a Warden audit export (expected '%s', found %s)",
                         kAuditExportMagic, quote(lines[0])));
    return false;
  }
  auto origin = afterPrefix(lines[1], "origin ");
  if (!origin || !note::isValidKeyName(*origin)) {
    fail(0, -1, 2,
         absl::StrFormat("line 2: expected 'origin <log origin>', found %s", quote(lines[1])));
    return false;
  }
  report_.origin = std::string(*origin);
  auto file_vkey = afterPrefix(lines[2], "vkey ");
  if (!file_vkey) {
    fail(0, -1, 3,
         absl::StrFormat("line 3: expected 'vkey <verifier key>', found %s", quote(lines[2])));
    return false;
  }
  auto parsed = note::parseVerifierKey(*file_vkey);
  if (!parsed.ok()) {
    fail(0, -1, 3,
         absl::StrFormat("line 3: the export's verifier key does not parse: %s",
                         parsed.status().message()));
    return false;
  }
  if (options_.pinned_vkey.has_value()) {
    report_.vkey_pinned = true;
    report_.vkey = *options_.pinned_vkey;
    if (*file_vkey != *options_.pinned_vkey) {
      fail(0, -1, 3,
           absl::StrFormat("line 3: the export names log key %s, not the pinned key %s",
                           quote(*file_vkey), quote(*options_.pinned_vkey)));
      return false;
    }
  } else {
    report_.vkey = std::string(*file_vkey);
  }
  log_.vkey = std::string(*file_vkey);
  verifier_ = *parsed;
  if (verifier_.name != report_.origin) {
    fail(0, -1, 3,
         absl::StrFormat("line 3: the log key is named '%s', but the log's origin is '%s'",
                         verifier_.name, report_.origin));
    return false;
  }
  return true;
}

std::optional<std::string> ExportVerifier::applyRules(const LogEntry& e, std::uint64_t index,
                                                      Batch& batch) {
  if (e.logged_unix_ms < last_ms_) {
    // Either time may be the changed one: name both entries.
    return absl::StrFormat(
        "logged at %d ms, before entry %d (%d ms): time went backwards, one of the two times was "
        "changed",
        e.logged_unix_ms, index - 1, last_ms_);
  }
  if (index == 0 && e.type != entry_type::kKey) {
    return std::string("the log must start with the controller's log key (a key entry)");
  }
  const EntryRule& rule = ruleFor(e.type);
  if (!rule.genesis()) log_.genesis = false;
  RuleOutcome outcome = rule.check(e, index, log_);
  if (outcome.broken) return std::move(outcome.broken);
  if (outcome.signer) {
    batch.jobs.push_back(
        SignatureJob{static_cast<std::uint32_t>(batch.entries.size() - 1), *outcome.signer});
  }
  last_ms_ = e.logged_unix_ms;
  return std::nullopt;
}

bool ExportVerifier::entryLine(std::string_view b64, std::uint64_t line, Batch& batch) {
  const std::uint64_t index = frontier_.size();
  auto bytes = crypto::unbase64(b64);
  if (!bytes.ok()) {
    fail(entryPosition(index), static_cast<std::int64_t>(index), line,
         absl::StrFormat("entry %d (line %d): not valid base64: %s", index, line,
                         bytes.status().message()));
    return false;
  }
  auto entry = decodeLogEntry(*bytes);
  if (!entry.ok()) {
    fail(entryPosition(index), static_cast<std::int64_t>(index), line,
         absl::StrFormat("entry %d (line %d): does not decode as a log entry: %s", index, line,
                         entry.status().message()));
    return false;
  }
  frontier_.append(*bytes);
  batch.entries.push_back(std::move(*entry));
  batch.lines.push_back(line);
  const LogEntry& e = batch.entries.back();
  if (auto broken = applyRules(e, index, batch)) {
    fail(entryPosition(index), static_cast<std::int64_t>(index), line,
         absl::StrFormat("%s: %s", entryLabel(e, index), *broken));
    return false;
  }
  ++report_.entries_by_type[e.type];
  if (options_.on_entry) options_.on_entry(index, e);
  checkSavedCheckpointsAtSize();
  return problem_.position == kNoProblem;
}

bool ExportVerifier::checkpointLine(std::string_view b64, std::uint64_t line) {
  const std::uint64_t n = frontier_.size();
  const std::string where = absl::StrFormat("checkpoint at line %d (after %d entries)", line, n);
  auto note_text = crypto::unbase64(b64);
  if (!note_text.ok()) {
    failGap(line, absl::StrFormat("%s: not valid base64: %s", where, note_text.status().message()));
    return false;
  }
  auto opened = note::openNote(*note_text, {verifier_});
  if (!opened.ok()) {
    failGap(line, absl::StrFormat("%s: not signed by the log key %s: %s", where, verifier_.name,
                                  opened.status().message()));
    return false;
  }
  auto cp = note::parseCheckpoint(opened->text);
  if (!cp.ok()) {
    failGap(line, absl::StrFormat("%s: not a checkpoint: %s", where, cp.status().message()));
    return false;
  }
  if (cp->origin != report_.origin) {
    failGap(line,
            absl::StrFormat("%s: for log %s, not %s", where, quote(cp->origin), report_.origin));
    return false;
  }
  if (cp->size != n) {
    failGap(line, absl::StrFormat("%s: has size %d; a checkpoint must follow the entry that "
                                  "brings the tree to its size",
                                  where, cp->size));
    return false;
  }
  const std::string root = frontier_.root();
  if (cp->root_hash != root && covered_ == n) {
    // Nothing since the last verified checkpoint (or the empty tree) could explain it.
    failGap(line, absl::StrFormat("%s: signs root %s, but the tree of size %d has root %s, "
                                  "already vouched for: the log key signed a fork",
                                  where, crypto::hex(cp->root_hash), n, crypto::hex(root)));
    return false;
  }
  if (cp->root_hash != root) {
    failGap(line,
            absl::StrFormat("%s: signed root %s, but the entries before it have root %s: one of "
                            "entries %d..%d is not what the log signed",
                            where, crypto::hex(cp->root_hash), crypto::hex(root), covered_,
                            static_cast<std::int64_t>(n) - 1));
    return false;
  }
  covered_ = n;
  have_checkpoint_ = true;
  ++report_.checkpoints;
  report_.latest_checkpoint = std::move(*note_text);
  return true;
}

void ExportVerifier::checkSavedCheckpointsAtSize() {
  const std::uint64_t n = frontier_.size();
  while (next_saved_ < saved_.size() && saved_[next_saved_].size == n) {
    const SavedCheckpoint& s = saved_[next_saved_++];
    ++report_.previous_checkpoints_checked;
    const std::string root = frontier_.root();
    if (s.root != root) {
      fail(gapPosition(n), -1, 0,
           absl::StrFormat("saved checkpoint %d (size %d) has root %s, but this log's root at "
                           "size %d is %s: the log has forked from the one you saw",
                           s.ordinal, s.size, crypto::hex(s.root), n, crypto::hex(root)));
    }
  }
}

void ExportVerifier::collect(Batch& batch) {
  report_.signatures_verified += batch.jobs.size();
  if (batch.bad_slot == std::numeric_limits<std::uint32_t>::max()) return;
  const LogEntry& e = batch.entries[batch.bad_slot];
  const std::uint64_t index = batch.first_index + batch.bad_slot;
  fail(entryPosition(index), static_cast<std::int64_t>(index), batch.lines[batch.bad_slot],
       absl::StrFormat("%s: signature does not verify under %s%s", entryLabel(e, index),
                       ruleFor(e.type).signerName(e), batch.bad_reason));
}

absl::StatusOr<AuditReport> ExportVerifier::run(const std::string& path) {
  // Unusable options are the caller's error, not the file's.
  if (options_.pinned_vkey.has_value()) {
    if (auto v = note::parseVerifierKey(*options_.pinned_vkey); !v.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("the pinned log key does not parse: %s", v.status().message()));
    }
  }
  for (std::size_t i = 0; i < options_.previous_checkpoints.size(); ++i) {
    if (auto s = checkpointSize(options_.previous_checkpoints[i]); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "saved checkpoint %d is not a checkpoint note: %s", i + 1, s.status().message()));
    }
  }

  LineReader reader;
  WARDEN_RETURN_IF_ERROR(reader.open(path));
  WARDEN_ASSIGN_OR_RETURN(const bool header_ok, header(reader));
  if (!header_ok) {
    report_.ok = false;
    report_.bad_index = problem_.index;
    report_.bad_line = problem_.line;
    report_.error = problem_.message;
    return report_;
  }

  // The auditor's saved checkpoints must verify under the same key before they mean anything.
  for (std::size_t i = 0; i < options_.previous_checkpoints.size(); ++i) {
    auto opened = note::openNote(options_.previous_checkpoints[i], {verifier_});
    if (!opened.ok()) {
      fail(0, -1, 0,
           absl::StrFormat("saved checkpoint %d is not signed by the log key %s: %s", i + 1,
                           verifier_.name, opened.status().message()));
      break;
    }
    auto cp = note::parseCheckpoint(opened->text);
    if (!cp.ok()) {
      fail(0, -1, 0, absl::StrFormat("saved checkpoint %d: %s", i + 1, cp.status().message()));
      break;
    }
    if (cp->origin != report_.origin) {
      fail(0, -1, 0,
           absl::StrFormat("saved checkpoint %d is for log %s, not %s", i + 1, quote(cp->origin),
                           report_.origin));
      break;
    }
    saved_.push_back(SavedCheckpoint{cp->size, cp->root_hash, i + 1});
  }
  std::stable_sort(saved_.begin(), saved_.end(),
                   [](const auto& a, const auto& b) { return a.size < b.size; });
  checkSavedCheckpointsAtSize();

  unsigned threads = options_.threads != 0 ? options_.threads : std::thread::hardware_concurrency();
  threads = std::max(1u, threads);
  SignaturePool pool(threads - 1);
  // Two batches: one being read and checked in order here, the other's signatures being
  // checked by the pool meanwhile.
  const std::size_t batch_entries =
      options_.batch_entries != 0 ? options_.batch_entries : kDefaultBatchEntries;
  std::array<Batch, 2> batches;
  Batch* reading = &batches[0];
  Batch* checking = nullptr;
  reading->reset(0);
  const auto settle = [&](Batch* batch) {
    pool.finish(batch);
    collect(*batch);
  };
  const auto handOff = [&] {
    if (checking != nullptr) settle(checking);
    pool.publish(reading);
    checking = reading;
    reading = reading == &batches[0] ? &batches[1] : &batches[0];
    reading->reset(frontier_.size());
  };

  bool reached_end = false;  // read to the end of the file without a problem
  std::optional<std::uint64_t> end_count;
  std::uint64_t end_line = 0;
  while (problem_.position == kNoProblem) {
    std::string_view line;
    WARDEN_ASSIGN_OR_RETURN(LineReader::Result r, reader.next(&line));
    const std::uint64_t line_no = reader.lineNumber();
    if (r == LineReader::Result::kEof) {
      reached_end = true;
      break;
    }
    if (r == LineReader::Result::kTooLong) {
      failGap(line_no,
              absl::StrFormat("line %d is longer than %d bytes", line_no, kAuditExportMaxLine));
      break;
    }
    if (r == LineReader::Result::kUnterminated) {
      failGap(line_no,
              absl::StrFormat("line %d is cut off (no newline): the file is truncated", line_no));
      break;
    }
    if (end_count.has_value()) {
      failGap(line_no, absl::StrFormat("line %d follows the 'end' line", line_no));
      break;
    }
    if (auto b64 = afterPrefix(line, "entry ")) {
      if (!entryLine(*b64, line_no, *reading)) break;
      if (reading->entries.size() == batch_entries) handOff();
    } else if (auto cp = afterPrefix(line, "checkpoint ")) {
      if (!checkpointLine(*cp, line_no)) break;
    } else if (auto n = afterPrefix(line, "end ")) {
      auto value = parseDecimal(*n);
      if (!value) {
        failGap(line_no, absl::StrFormat("line %d: malformed 'end' line %s", line_no, quote(line)));
        break;
      }
      end_count = *value;
      end_line = line_no;
    } else {
      failGap(line_no, absl::StrFormat("line %d: not an entry, checkpoint or end line: %s", line_no,
                                       quote(line)));
      break;
    }
  }
  if (checking != nullptr) settle(checking);
  pool.publish(reading);
  settle(reading);

  const std::uint64_t n = frontier_.size();
  if (reached_end) {
    if (!end_count.has_value()) {
      failGap(reader.lineNumber(),
              absl::StrFormat("the file ends after line %d without an 'end' line: it is "
                              "truncated",
                              reader.lineNumber()));
    } else if (*end_count != n) {
      failGap(end_line, absl::StrFormat("the 'end' line says %d entries, but the file holds %d",
                                        *end_count, n));
    }
    if (!have_checkpoint_) {
      failGap(0, "the export holds no checkpoint: nothing vouches for its entries");
    } else if (covered_ != n) {
      failGap(0, absl::StrFormat("entries %d..%d come after the last checkpoint: no checkpoint "
                                 "covers them",
                                 covered_, n - 1));
    }
    for (std::size_t i = next_saved_; i < saved_.size(); ++i) {
      ++report_.previous_checkpoints_checked;
      failGap(0, absl::StrFormat("saved checkpoint %d has size %d, but the log holds only %d "
                                 "entries: it was rolled back or truncated",
                                 saved_[i].ordinal, saved_[i].size, n));
    }
  }

  report_.tree_size = n;
  report_.root_hex = crypto::hex(frontier_.root());
  report_.ok = problem_.position == kNoProblem;
  if (!report_.ok) {
    report_.bad_index = problem_.index;
    report_.bad_line = problem_.line;
    report_.error = problem_.message;
  }
  return report_;
}

}  // namespace
}  // namespace audit_verify

absl::StatusOr<AuditReport> verifyAuditExport(const std::string& path,
                                              const AuditVerifyOptions& options) {
  audit_verify::ExportVerifier verifier(options);
  return verifier.run(path);
}

}  // namespace warden
