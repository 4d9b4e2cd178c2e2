#include "common/audit/export_writer.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/note.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr std::size_t kWriteBuffer = 1 << 20;

std::string directoryOf(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

AuditExportWriter::AuditExportWriter(std::string path, std::string tmp_path, UniqueFd fd,
                                     std::string origin, std::string vkey)
    : path_(std::move(path)),
      tmp_path_(std::move(tmp_path)),
      fd_(std::move(fd)),
      origin_(std::move(origin)),
      vkey_(std::move(vkey)) {
  buffer_.reserve(kWriteBuffer + 4096);
}

absl::StatusOr<std::unique_ptr<AuditExportWriter>> AuditExportWriter::open(const std::string& path,
                                                                           std::string_view origin,
                                                                           std::string_view vkey) {
  if (!note::isValidKeyName(origin)) {
    return absl::InvalidArgumentError(absl::StrFormat("invalid log origin '%s'", origin));
  }
  auto verifier = note::parseVerifierKey(vkey);
  if (!verifier.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid log verifier key: %s", verifier.status().message()));
  }
  if (verifier->name != origin) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the log verifier key is named '%s', not the origin '%s'", verifier->name, origin));
  }
  if (path.empty()) return absl::InvalidArgumentError("empty export path");
  // mkstemp in the destination's directory: the final rename stays on one file system, and
  // the name is never predictable.
  std::string tmpl = path + ".tmp-XXXXXX";
  UniqueFd fd(::mkstemp(tmpl.data()));
  if (!fd.ok()) return errnoStatus("create a temporary file for", path, errno);
  auto writer = std::unique_ptr<AuditExportWriter>(
      new AuditExportWriter(path, tmpl, std::move(fd), std::string(origin), std::string(vkey)));
  WARDEN_RETURN_IF_ERROR(writer->writeLine(kAuditExportMagic, ""));
  WARDEN_RETURN_IF_ERROR(writer->writeLine("origin", origin));
  WARDEN_RETURN_IF_ERROR(writer->writeLine("vkey", vkey));
  return writer;
}

AuditExportWriter::~AuditExportWriter() {
  if (!finished_) abandon();
}

void AuditExportWriter::abandon() {
  fd_.reset();
  ::unlink(tmp_path_.c_str());
}

absl::Status AuditExportWriter::writeLine(std::string_view keyword, std::string_view value) {
  if (finished_ || !fd_.ok()) return absl::FailedPreconditionError("the export is closed");
  buffer_.append(keyword);
  if (!value.empty()) {
    buffer_ += ' ';
    buffer_.append(value);
  }
  buffer_ += '\n';
  if (buffer_.size() >= kWriteBuffer) return flush();
  return absl::OkStatus();
}

