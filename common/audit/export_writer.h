// Writing the action log's export file (common/audit/export_format.h) as a stream.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/audit/export_format.h"
#include "common/audit/merkle_frontier.h"
#include "common/unique_fd.h"

namespace warden {

// Writes an export file as a stream, so the whole log never has to be in memory.
//
// The file is built as a temporary file in the destination's directory and renamed into place
// by finish(), after an fsync: a failed or interrupted export never appears under `path`. The
// destructor of an unfinished writer removes the temporary file. The file is created 0600 (it
// holds operators' requests).
//
// The writer refuses to write an export that would not verify at the checkpoints: each
// checkpoint must be signed by `vkey`, name `origin`, have the size of the entries written so
// far and their root.
class AuditExportWriter {
 public:
  // `vkey` must parse and be named `origin`.
  static absl::StatusOr<std::unique_ptr<AuditExportWriter>> open(const std::string& path,
                                                                 std::string_view origin,
                                                                 std::string_view vkey);
  ~AuditExportWriter();
  AuditExportWriter(const AuditExportWriter&) = delete;
  AuditExportWriter& operator=(const AuditExportWriter&) = delete;

  // Appends the next entry (canonical LogEntry bytes, non-empty).
  absl::Status addEntry(std::string_view entry);
  // Appends a signed checkpoint note at the current position. Its size must equal the number
  // of entries written so far (FailedPrecondition otherwise) and its root theirs; a note
  // byte-identical to the previous checkpoint is skipped.
  absl::Status addCheckpoint(std::string_view signed_note);
  // Writes `end N`, fsyncs, renames into place and fsyncs the directory. Fails
  // (FailedPrecondition) unless the last checkpoint covers every entry. Returns N.
  absl::StatusOr<std::uint64_t> finish();

  std::uint64_t entries() const { return frontier_.size(); }

 private:
  AuditExportWriter(std::string path, std::string tmp_path, UniqueFd fd, std::string origin,
                    std::string vkey);
  absl::Status writeLine(std::string_view keyword, std::string_view value);
  absl::Status flush();
  void abandon();

  const std::string path_;
  const std::string tmp_path_;
  UniqueFd fd_;
  const std::string origin_;
  const std::string vkey_;
  std::string buffer_;
  MerkleFrontier frontier_;
  std::string last_checkpoint_;
  std::int64_t last_checkpoint_size_ = -1;
  bool finished_ = false;
};

// Reads entry `index` (0-based) of the log being exported.
using AuditEntrySource = std::function<absl::StatusOr<std::string>(std::uint64_t index)>;

// Writes a whole export of entries [0, entry_count) from `source`, placing every checkpoint
// after the entry that brings the tree to its size. `checkpoints` may come in any order and
// hold duplicates; one of size entry_count must be among them. A checkpoint larger than
// entry_count is an error (InvalidArgument): export the entries it covers too.
absl::Status writeAuditExport(const std::string& path, std::string_view origin,
                              std::string_view vkey, std::uint64_t entry_count,
                              const AuditEntrySource& source, std::vector<std::string> checkpoints);
// The same for entries held in memory.
absl::Status writeAuditExport(const std::string& path, std::string_view origin,
                              std::string_view vkey, std::span<const std::string> entries,
                              std::vector<std::string> checkpoints);

}  // namespace warden
