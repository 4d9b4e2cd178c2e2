#include "controller/action_log_records.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"

namespace warden::action_log_records {
namespace {

void putU32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

}  // namespace

std::uint32_t getU32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

std::string makeRecord(std::string_view payload, std::string_view hash) {
  std::string record;
  record.reserve(payload.size() + kRecordOverhead);
  putU32(record, static_cast<std::uint32_t>(payload.size()));
  record.append(payload.data(), payload.size());
  record.append(hash.data(), hash.size());
  return record;
}

absl::Status pwriteAll(int fd, std::string_view data, std::uint64_t offset,
                       const std::string& path) {
  return pwriteFully(fd, data, offset) ? absl::OkStatus() : errnoStatus("write", path, errno);
}

absl::Status preadAll(int fd, char* out, std::size_t size, std::uint64_t offset,
                      const std::string& path) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("read", path, errno);
    }
    if (n == 0) return absl::DataLossError(absl::StrFormat("%s: unexpected end of file", path));
    done += static_cast<std::size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status fsyncDir(const std::string& dir) {
  const UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.ok()) return errnoStatus("open", dir, errno);
  if (::fsync(fd.get()) != 0) return errnoStatus("fsync", dir, errno);
  return absl::OkStatus();
}

absl::StatusOr<Mapping> Mapping::of(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errnoStatus("stat", path, errno);
  Mapping m;
  m.size_ = static_cast<std::size_t>(st.st_size);
  if (m.size_ == 0) return m;
  void* p = ::mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return errnoStatus("mmap", path, errno);
  m.data_ = static_cast<const unsigned char*>(p);
  return m;
}

Mapping::Mapping(Mapping&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}

Mapping::~Mapping() {
  if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
}

absl::StatusOr<std::vector<Record>> parseRecords(const Mapping& m, const std::string& path,
                                                 std::uint32_t max_length, std::uint64_t& valid_end,
                                                 std::string& torn_reason) {
  std::vector<Record> records;
  const unsigned char* base = m.data();
  const std::size_t size = m.size();
  std::size_t pos = 0;
  while (pos < size) {
    if (size - pos < kHeaderSize) {
      torn_reason = "short record header";
      break;
    }
    const std::uint32_t len = getU32(base + pos);
    if (len == 0 || len > max_length) {
      // A zero-filled tail is what a crash while the file was being extended leaves.
      if (std::all_of(base + pos, base + size, [](unsigned char c) { return c == 0; })) {
        torn_reason = "zero-filled tail";
        break;
      }
      if (len == 0 || static_cast<std::uint64_t>(len) + kRecordOverhead <= size - pos) {
        return absl::DataLossError(absl::StrFormat(
            "%s: corrupt record %d at offset %d (length %d): the log was tampered with", path,
            records.size(), pos, len));
      }
      torn_reason = "short record";
      break;
    }
    if (static_cast<std::uint64_t>(len) + kRecordOverhead > size - pos) {
      torn_reason = "short record";
      break;
    }
    std::string_view payload(reinterpret_cast<const char*>(base + pos + kHeaderSize), len);
    std::string_view hash(reinterpret_cast<const char*>(base + pos + kHeaderSize + len), kHashSize);
    const std::size_t end = pos + kRecordOverhead + len;
    if (merkle::leafHash(payload) != hash) {
      if (end == size) {
        torn_reason = "final record's hash does not match";
        break;
      }
      return absl::DataLossError(absl::StrFormat(
          "%s: record %d at offset %d does not match its hash: the log was tampered with", path,
          records.size(), pos));
    }
    records.push_back(Record{pos, len, payload, hash});
    pos = end;
  }
  valid_end = pos;
  return records;
}

absl::Status truncateTail(int fd, const std::string& path, std::uint64_t valid_end,
                          std::uint64_t file_size, const std::string& reason) {
  logWarning("action log: %s: truncating torn tail (%s) from %d to %d bytes", path, reason,
             file_size, valid_end);
  if (::ftruncate(fd, static_cast<off_t>(valid_end)) != 0) {
    return errnoStatus("truncate", path, errno);
  }
  if (::fsync(fd) != 0) return errnoStatus("fsync", path, errno);
  return absl::OkStatus();
}

absl::StatusOr<UniqueFd> openFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.ok()) return errnoStatus("open", path, errno);
  return fd;
}

}  // namespace warden::action_log_records
