// decodeRequest and operatorChangeOf: an operator's signed request as the controller and the
// offline verifier read it. Bytes that decode re-encode the same; an operator change that is
// accepted reads back the same from the arguments it prints.
#include "common/audit/request.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  auto r = decodeRequest(bytes);
  if (!r.ok()) return 0;
  FUZZ_CHECK(r->version == 1 || r->version == kRequestVersion);
  FUZZ_CHECK(r->version != 1 || r->incident.empty());
  FUZZ_CHECK(encodeRequest(*r) == bytes);
  if (auto change = operatorChangeOf(*r); change.ok()) {
    FUZZ_CHECK(r->kind == (change->revoke ? kRevokeOperatorKind : kAddOperatorKind));
    Request rebuilt = *r;
    rebuilt.args = operatorChangeArgs(*change);
    auto again = operatorChangeOf(rebuilt);
    FUZZ_CHECK(again.ok() && again->revoke == change->revoke && again->name == change->name &&
               again->role == change->role && again->signing_key == change->signing_key);
  }
  return 0;
}
