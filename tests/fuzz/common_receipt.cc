// decodeReceipt: an agent's canonical receipt, as the controller decodes it after checking the
// signature (and as the offline verifier re-reads it). Strict: bytes that decode are the one
// encoding of that receipt (details sorted, no key twice, a known status).
#include "common/command.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  auto r = decodeReceipt(bytes);
  if (!r.ok()) return 0;
  FUZZ_CHECK(r->version == kReceiptVersion);
  FUZZ_CHECK(receiptStatusName(r->status) != "");
  FUZZ_CHECK(encodeReceipt(*r) == bytes);
  return 0;
}
