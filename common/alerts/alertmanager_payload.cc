#include "common/alerts/alertmanager_payload.h"

#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/alerts/payload_common.h"
#include "common/status.h"

namespace warden {
namespace {

// The webhook format Alertmanager has sent since 0.9 (the only one so far).
constexpr std::string_view kWebhookVersion = "4";

absl::StatusOr<Alert> readAlert(const PayloadJson& a, const std::string& path) {
  if (!a.is_object()) return wrongType(path, "an object", a);
  Alert alert;
  const PayloadJson* status = findMember(a, "status");
  const std::string status_path = memberPath(path, "status");
  if (status == nullptr) return absl::InvalidArgumentError(status_path + ": missing");
  if (!status->is_string()) return wrongType(status_path, "a string", *status);
  const auto& s = status->get_ref<const std::string&>();
  if (s != "firing" && s != "resolved") {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: expected \"firing\" or \"resolved\", got \"%s\"", status_path, printableText(s)));
  }
  alert.resolved = s == "resolved";
  WARDEN_ASSIGN_OR_RETURN(alert.labels, readStringMap(a, path, "labels", /*required=*/true));
  WARDEN_ASSIGN_OR_RETURN(alert.annotations,
                          readStringMap(a, path, "annotations", /*required=*/false));
  WARDEN_ASSIGN_OR_RETURN(alert.starts_unix_ms, readTime(a, path, "startsAt"));
  WARDEN_ASSIGN_OR_RETURN(alert.ends_unix_ms, readTime(a, path, "endsAt"));
  WARDEN_ASSIGN_OR_RETURN(alert.fingerprint, readFingerprint(a, path, "fingerprint", alert.labels));
  return alert;
}

}  // namespace

absl::StatusOr<AlertBatch> parseAlertmanagerPayload(std::string_view body) {
  WARDEN_ASSIGN_OR_RETURN(PayloadJson doc, parsePayloadJson(body));
  if (!doc.is_object()) return wrongType("body", "an object", doc);
  if (const PayloadJson* v = findMember(doc, "version")) {
    if (!v->is_string()) return wrongType("version", "a string", *v);
    if (v->get_ref<const std::string&>() != kWebhookVersion) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "version: \"%s\" is not supported; this endpoint takes Alertmanager's webhook "
          "version \"%s\"",
          printableText(v->get_ref<const std::string&>()), kWebhookVersion));
    }
  }
  AlertBatch batch;
  batch.format = AlertFormat::kAlertmanager;
  WARDEN_ASSIGN_OR_RETURN(batch.receiver, readString(doc, "", "receiver"));
  WARDEN_ASSIGN_OR_RETURN(batch.group_key, readString(doc, "", "groupKey", kMaxGroupKeyBytes));
  // Type-checked only: each alert's own status decides.
  WARDEN_RETURN_IF_ERROR(readString(doc, "", "status").status());
  if (const PayloadJson* t = findMember(doc, "truncatedAlerts")) {
    if (!t->is_number_unsigned()) return wrongType("truncatedAlerts", "a non-negative integer", *t);
    batch.truncated_alerts = t->get<std::uint64_t>();
  }
  const PayloadJson* alerts = findMember(doc, "alerts");
  if (alerts == nullptr) return absl::InvalidArgumentError("alerts: missing");
  if (!alerts->is_array()) return wrongType("alerts", "an array", *alerts);
  if (alerts->size() > kMaxAlertsPerPayload) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "alerts: %d alerts, more than the limit of %d", alerts->size(), kMaxAlertsPerPayload));
  }
  batch.alerts.reserve(alerts->size());
  for (std::size_t i = 0; i < alerts->size(); ++i) {
    WARDEN_ASSIGN_OR_RETURN(Alert alert, readAlert((*alerts)[i], indexPath("alerts", i)));
    batch.alerts.push_back(std::move(alert));
  }
  return batch;
}

}  // namespace warden
