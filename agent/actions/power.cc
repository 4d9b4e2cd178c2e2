// Shutdown: validate now, act after the receipt is logged. Which path is taken is decided here
// (and stated in the receipt); the side effects are Power's (agent/os/power.h).
#include "agent/actions/power.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "agent/actions/host_actions.h"
#include "agent/os/power.h"
#include "common/log.h"

namespace warden {

namespace {

// systemctl only queues the job; anything slower than this is a stuck systemd, and the direct
// syscall takes over.
constexpr absl::Duration kOrderlyTimeout = absl::Seconds(30);

struct ShutdownRequest {
  PowerMode mode = PowerMode::kPowerOff;
  bool now = false;
};

std::optional<PowerMode> parseMode(const std::string& value) {
  if (value == "poweroff") return PowerMode::kPowerOff;
  if (value == "reboot") return PowerMode::kReboot;
  if (value == "halt") return PowerMode::kHalt;
  return std::nullopt;
}

// "mode=poweroff|reboot|halt" (default poweroff) and "now=1|0" (default 0), each at most once.
// On bad input, the reason.
std::optional<std::string> parseArgs(const std::vector<std::string>& args, ShutdownRequest& out) {
  std::map<std::string, std::string> seen;
  for (const std::string& arg : args) {
    const std::size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      return absl::StrFormat("argument '%s' is not key=value", arg);
    }
    const std::string key = arg.substr(0, eq);
    const std::string value = arg.substr(eq + 1);
    if (key != "mode" && key != "now") {
      return absl::StrFormat("unknown argument '%s' (shutdown takes mode= and now=)", key);
    }
    if (!seen.emplace(key, value).second) {
      return absl::StrFormat("argument '%s' given more than once", key);
    }
    if (key == "mode") {
      const std::optional<PowerMode> mode = parseMode(value);
      if (!mode) return absl::StrFormat("mode '%s' is not poweroff, reboot or halt", value);
      out.mode = *mode;
    } else if (value == "1" || value == "0") {
      out.now = value == "1";
    } else {
      return absl::StrFormat("now '%s' is not 1 or 0", value);
    }
  }
  return std::nullopt;
}

const char* rebootCommand(PowerMode mode) {
  switch (mode) {
    case PowerMode::kPowerOff:
      return "LINUX_REBOOT_CMD_POWER_OFF";
    case PowerMode::kReboot:
      return "LINUX_REBOOT_CMD_RESTART";
    case PowerMode::kHalt:
      return "LINUX_REBOOT_CMD_HALT";
  }
  return "LINUX_REBOOT_CMD_POWER_OFF";
}

const char* verb(PowerMode mode) {
  switch (mode) {
    case PowerMode::kPowerOff:
      return "powering off";
    case PowerMode::kReboot:
      return "rebooting";
    case PowerMode::kHalt:
      return "halting";
  }
  return "powering off";
}

// sync(2) then reboot(2); returns only if the kernel refused.
void syncAndReboot(Power& power, PowerMode mode) {
  power.sync();
  const absl::Status status = power.reboot(mode);
  logError("shutdown (%s): reboot(2) %s failed: %s", toString(mode), rebootCommand(mode),
           status.ToString());
}

class PowerActionsImpl : public PowerActions {
 public:
  explicit PowerActionsImpl(std::unique_ptr<Power> power) : power_(std::move(power)) {}

  ActionOutcome shutdown(const std::vector<std::string>& args) override {
    ActionOutcome outcome;
    ShutdownRequest request;
    if (std::optional<std::string> error = parseArgs(args, request)) {
      return invalidArgument(absl::StrFormat("shutdown: %s", *error));
    }
    // --now, or an init that is not systemd: sync + reboot(2). Otherwise systemd's orderly
    // path, which stops services and unmounts file systems before it calls reboot(2) itself.
    const bool orderly = !request.now && power_->systemdIsInit();
    const PowerMode mode = request.mode;
    outcome.ok = true;
    outcome.details["mode"] = std::string(toString(mode));
    outcome.details["now"] = request.now ? "1" : "0";
    outcome.details["path"] = orderly ? "systemctl" : "reboot(2)";
    if (orderly) {
      outcome.message = absl::StrFormat("%s (systemctl %s) after the receipt is logged", verb(mode),
                                        toString(mode));
    } else {
      outcome.message =
          absl::StrFormat("%s (sync + reboot(2) %s%s) after the receipt is logged", verb(mode),
                          rebootCommand(mode), request.now ? "" : "; init is not systemd");
    }
    std::shared_ptr<Power> power = power_;
    outcome.after_ack = [power, mode, orderly] {
      if (orderly) {
        const absl::Status status = power->orderlyShutdown(mode, kOrderlyTimeout);
        if (status.ok()) return;  // systemd takes it from here
        logError("shutdown (%s): systemctl %s failed, falling back to sync + reboot(2): %s",
                 toString(mode), toString(mode), status.ToString());
      }
      syncAndReboot(*power, mode);
    };
    return outcome;
  }

 private:
  std::shared_ptr<Power> power_;
};

}  // namespace

std::unique_ptr<PowerActions> makePowerActions(std::unique_ptr<Power> power) {
  return std::make_unique<PowerActionsImpl>(std::move(power));
}

}  // namespace warden
