#include "common/alerts/json_payload.h"

#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/alerts/payload_common.h"
#include "common/status.h"

namespace warden {

absl::StatusOr<AlertBatch> parseJsonAlerts(std::string_view body, std::int64_t now_unix_ms) {
  WARDEN_ASSIGN_OR_RETURN(PayloadJson doc, parsePayloadJson(body));
  if (!doc.is_array()) return wrongType("body", "an array of alerts", doc);
  if (doc.size() > kMaxAlertsPerPayload) {
    return absl::InvalidArgumentError(absl::StrFormat("body: %d alerts, more than the limit of %d",
                                                      doc.size(), kMaxAlertsPerPayload));
  }
  AlertBatch batch;
  batch.format = AlertFormat::kJson;
  batch.alerts.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const PayloadJson& a = doc[i];
    const std::string path = indexPath("", i);
    if (!a.is_object()) return wrongType(path, "an object", a);
    Alert alert;
    WARDEN_ASSIGN_OR_RETURN(alert.labels, readStringMap(a, path, "labels", /*required=*/true));
    WARDEN_ASSIGN_OR_RETURN(alert.annotations,
                            readStringMap(a, path, "annotations", /*required=*/false));
    WARDEN_ASSIGN_OR_RETURN(alert.starts_unix_ms, readTime(a, path, "startsAt"));
    WARDEN_ASSIGN_OR_RETURN(alert.ends_unix_ms, readTime(a, path, "endsAt"));
    WARDEN_ASSIGN_OR_RETURN(alert.fingerprint,
                            readFingerprint(a, path, "fingerprint", alert.labels));
    alert.resolved = alert.ends_unix_ms != 0 && alert.ends_unix_ms <= now_unix_ms;
    batch.alerts.push_back(std::move(alert));
  }
  return batch;
}

}  // namespace warden
