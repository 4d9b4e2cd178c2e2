// decodeAgentRelease: the release an agent made by itself (isolate --for), read by the
// controller from the agent's stream before the signature is checked against anything, and by
// the offline verifier from the log. Bytes that decode re-encode the same.
#include "common/audit/agent_release.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  auto r = decodeAgentRelease(bytes);
  if (!r.ok()) return 0;
  FUZZ_CHECK(r->version == kAgentReleaseVersion);
  FUZZ_CHECK(r->cause == kTimedRelease);
  FUZZ_CHECK(encodeAgentRelease(*r) == bytes);
  return 0;
}
