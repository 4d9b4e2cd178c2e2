// Small file helpers that keep errno in their messages and write atomically.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/status.h"

namespace warden {

absl::StatusOr<std::string> readFile(const std::string& path, std::size_t max_bytes = 16 << 20);
// Writes to PATH.tmp with `mode`, fsyncs, renames over PATH and fsyncs the directory: a crash
// leaves the old or the new file, never a torn one.
absl::Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode);
// pwrite(2) until all of `data` is at `offset`, through EINTR and short writes. False, with
// errno set, when a write fails; callers word their own error.
bool pwriteFully(int fd, std::string_view data, std::uint64_t offset);
// The same with write(2), at the file's position.
bool writeFully(int fd, std::string_view data);
bool pathExists(const std::string& path);
// mkdir -p with `mode` for the last component.
absl::Status makeDirectory(const std::string& path, unsigned mode);

}  // namespace warden
