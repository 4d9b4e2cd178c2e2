// Login sessions: list them, and kill the attacker's (freeze, record, kill via pidfd, repeat
// until nothing selected survives). Arguments: see host_actions.h.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/actions/outcome.h"

namespace warden {

class SessionActions {
 public:
  virtual ~SessionActions() = default;
  // details[kResultDetail] = base64(v1::SessionList)
  virtual ActionOutcome list() = 0;
  // details[kResultDetail] = base64(v1::KillReport)
  virtual ActionOutcome kill(const std::vector<std::string>& args) = 0;
};

namespace linux_os {
// Never kills PID 1, kernel threads, `agent_pid` or its descendants.
std::unique_ptr<SessionActions> makeSessionActions(pid_t agent_pid);
}  // namespace linux_os

}  // namespace warden
