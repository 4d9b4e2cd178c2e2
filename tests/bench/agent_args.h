// Extra `warden-agent run` flags for a benchmark's agents, from WARDEN_BENCH_AGENT_ARGS
// (space-separated), so scripts/bench-filters can measure the same bench with the agent's
// confinement on and off.
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"

namespace warden::testing {

inline std::vector<std::string> benchAgentArgs() {
  const char* env = std::getenv("WARDEN_BENCH_AGENT_ARGS");
  if (env == nullptr) return {};
  return absl::StrSplit(env, ' ', absl::SkipEmpty());
}

}  // namespace warden::testing
