// Power on Linux: sync(2), reboot(2) and systemctl. The only place in Warden that calls
// reboot(2). Inside a PID namespace other than the initial one, reboot(2) ends that namespace's
// init instead of the machine (SIGINT for POWER_OFF and HALT, SIGHUP for RESTART; see
// reboot(2)), which is how the test fleet proves shutdown without taking the test machine down.
#include "agent/os/power.h"

#include <fcntl.h>
#include <linux/reboot.h>
#include <signal.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "agent/actions/power.h"
#include "agent/os/linux/child_process.h"

namespace warden::linux_os {
namespace {

constexpr const char* kSystemctlPaths[] = {"/usr/bin/systemctl", "/bin/systemctl",
                                           "/usr/sbin/systemctl", "/sbin/systemctl"};
// sd_booted(3): systemd creates this directory early at boot.
constexpr char kSystemdRuntimeDir[] = "/run/systemd/system";
constexpr char kInitComm[] = "/proc/1/comm";

int rebootCommand(PowerMode mode) {
  switch (mode) {
    case PowerMode::kPowerOff:
      return static_cast<int>(LINUX_REBOOT_CMD_POWER_OFF);
    case PowerMode::kReboot:
      return static_cast<int>(LINUX_REBOOT_CMD_RESTART);
    case PowerMode::kHalt:
      return static_cast<int>(LINUX_REBOOT_CMD_HALT);
  }
  return static_cast<int>(LINUX_REBOOT_CMD_POWER_OFF);
}

absl::StatusOr<std::string> findSystemctl() {
  for (const char* path : kSystemctlPaths) {
    if (::access(path, X_OK) == 0) return std::string(path);
  }
  return absl::NotFoundError("systemctl not found in /usr/bin, /bin, /usr/sbin, /sbin");
}

// systemctl through the agent's child-process runner: argv only, bounded, killed on timeout.
absl::Status runBounded(const std::vector<std::string>& argv, absl::Duration timeout) {
  auto r = runTool(argv, "", timeout);
  if (!r.ok()) return r.status();
  if (r->exit_code == 0) return absl::OkStatus();
  return absl::InternalError(
      absl::StrFormat("%s exited with status %d: %s", argv[0], r->exit_code, r->err));
}

class LinuxPower : public Power {
 public:
  void sync() override { ::sync(); }

  absl::Status reboot(PowerMode mode) override {
    ::reboot(rebootCommand(mode));  // returns only on failure
    const int err = errno;
    return absl::InternalError(
        absl::StrFormat("Failed to call reboot(2) (%s): %s", toString(mode), strerror(err)));
  }

  bool systemdIsInit() override {
    struct stat st {};
    if (::lstat(kSystemdRuntimeDir, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
    // /run/systemd/system alone is not enough: a container (or a test host) may see the real
    // host's /run while its own PID 1 is something else.
    std::ifstream comm(kInitComm);
    std::string name;
    std::getline(comm, name);
    return name == "systemd";
  }

  absl::Status orderlyShutdown(PowerMode mode, absl::Duration timeout) override {
    absl::StatusOr<std::string> systemctl = findSystemctl();
    if (!systemctl.ok()) return systemctl.status();
    // --no-block: systemd stops this agent as part of the job, so don't wait for it.
    // --ignore-inhibitors: an incident response is not held up by a desktop's inhibitor lock.
    return runBounded(
        {*systemctl, "--no-block", "--ignore-inhibitors", std::string(toString(mode))}, timeout);
  }
};

}  // namespace

std::unique_ptr<Power> makePower() { return std::make_unique<LinuxPower>(); }

std::unique_ptr<PowerActions> makePowerActions() { return warden::makePowerActions(makePower()); }

}  // namespace warden::linux_os
