// Prometheus Alertmanager's webhook body, version 4 (prometheus.io/docs/alerting/latest/
// configuration/#webhook_config; POST /v1/alerts/alertmanager): one notification for one alert
// group of one receiver, firing and resolved alerts mixed, `truncatedAlerts` counting those
// `max_alerts` left out. The body is a peer's and is read as hostile: bounded (alert.h), every
// value type-checked, fields we do not know ignored (newer releases add some).
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "common/alerts/alert.h"

namespace warden {

// The alerts of one webhook body. `version` must be "4" when present (older senders omit it);
// each alert's own `status` ("firing" | "resolved") decides `resolved` — the envelope's status
// is "firing" while any alert of the group still fires. An alert without `fingerprint` gets
// labelsFingerprint(). Errors are InvalidArgument and name the place ("alerts[2].labels.hostname:
// expected a string, got number").
absl::StatusOr<AlertBatch> parseAlertmanagerPayload(std::string_view body);

}  // namespace warden
