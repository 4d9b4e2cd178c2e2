// The `guardrails:` and `notify:` sections of the rules file (rules.h). Internal to parseRules.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/alerts/rules.h"

namespace warden {

inline constexpr std::size_t kMaxProtectedHosts = 1024;
inline constexpr std::size_t kMaxNeverBlock = 1024;
inline constexpr std::size_t kMaxNotifyTargets = 8;
inline constexpr std::size_t kMaxNotifyUrlBytes = 2048;

// Every key DESIGN.md lists, each optional with its default (Guardrails). A null node: defaults.
absl::StatusOr<Guardrails> parseGuardrails(const YAML::Node& node);

// A list of {url: https://...}; a null node: none.
absl::StatusOr<std::vector<NotifyTarget>> parseNotify(const YAML::Node& node);

}  // namespace warden
