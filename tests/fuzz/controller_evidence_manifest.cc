// readManifest: the JSON manifest an agent sends with each evidence item. Any text gives facts
// or InvalidArgument (never an exception out of the JSON library), and the facts of a manifest
// printed from those facts are the same.
#include "common/json.h"
#include "controller/evidence/manifest.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  auto facts = readManifest(fuzz::asText(data, size));
  if (!facts.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(facts.status()));
    return 0;
  }
  Json m;
  m["schema"] = "warden-evidence-manifest/1";
  m["evidence_id"] = facts->evidence_id;
  m["action_id"] = facts->action_id;
  m["sha256"] = facts->sha256;
  m["source"]["path"] = facts->source_path;
  // The parse took only valid UTF-8, so dumpJson() has nothing to replace.
  auto again = readManifest(dumpJson(m));
  FUZZ_CHECK(again.ok() && again->evidence_id == facts->evidence_id &&
             again->action_id == facts->action_id && again->sha256 == facts->sha256 &&
             again->source_path == facts->source_path);
  return 0;
}
