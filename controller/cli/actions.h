// `warden actions` and `warden action ID`: where each action stands, and what an action's
// state means as an exit code.
#pragma once

#include <cstdint>
#include <string>

#include "controller/cli/client.h"

namespace warden::cli {

// Every action, or only those for `host` when it is not empty, oldest first; `limit` > 0: only
// the newest `limit` of them.
int listActions(const Globals& g, const std::string& host, std::uint32_t limit = 0);
// One action with its receipt details: exit 1 when it failed or was refused.
int showAction(const Globals& g, const std::string& id);

// 1 when any action failed, was refused or expired; else 4 when any is still queued or
// delivered (no receipt yet); else 0.
int actionExitCode(const v1::SubmitResponse& resp);

}  // namespace warden::cli
