// decodeAlertRecord, decodeDecisionRecord and parseAutomatedReason: automation's log records as
// the controller (catching up after a crash) and the offline verifier read them. Bytes that
// decode re-encode the same; a reason read apart is rebuilt to the same text.
#include "common/audit/automation_record.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view bytes = fuzz::asText(data, size);
  if (auto a = decodeAlertRecord(bytes); a.ok()) {
    FUZZ_CHECK(a->version == kAlertRecordVersion);
    FUZZ_CHECK(encodeAlertRecord(*a) == bytes);
  }
  if (auto d = decodeDecisionRecord(bytes); d.ok()) {
    FUZZ_CHECK(d->version == kDecisionRecordVersion);
    FUZZ_CHECK(encodeDecisionRecord(*d) == bytes);
  }
  if (auto parts = parseAutomatedReason(bytes); parts) {
    // What automatedReason() makes reads back as its parts.
    const std::string again =
        automatedReason(parts->alert_id, parts->decision_id, parts->approval_request);
    auto reread = parseAutomatedReason(again);
    FUZZ_CHECK(reread && reread->alert_id == parts->alert_id &&
               reread->decision_id == parts->decision_id &&
               reread->approval_request == parts->approval_request);
  }
  return 0;
}
