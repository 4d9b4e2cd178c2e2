// An alert as automation sees it (DESIGN.md "Automation"), whatever sent it: Alertmanager's
// webhook (v4), a Falco event, or the generic JSON list. The payload parsers
// (alertmanager_payload.h, falco_payload.h, json_payload.h) turn a sender's body into these;
// rules (rules.h) match on `labels` and decide from `status`, `starts_unix_ms`, `fingerprint`.
//
// Everything here came from outside: the parsers bound it (kMaxAlertsPerPayload, kMaxLabels,
// kMaxLabelBytes) and keep strings as the sender wrote them (valid UTF-8; what is not is
// refused), and nothing in it is trusted beyond matching.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace warden {

inline constexpr std::size_t kMaxAlertsPerPayload = 1000;
inline constexpr std::size_t kMaxLabels = 128;              // labels (and annotations) per alert
inline constexpr std::size_t kMaxLabelBytes = 4096;         // one label's name or value
inline constexpr std::size_t kMaxAlertBodyBytes = 1 << 20;  // the intake's body limit (413 past it)

enum class AlertFormat { kAlertmanager, kFalco, kJson };
const char* alertFormatName(AlertFormat f);  // "alertmanager", "falco", "json"

struct Alert {
  // Firing unless the sender says resolved (Alertmanager's per-alert status; for the generic
  // list, an endsAt in the past).
  bool resolved = false;
  // The sender's fingerprint (Alertmanager, the generic list when given), else a SHA-256 over
  // the sorted labels (hex, first 16 bytes), so the same alert always dedupes the same way.
  std::string fingerprint;
  std::int64_t starts_unix_ms = 0;  // 0 when the sender gave none
  std::int64_t ends_unix_ms = 0;    // 0 when none or Go's zero time (0001-01-01)
  // What rules match on. Alertmanager and the generic list: their labels. Falco: `rule`,
  // `priority`, `source`, `hostname`, `tags` (comma-joined, sorted) and `output_fields.<name>`
  // for every non-null output field (integers and booleans as their decimal/JSON text).
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;  // Falco: `output`
};

// A sender's body, parsed: the alerts and what the envelope said about them.
struct AlertBatch {
  AlertFormat format = AlertFormat::kJson;
  std::string receiver;   // Alertmanager: `receiver` (part of the dedupe key); else empty
  std::string group_key;  // Alertmanager: `groupKey`; else empty
  std::uint64_t truncated_alerts = 0;  // Alertmanager: `truncatedAlerts`
  std::vector<Alert> alerts;
};

}  // namespace warden
