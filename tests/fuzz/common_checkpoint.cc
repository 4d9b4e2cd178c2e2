// parseCheckpoint, parseSignedCheckpoint and checkpointSize: checkpoints in exports, dispatch
// proofs and an auditor's saved files. The strict parse is the inverse of formatCheckpoint; a
// signed note's checkpoint is the one its text holds, and its size the one checkpointSize reads.
#include "common/audit/export_format.h"
#include "common/note.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view text = fuzz::asText(data, size);
  if (auto c = note::parseCheckpoint(text); c.ok()) {
    FUZZ_CHECK(!c->origin.empty() && c->root_hash.size() == 32);
    auto formatted = note::formatCheckpoint(*c);
    FUZZ_CHECK(formatted.ok() && *formatted == text);
  }
  auto signed_cp = note::parseSignedCheckpoint(text);
  auto cp_size = checkpointSize(text);
  if (signed_cp.ok()) {
    FUZZ_CHECK(cp_size.ok() && *cp_size == signed_cp->size);
    auto formatted = note::formatCheckpoint(*signed_cp);
    FUZZ_CHECK(formatted.ok());
    auto again = note::parseCheckpoint(*formatted);
    FUZZ_CHECK(again.ok() && again->origin == signed_cp->origin &&
               again->root_hash == signed_cp->root_hash &&
               again->extensions == signed_cp->extensions);
  }
  return 0;
}
