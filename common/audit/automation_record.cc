#include "common/audit/automation_record.h"

#include "absl/strings/str_format.h"
#include "common/canonical.h"

namespace warden {

std::string encodeAlertRecord(const AlertRecord& a) {
  return canonicalRecord("alert", a.version, a.id, a.source, a.format, a.receiver, a.fingerprint,
                         a.status, a.starts_unix_ms, a.labels, a.payload_sha256,
                         a.received_unix_ms);
}

absl::StatusOr<AlertRecord> decodeAlertRecord(std::string_view bytes) {
  AlertRecord a;
  if (auto s =
          readCanonicalRecord(bytes, "alert", "alert record", kAlertRecordVersion, a.version, a.id,
                              a.source, a.format, a.receiver, a.fingerprint, a.status,
                              a.starts_unix_ms, a.labels, a.payload_sha256, a.received_unix_ms);
      !s.ok()) {
    return s;
  }
  return a;
}

std::string encodeDecisionRecord(const DecisionRecord& d) {
  return canonicalRecord("decision", d.version, d.id, d.alert_id, d.rules_version, d.rule, d.host,
                         d.via, d.outcome, d.reason, d.action, d.allow, d.addresses, d.args,
                         d.request_id, d.dedupe_key, d.group_hosts);
}

absl::StatusOr<DecisionRecord> decodeDecisionRecord(std::string_view bytes) {
  DecisionRecord d;
  if (auto s = readCanonicalRecord(bytes, "decision", "decision record", kDecisionRecordVersion,
                                   d.version, d.id, d.alert_id, d.rules_version, d.rule, d.host,
                                   d.via, d.outcome, d.reason, d.action, d.allow, d.addresses,
                                   d.args, d.request_id, d.dedupe_key, d.group_hosts);
      !s.ok()) {
    return s;
  }
  return d;
}

std::string automatedReason(const std::string& alert_id, const std::string& decision_id,
                            const std::string& approval_request) {
  std::string reason = absl::StrFormat("automated: alert %s, decision %s", alert_id, decision_id);
  if (!approval_request.empty()) reason += ", approved in request " + approval_request;
  return reason;
}

std::optional<AutomatedReasonParts> parseAutomatedReason(std::string_view reason) {
  constexpr std::string_view kHead = "automated: alert ", kDecision = ", decision ",
                             kApproved = ", approved in request ";
  if (!reason.starts_with(kHead)) return std::nullopt;
  reason.remove_prefix(kHead.size());
  const auto d = reason.find(kDecision);
  if (d == std::string_view::npos) return std::nullopt;
  AutomatedReasonParts parts;
  parts.alert_id = std::string(reason.substr(0, d));
  reason.remove_prefix(d + kDecision.size());
  const auto a = reason.find(kApproved);
  parts.decision_id = std::string(reason.substr(0, a));
  if (a != std::string_view::npos) {
    parts.approval_request = std::string(reason.substr(a + kApproved.size()));
  }
  return parts;
}

}  // namespace warden
