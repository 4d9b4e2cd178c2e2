// What the host can do about its power: flush file systems, call reboot(2), and hand the job to
// the init system. The Linux implementation (agent/os/linux/power.cc) is the only code in Warden
// that calls reboot(2); everything that decides when and how lives in agent/actions/power.cc and
// is tested against a fake.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace warden {

// The three ends reboot(2) knows. Disks are never touched by any of them.
enum class PowerMode { kPowerOff, kReboot, kHalt };

// "poweroff", "reboot", "halt": the argument value and the systemctl verb alike.
std::string_view toString(PowerMode mode);

class Power {
 public:
  virtual ~Power() = default;
  // sync(2): everything written so far reaches the disks before the power goes.
  virtual void sync() = 0;
  // reboot(2) with LINUX_REBOOT_CMD_POWER_OFF, _RESTART or _HALT. Does not return on success
  // (the machine, or inside a PID namespace its init, goes down); an error says why not.
  virtual absl::Status reboot(PowerMode mode) = 0;
  // Whether systemd is PID 1 (/run/systemd/system exists and /proc/1/comm is "systemd").
  virtual bool systemdIsInit() = 0;
  // The init system's orderly path: `systemctl poweroff|reboot|halt` as a child process (argv
  // only), waited for at most `timeout`. OK once systemd has accepted the job.
  virtual absl::Status orderlyShutdown(PowerMode mode, absl::Duration timeout) = 0;
};

namespace linux_os {
// The real thing. Never use it in a test process outside a test host's PID namespace.
std::unique_ptr<Power> makePower();
}  // namespace linux_os

}  // namespace warden
