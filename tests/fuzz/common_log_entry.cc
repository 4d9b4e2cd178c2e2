// decodeLogEntry: one action log entry (an export's `entry` line, a dispatch proof's entry).
// Bytes that decode are the one encoding of that entry: the Merkle leaf an auditor hashes is
// the entry the rules judged.
#include "common/audit/log_entry.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  auto e = decodeLogEntry(bytes);
  if (!e.ok()) return 0;
  FUZZ_CHECK(e->version == kLogEntryVersion);
  FUZZ_CHECK(encodeLogEntry(*e) == bytes);
  return 0;
}
