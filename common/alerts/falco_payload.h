// One Falco event as `json_output` writes it (POST /v1/alerts/falco), sent by Falco's own
// `http_output` or re-marshalled by Falcosidekick's webhook output (which adds `uuid`). Falco
// has no alert labels, so the event's fields become them (alert.h): `rule`, `priority`,
// `source`, `hostname`, `tags` (sorted, comma-joined) and `output_fields.<name>` for every
// non-null field; the human-readable `output` line is the annotation `output`. The body is a
// peer's and is read as hostile, within alert.h's bounds; fields we do not know are ignored.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "common/alerts/alert.h"

namespace warden {

// The one alert of a Falco event: always firing (Falco never resolves), started at `time`,
// fingerprinted by Falcosidekick's `uuid` when present, else labelsFingerprint() (which the
// event's own `evt.time` field, when output, makes unique per event). `rule` is required.
// output_fields values: strings as they are, integers as decimal text, floats as JSON writes
// them, booleans as true/false, lists (Falco's list fields) as their elements comma-joined;
// objects are refused. Errors are InvalidArgument and name the place.
absl::StatusOr<AlertBatch> parseFalcoPayload(std::string_view body);

}  // namespace warden
