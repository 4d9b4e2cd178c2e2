// decodeCertRenewal: the record an agent or operator signs to renew its certificate, read by the
// controller from anyone who reaches its port (an expired agent shows no certificate) and by the
// offline verifier from the log's renewal entries. Bytes that decode re-encode the same, and the
// shape check never crashes on what decodes.
#include "common/audit/cert_renewal.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  auto r = decodeCertRenewal(bytes);
  if (!r.ok()) return 0;
  FUZZ_CHECK(r->version == kCertRenewalVersion);
  FUZZ_CHECK(encodeCertRenewal(*r) == bytes);
  if (checkCertRenewalShape(*r).ok()) {
    FUZZ_CHECK(r->subject == "controller" || r->challenge.size() == kRenewalChallengeBytes);
  }
  return 0;
}
