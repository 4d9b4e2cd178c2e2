// The generic alert list (POST /v1/alerts/json): a JSON array of alerts shaped as Alertmanager's
// API takes them (POST /api/v2/alerts): `labels` (required), `annotations`, `startsAt`,
// `endsAt`, and an optional `fingerprint`. For senders that are neither Alertmanager nor Falco
// (a SIEM, a script). The body is a peer's and is read as hostile, within alert.h's bounds;
// fields we do not know are ignored.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/alerts/alert.h"

namespace warden {

// The alerts of the list. As in Alertmanager's API, an alert is resolved when its `endsAt` is
// set and not after `now_unix_ms`; without `fingerprint` it gets labelsFingerprint(). Errors are
// InvalidArgument and name the place ("[3].labels: missing").
absl::StatusOr<AlertBatch> parseJsonAlerts(std::string_view body, std::int64_t now_unix_ms);

}  // namespace warden
