// Shutdown without destroying evidence: the receipt first, then sync and reboot(2) (--now) or
// the init system's orderly path. Arguments: see host_actions.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/actions/outcome.h"

namespace warden {

class Power;  // agent/os/power.h

class PowerActions {
 public:
  virtual ~PowerActions() = default;
  // Validates and returns at once; the power-off itself is outcome.after_ack.
  virtual ActionOutcome shutdown(const std::vector<std::string>& args) = 0;
};

// The decision logic on any Power (a fake in unit tests); every after_ack shares `power`.
std::unique_ptr<PowerActions> makePowerActions(std::unique_ptr<Power> power);

namespace linux_os {
// makePowerActions(linux_os::makePower()).
std::unique_ptr<PowerActions> makePowerActions();
}  // namespace linux_os

}  // namespace warden
