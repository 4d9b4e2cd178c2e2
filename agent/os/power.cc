// Names of the power modes (agent/os/power.h).
#include "agent/os/power.h"

namespace warden {

std::string_view toString(PowerMode mode) {
  switch (mode) {
    case PowerMode::kPowerOff:
      return "poweroff";
    case PowerMode::kReboot:
      return "reboot";
    case PowerMode::kHalt:
      return "halt";
  }
  return "poweroff";
}

}  // namespace warden
