// A person's part in automation at the CLI: `warden approvals`, `approve ID`, `reject ID`
// (an operator's signed request about a pending decision) and `breaker open|close|status`.
#pragma once

#include <string>

#include "controller/cli/client.h"

namespace warden::cli {

int approvalsList(const Globals& g);
// Approves (dispatching the decided action and waiting for its receipt, like `isolate`) or
// rejects decision `id`.
int approvalSettle(const Globals& g, const std::string& id, bool approve, const std::string& reason,
                   const std::string& timeout, bool no_wait);
// `verb`: open, close or status.
int breakerCmd(const Globals& g, const std::string& verb, const std::string& reason);

}  // namespace warden::cli
