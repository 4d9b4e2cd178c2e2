// parseProcIds: /proc/PID/status (its Name: line is the process's to choose). Ids found are the
// first "Uid:"/"Gid:" line's; a status text printed from them parses back to the same ids.
#include "absl/strings/str_cat.h"
#include "agent/os/linux/procfs.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

bool same(const std::optional<warden::ProcIds::RealEffective>& a,
          const std::optional<warden::ProcIds::RealEffective>& b) {
  if (!a || !b) return !a && !b;
  return a->real == b->real && a->effective == b->effective;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const ProcIds ids = parseProcIds(std::string(fuzz::asText(data, size)));
  std::string printed = "Name:\tx\n";
  if (ids.uid)
    absl::StrAppend(&printed, "Uid:\t", ids.uid->real, "\t", ids.uid->effective, "\t0\t0\n");
  if (ids.gid)
    absl::StrAppend(&printed, "Gid:\t", ids.gid->real, "\t", ids.gid->effective, "\t0\t0\n");
  const ProcIds again = parseProcIds(printed);
  FUZZ_CHECK(same(ids.uid, again.uid) && same(ids.gid, again.gid));
  return 0;
}
