// Reading and writing the files of the evidence store: content in pieces (raw items) or zstd
// frames (compressed items, one frame per received chunk), and the small read-only files
// beside it (manifest, record).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

// Content is read, and decompressed, in pieces of at most this size; a received chunk is at
// most this size too, so every zstd frame decompresses into one piece.
inline constexpr std::size_t kEvidencePiece = 1 << 20;

// pread(2) through EINTR; the bytes read (0 at the end of the file).
absl::StatusOr<std::size_t> readAt(int fd, char* buf, std::size_t len, std::uint64_t offset,
                                   const std::string& path);
// pwrite(2) of all of `data` at `offset`; the error names `what`.
absl::Status writeAll(int fd, std::string_view data, std::uint64_t offset, const std::string& what);

// Calls `frame(compressed, decompressed)` for each whole zstd frame of the file at `fd` (`size`
// bytes), in order. Returns the offset where whole frames end (a torn last frame begins there).
absl::StatusOr<std::uint64_t> forEachFrame(
    int fd, std::uint64_t size, const std::string& path,
    const std::function<absl::Status(std::string_view, std::string_view)>& frame);
// Calls `piece` for the file's bytes in order, in pieces of at most kEvidencePiece.
absl::Status forEachPiece(int fd, std::uint64_t size, const std::string& path,
                          const std::function<absl::Status(std::string_view)>& piece);

// A small file (at most 16 MiB), never through a symlink.
absl::StatusOr<std::string> readWhole(const std::string& path);
// Writes `data` to a new file `path` (0444), durably.
absl::Status writeReadOnlyFile(const std::string& path, std::string_view data);

}  // namespace warden
