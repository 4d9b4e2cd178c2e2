// decodeCommand: the canonical bytes of a signed command, as the agent reads them before it
// checks anything else. The encoding is strict, so bytes that decode are the one encoding of
// what they decode to (a signature covers one command, never a look-alike).
#include "common/command.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  auto c = decodeCommand(bytes);
  if (!c.ok()) return 0;
  FUZZ_CHECK(c->version == 1 || c->version == kCommandVersion);
  FUZZ_CHECK(c->version == 1 || c->reason.empty());
  FUZZ_CHECK(encodeCommand(*c) == bytes);
  return 0;
}
