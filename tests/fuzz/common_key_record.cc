// decodeKeyRecord: the body of the log's key, operator and enrollment entries, from which the
// offline verifier takes every key it checks signatures with. Bytes that decode re-encode the
// same.
#include "common/audit/key_record.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  auto k = decodeKeyRecord(bytes);
  if (!k.ok()) return 0;
  FUZZ_CHECK(k->version == kKeyRecordVersion);
  FUZZ_CHECK(encodeKeyRecord(*k) == bytes);
  return 0;
}
