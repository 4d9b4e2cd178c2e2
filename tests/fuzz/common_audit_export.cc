// verifyAuditExport: an action log export, which reaches the auditor from the controller's
// host (or anyone who handled the file). Whatever the file holds, the verifier returns a report
// (never an error status, never a crash), and the report is consistent: ok with no error and no
// bad index, or not ok with an error; never more entries counted than the tree holds.
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "common/audit/export_verifier.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

const std::string& scratchPath() {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string p = std::string(tmp && *tmp ? tmp : "/tmp") + "/warden-fuzz-export.XXXXXX";
    const int fd = ::mkstemp(p.data());
    FUZZ_CHECK(fd >= 0);
    ::close(fd);
    std::atexit([] { ::unlink(scratchPath().c_str()); });
    return p;
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  {
    std::ofstream out(scratchPath(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    FUZZ_CHECK(out.good());
  }
  AuditVerifyOptions options;
  options.threads = 1;
  options.batch_entries = 4;
  std::uint64_t seen = 0;
  options.on_entry = [&](std::uint64_t index, const LogEntry&) {
    FUZZ_CHECK(index == seen);
    ++seen;
  };
  auto report = verifyAuditExport(scratchPath(), options);
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
