// The triage bundle's file: the tar stream (tar_header.h) compressed with
// ZSTD_compressStream2 (level 3, content checksum on) straight into the output as it is
// produced, so nothing of the bundle sits in memory whole.
#pragma once

#include <sys/types.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/os/linux/triage/tar_header.h"
#include "common/unique_fd.h"

namespace warden::triage {

inline constexpr std::size_t kPiece = 1 << 20;  // read, hash and copy unit
extern const char kZeros[2 * kBlock];

// Where a Bundle's archive entries go: begin(), data() for exactly the entry's size, end().
// The agent writes them into the .tar.zst file (BundleWriter); the sandboxed collector sends
// them to the agent (CollectorStream, collector_stream.h).
class BundleOutput {
 public:
  virtual ~BundleOutput() = default;
  virtual absl::Status begin(const TarEntry& e) = 0;
  virtual absl::Status data(std::string_view d) = 0;
  virtual absl::Status end() = 0;
  // The output file's identity, so that the collection never reads its own bundle; 0 when
  // there is no file.
  virtual dev_t dev() const { return 0; }
  virtual ino_t ino() const { return 0; }
};

// Writes one .tar.zst file: create(), then per entry begin(), data() for exactly its size,
// end(); finish() ends the archive and makes it durable. Destroyed unfinished, it removes what
// it wrote.
class BundleWriter : public BundleOutput {
 public:
  BundleWriter() = default;
  ~BundleWriter();
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // Creates `path` (it must not exist: O_EXCL) with mode 0600.
  absl::Status create(const std::string& path);

  // The output's identity, so that the collection never reads its own bundle.
  dev_t dev() const override { return dev_; }
  ino_t ino() const override { return ino_; }

  // The headers of the next entry; exactly `e.size` bytes of content must follow via data().
  absl::Status begin(const TarEntry& e) override;
  absl::Status data(std::string_view d) override;
  absl::Status end() override;

  // The end-of-archive blocks, the end of the zstd frame, fsync. Returns the file's size.
  absl::StatusOr<std::uint64_t> finish();

  // Removes what was written, unless `path` names another file by now.
  void discard();

 private:
  absl::Status push(std::string_view in) { return compress(in, ZSTD_e_continue); }
  absl::Status compress(std::string_view in, ZSTD_EndDirective mode);
  absl::Status writeAll(const char* p, std::size_t n);

  std::string path_;
  UniqueFd fd_;
  bool created_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  ZSTD_CCtx* cctx_ = nullptr;
  std::vector<char> out_;
  std::uint64_t entry_left_ = 0;
  std::size_t entry_pad_ = 0;
  std::uint64_t written_ = 0;
};

}  // namespace warden::triage
