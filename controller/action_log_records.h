// The action log's record files (controller/action_log.h, "Storage"): records
// [u32 big-endian length][payload][SHA-256(0x00||payload)], how they are written, read back and
// recovered (a torn tail is cut, anything else bad is tampering). Internal to the action log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/merkle.h"
#include "common/unique_fd.h"

namespace warden::action_log_records {

inline constexpr std::size_t kHeaderSize = 4;
inline constexpr std::size_t kHashSize = merkle::kHashSize;
inline constexpr std::size_t kRecordOverhead = kHeaderSize + kHashSize;

// A record's length header.
std::uint32_t getU32(const unsigned char* p);
// [u32 length][payload][leafHash(payload)].
std::string makeRecord(std::string_view payload, std::string_view hash);
absl::Status pwriteAll(int fd, std::string_view data, std::uint64_t offset,
                       const std::string& path);
absl::Status preadAll(int fd, char* out, std::size_t size, std::uint64_t offset,
                      const std::string& path);
absl::Status fsyncDir(const std::string& dir);
// Opens (creating, 0600) for reading and writing.
absl::StatusOr<UniqueFd> openFile(const std::string& path);

// A read-only mapping of a whole file, for recovery.
class Mapping {
 public:
  static absl::StatusOr<Mapping> of(int fd, const std::string& path);
  Mapping() = default;
  Mapping(Mapping&& o) noexcept;
  Mapping& operator=(Mapping&&) = delete;
  ~Mapping();
  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

struct Record {
  std::uint64_t offset;
  std::uint32_t length;
  std::string_view payload;
  std::string_view hash;
};

// Parses a record file. Returns the complete, hash-verified records and sets `valid_end` to the
// end of the last one; bytes after it are a torn tail. Corruption before the tail is DataLoss.
absl::StatusOr<std::vector<Record>> parseRecords(const Mapping& m, const std::string& path,
                                                 std::uint32_t max_length, std::uint64_t& valid_end,
                                                 std::string& torn_reason);
// Cuts a torn tail (logged) and syncs.
absl::Status truncateTail(int fd, const std::string& path, std::uint64_t valid_end,
                          std::uint64_t file_size, const std::string& reason);

}  // namespace warden::action_log_records
