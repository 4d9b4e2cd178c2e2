// verifyAuditExport: an action log export, which reaches the auditor from the controller's
// host (or anyone who handled the file). Whatever the file holds, the verifier returns a report
// (never an error status, never a crash), and the report is consistent: ok with no error and no
// bad index, or not ok with an error; never more entries counted than the tree holds.
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "common/audit/export_verifier.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

// The export lives in a memfd, opened by the verifier through /proc/self/fd: no file system
// work per input.
int scratchFd() {
  static const int fd = [] {
    const int f = ::memfd_create("warden-fuzz-export", MFD_CLOEXEC);
    FUZZ_CHECK(f >= 0);
    return f;
  }();
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const int fd = scratchFd();
  FUZZ_CHECK(::ftruncate(fd, 0) == 0);
  FUZZ_CHECK(::pwrite(fd, data, size, 0) == static_cast<ssize_t>(size));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  AuditVerifyOptions options;
  options.threads = 1;
  options.batch_entries = 4;
  std::uint64_t seen = 0;
  options.on_entry = [&](std::uint64_t index, const LogEntry&) {
    FUZZ_CHECK(index == seen);
    ++seen;
  };
  auto report = verifyAuditExport(path, options);
  FUZZ_CHECK(report.ok());
  if (report->ok) {
    FUZZ_CHECK(report->error.empty() && report->bad_index == -1 && report->bad_line == 0);
    FUZZ_CHECK(seen == report->tree_size && report->root_hex.size() == 64);
    std::uint64_t counted = 0;
    for (const auto& [type, n] : report->entries_by_type) counted += n;
    FUZZ_CHECK(counted == report->tree_size);
  } else {
    FUZZ_CHECK(!report->error.empty());
  }
  return 0;
}