absl::Status AuditExportWriter::flush() {
  if (!writeFully(fd_.get(), buffer_)) {
    const int err = errno;
    abandon();
    return errnoStatus("write", tmp_path_, err);
  }
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status AuditExportWriter::addEntry(std::string_view entry) {
  if (entry.empty()) return absl::InvalidArgumentError("empty log entry");
  const std::string line = crypto::base64(entry);
  if (line.size() > kAuditExportMaxLine - 16) {
    return absl::InvalidArgumentError(
        absl::StrFormat("log entry %d is too large to export (%d bytes)", entries(), entry.size()));
  }
  WARDEN_RETURN_IF_ERROR(writeLine("entry", line));
  frontier_.append(entry);
  return absl::OkStatus();
}

absl::Status AuditExportWriter::addCheckpoint(std::string_view signed_note) {
  if (signed_note == last_checkpoint_) return absl::OkStatus();
  WARDEN_ASSIGN_OR_RETURN(note::Verifier verifier, note::parseVerifierKey(vkey_));
  auto opened = note::openNote(signed_note, {verifier});
  if (!opened.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("checkpoint is not signed by the log key %s: %s", verifier.name,
                        opened.status().message()));
  }
  WARDEN_ASSIGN_OR_RETURN(note::Checkpoint cp, note::parseCheckpoint(opened->text));
  if (cp.origin != origin_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("checkpoint is for log '%s', not '%s'", cp.origin, origin_));
  }
  if (cp.size != entries()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "checkpoint of size %d cannot follow entry %d (it belongs after %d entries)", cp.size,
        static_cast<std::int64_t>(entries()) - 1, cp.size));
  }
  if (cp.root_hash != frontier_.root()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("checkpoint of size %d has root %s, but the exported entries have root %s",
                        cp.size, crypto::hex(cp.root_hash), crypto::hex(frontier_.root())));
  }
  WARDEN_RETURN_IF_ERROR(writeLine("checkpoint", crypto::base64(signed_note)));
  last_checkpoint_ = std::string(signed_note);
  last_checkpoint_size_ = static_cast<std::int64_t>(cp.size);
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> AuditExportWriter::finish() {
  if (finished_ || !fd_.ok()) return absl::FailedPreconditionError("the export is closed");
  const std::uint64_t n = entries();
  if (last_checkpoint_size_ != static_cast<std::int64_t>(n)) {
    abandon();
    return absl::FailedPreconditionError(
        absl::StrFormat("no checkpoint covers all %d exported entries (the last one has size %d)",
                        n, last_checkpoint_size_));
  }
  WARDEN_RETURN_IF_ERROR(writeLine("end", absl::StrFormat("%d", n)));
  WARDEN_RETURN_IF_ERROR(flush());
  if (::fsync(fd_.get()) != 0) {
    const int err = errno;
    abandon();
    return errnoStatus("fsync", tmp_path_, err);
  }
  if (::close(fd_.release()) != 0) {
    const int err = errno;
    abandon();
    return errnoStatus("close", tmp_path_, err);
  }
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    abandon();
    return errnoStatus("rename", tmp_path_, err);
  }
  finished_ = true;
  // The rename is durable only once the directory is.
  const std::string dir = directoryOf(path_);
  const UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd.ok()) return errnoStatus("open directory", dir, errno);
  if (::fsync(dfd.get()) != 0) return errnoStatus("fsync directory", dir, errno);
  return n;
}

// ---- Whole exports -----------------------------------------------------------------------------

absl::Status writeAuditExport(const std::string& path, std::string_view origin,
                              std::string_view vkey, std::uint64_t entry_count,
                              const AuditEntrySource& source,
                              std::vector<std::string> checkpoints) {
  std::vector<std::pair<std::uint64_t, std::string>> sized;
  sized.reserve(checkpoints.size());
  for (auto& note : checkpoints) {
    WARDEN_ASSIGN_OR_RETURN(std::uint64_t size, checkpointSize(note));
    if (size > entry_count) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "a checkpoint of size %d is larger than the %d entries exported", size, entry_count));
    }
    sized.emplace_back(size, std::move(note));
  }
  // By size, then bytes: duplicates become neighbours and the writer skips them.
  std::sort(sized.begin(), sized.end());
  sized.erase(std::unique(sized.begin(), sized.end()), sized.end());
  if (sized.empty() || sized.back().first != entry_count) {
    return absl::FailedPreconditionError(
        absl::StrFormat("no checkpoint covers all %d entries", entry_count));
  }
  WARDEN_ASSIGN_OR_RETURN(auto writer, AuditExportWriter::open(path, origin, vkey));
  std::size_t next = 0;
  for (std::uint64_t i = 0;; ++i) {
    while (next < sized.size() && sized[next].first == i) {
      WARDEN_RETURN_IF_ERROR(writer->addCheckpoint(sized[next].second));
      ++next;
    }
    if (i == entry_count) break;
    WARDEN_ASSIGN_OR_RETURN(std::string entry, source(i));
    WARDEN_RETURN_IF_ERROR(writer->addEntry(entry));
  }
  return writer->finish().status();
}

absl::Status writeAuditExport(const std::string& path, std::string_view origin,
                              std::string_view vkey, std::span<const std::string> entries,
                              std::vector<std::string> checkpoints) {
  return writeAuditExport(
      path, origin, vkey, entries.size(),
      [&](std::uint64_t i) -> absl::StatusOr<std::string> { return entries[i]; },
      std::move(checkpoints));
}

}  // namespace warden
