#include "agent/os/linux/triage/bundle_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr int kZstdLevel = 3;

}  // namespace

const char kZeros[2 * kBlock] = {};

BundleWriter::~BundleWriter() {
  discard();
  if (cctx_ != nullptr) ZSTD_freeCCtx(cctx_);
}

absl::Status BundleWriter::create(const std::string& path) {
  path_ = path;
  fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd_.ok()) {
    const int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat("Failed to create ", path, ": it exists"));
    }
    return errnoStatus("create", path, err);
  }
  created_ = true;
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return errnoStatus("stat", path, errno);
  dev_ = st.st_dev;
  ino_ = st.st_ino;
  if (::fchmod(fd_.get(), 0600) != 0) return errnoStatus("chmod", path, errno);
  cctx_ = ZSTD_createCCtx();
  if (cctx_ == nullptr) return absl::ResourceExhaustedError("Failed to create a zstd context");
  for (auto [param, value] :
       {std::pair{ZSTD_c_compressionLevel, kZstdLevel}, std::pair{ZSTD_c_checksumFlag, 1}}) {
    const std::size_t rc = ZSTD_CCtx_setParameter(cctx_, param, value);
    if (ZSTD_isError(rc)) {
      return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(rc)));
    }
  }
  out_.resize(ZSTD_CStreamOutSize());
  return absl::OkStatus();
}

absl::Status BundleWriter::begin(const TarEntry& e) {
  if (entry_left_ != 0) return absl::InternalError("tar entry started before the last ended");
  WARDEN_RETURN_IF_ERROR(push(tarHeaders(e)));
  entry_left_ = e.size;
  entry_pad_ = (kBlock - e.size % kBlock) % kBlock;
  return absl::OkStatus();
}

absl::Status BundleWriter::data(std::string_view d) {
  if (d.size() > entry_left_) return absl::InternalError("tar entry content overruns its size");
  entry_left_ -= d.size();
  return push(d);
}

absl::Status BundleWriter::end() {
  if (entry_left_ != 0) return absl::InternalError("tar entry content short of its size");
  return push(std::string_view(kZeros, entry_pad_));
}

absl::StatusOr<std::uint64_t> BundleWriter::finish() {
  WARDEN_RETURN_IF_ERROR(push(std::string_view(kZeros, 2 * kBlock)));
  WARDEN_RETURN_IF_ERROR(compress({}, ZSTD_e_end));
  if (::fsync(fd_.get()) != 0) return errnoStatus("fsync", path_, errno);
  if (::close(fd_.release()) != 0) return errnoStatus("close", path_, errno);
  created_ = false;
  // The new name is durable too (best effort: the data itself is already on disk).
  const std::size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
  if (const UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); d.ok()) {
    ::fsync(d.get());
  }
  return written_;
}

void BundleWriter::discard() {
  if (!created_) return;
  fd_.reset();
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
    ::unlink(path_.c_str());
  }
  created_ = false;
}

absl::Status BundleWriter::compress(std::string_view in, ZSTD_EndDirective mode) {
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  for (;;) {
    ZSTD_outBuffer output{out_.data(), out_.size(), 0};
    const std::size_t left = ZSTD_compressStream2(cctx_, &output, &input, mode);
    if (ZSTD_isError(left)) {
      return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(left)));
    }
    WARDEN_RETURN_IF_ERROR(writeAll(out_.data(), output.pos));
    if (mode == ZSTD_e_end ? left == 0 : input.pos == input.size) return absl::OkStatus();
  }
}

absl::Status BundleWriter::writeAll(const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd_.get(), p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errnoStatus("write", path_, errno);
    p += w;
    n -= static_cast<std::size_t>(w);
    written_ += static_cast<std::uint64_t>(w);
  }
  return absl::OkStatus();
}

}  // namespace warden::triage
