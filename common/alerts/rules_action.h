// The `action:` and `with:` of a rule (rules.h): what automation may do and the arguments each
// action takes. Internal to parseRules.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/alerts/rules.h"
#include "common/alerts/rules_yaml.h"

namespace warden {

// Sets rule.action and its arguments (allow, user_from, address_from) from the rule's map.
absl::Status readAction(const rules_yaml::StrictMap& rule_map, AlertRule& rule);

// A label name the rule reads (host_from, user_from, address_from): any UTF-8 text a sender may
// use as a label name (Falco's `output_fields.ka.uri.param[command]` included), not empty, no
// control characters, at most kMaxLabelBytes.
absl::StatusOr<std::string> readLabelName(const YAML::Node& node, const std::string& path);

}  // namespace warden
