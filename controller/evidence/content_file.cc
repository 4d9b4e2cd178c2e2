#include "controller/evidence/content_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden {

absl::Status writeAll(int fd, std::string_view data, std::uint64_t offset,
                      const std::string& what) {
  return pwriteFully(fd, data, offset) ? absl::OkStatus() : errnoStatus(errno, what);
}

absl::StatusOr<std::size_t> readAt(int fd, char* buf, std::size_t len, std::uint64_t offset,
                                   const std::string& path) {
  for (;;) {
    const ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoStatus(errno, "reading " + path);
    return static_cast<std::size_t>(n);
  }
}

absl::StatusOr<std::uint64_t> forEachFrame(
    int fd, std::uint64_t size, const std::string& path,
    const std::function<absl::Status(std::string_view, std::string_view)>& frame) {
  std::string in(ZSTD_compressBound(kEvidencePiece), '\0');
  std::string out(kEvidencePiece, '\0');
  std::uint64_t at = 0;
  while (at < size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), size - at));
    WARDEN_ASSIGN_OR_RETURN(std::size_t got, readAt(fd, in.data(), want, at, path));
    const std::size_t len = ZSTD_findFrameCompressedSize(in.data(), got);
    if (ZSTD_isError(len)) return at;  // a torn frame (or garbage): whole frames end here
    const unsigned long long content = ZSTD_getFrameContentSize(in.data(), len);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN ||
        content > out.size()) {
      return absl::DataLossError(
          absl::StrFormat("%s: the zstd frame at %d is not one of the store's", path, at));
    }
    const std::size_t n = ZSTD_decompress(out.data(), out.size(), in.data(), len);
    // A last frame that parses but does not decompress (its checksum fails) is as torn as one
    // cut short: whole frames end before it.
    if (ZSTD_isError(n) && at + len == size) return at;
    if (ZSTD_isError(n)) {
      return absl::DataLossError(absl::StrFormat("%s: the zstd frame at %d does not decompress: %s",
                                                 path, at, ZSTD_getErrorName(n)));
    }
    WARDEN_RETURN_IF_ERROR(
        frame(std::string_view(in.data(), len), std::string_view(out.data(), n)));
    at += len;
  }
  return at;
}

absl::Status forEachPiece(int fd, std::uint64_t size, const std::string& path,
                          const std::function<absl::Status(std::string_view)>& piece) {
  std::string buf(kEvidencePiece, '\0');
  std::uint64_t done = 0;
  while (done < size) {
    const std::size_t want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kEvidencePiece, size - done));
    WARDEN_ASSIGN_OR_RETURN(std::size_t n, readAt(fd, buf.data(), want, done, path));
    if (n == 0) {
      return absl::DataLossError(absl::StrFormat("%s is shorter than %d bytes", path, size));
    }
    WARDEN_RETURN_IF_ERROR(piece(std::string_view(buf.data(), n)));
    done += n;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> readWhole(const std::string& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.ok()) return errnoStatus(errno, "opening " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errnoStatus(errno, "stat " + path);
  if (st.st_size > (16 << 20)) return absl::DataLossError(path + " is too large");
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  WARDEN_ASSIGN_OR_RETURN(std::size_t n, readAt(fd.get(), out.data(), out.size(), 0, path));
  out.resize(n);
  return out;
}

absl::Status writeReadOnlyFile(const std::string& path, std::string_view data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0444));
  if (!fd.ok()) return errnoStatus(errno, "writing " + path);
  absl::Status s = writeAll(fd.get(), data, 0, "writing " + path);
  if (s.ok() && ::fsync(fd.get()) != 0) s = errnoStatus(errno, "syncing " + path);
  fd.reset();
  if (!s.ok()) (void)::unlink(path.c_str());
  return s;
}

}  // namespace warden
