// A Warden deployment on a test fleet: a controller in its own test host ("controller",
// 198.18.0.1, port 7443) and agents on other test hosts, driven through the real binaries
// (warden-controller, warden-agent, warden) exactly as an operator would.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/fleet.h"
#include "tests/support/json_lookup.h"

namespace warden::testing {

inline constexpr int kControllerIndex = 1;
inline constexpr std::uint16_t kControllerPort = 7443;

std::string wardenBinary(const std::string& name);  // WARDEN_BIN_DIR/name, or $WARDEN_BIN_DIR

// Lifts the immutable attribute (chattr -i) from everything under `dir` when it goes, so a
// deployment's scratch directory can be removed after the evidence store made its files
// immutable. Declare it after the deployment: it then runs first.
struct LiftImmutable {
  std::string dir;
  ~LiftImmutable();
};

class WardenDeployment {
 public:
  // Makes the fleet (controller host plus `hosts`: name -> index), initialises (`init_args`
  // added to `warden-controller init`'s) and starts the controller (`serve_args` added to
  // `serve`'s) and waits until it accepts connections.
  static absl::StatusOr<std::unique_ptr<WardenDeployment>> create(
      const std::string& label, const std::map<std::string, int>& hosts,
      const std::vector<std::string>& init_args = {},
      const std::vector<std::string>& serve_args = {});
  ~WardenDeployment();

  TestFleet& fleet() { return *fleet_; }
  TestHost& controllerHost() { return *controller_host_; }
  TestHost& host(const std::string& name);
  const std::string& dataDir() const { return data_dir_; }
  const std::string& profile() const { return profile_; }
  std::string controllerAddress() const;

  // `warden --profile P ARGS...`, run inside the controller's host.
  absl::StatusOr<RunResult> cli(const std::vector<std::string>& args,
                                absl::Duration timeout = absl::Seconds(60));
  // Same, for a test that asserts on what the CLI did: a CLI that could not be run at all fails
  // the test and gives an empty RunResult.
  RunResult cliResult(const std::vector<std::string>& args,
                      absl::Duration timeout = absl::Seconds(60));
  // Same with an explicit profile file.
  absl::StatusOr<RunResult> cliWithProfile(const std::string& profile,
                                           const std::vector<std::string>& args);

  // Creates a token and enrolls the host's agent into HOST_DIR/agent-state.
  absl::Status enroll(const std::string& host);
  std::string agentStateDir(const std::string& host);
  // Starts `warden-agent run` on the host and waits until the controller lists it connected.
  // `prefix` runs before the agent binary (e.g. setpriv to take capabilities away).
  absl::Status startAgent(const std::string& host, const std::vector<std::string>& extra = {},
                          const std::vector<std::string>& prefix = {});
  // SIGKILL (crash) or SIGTERM (orderly stop); either way containment must stay.
  absl::Status killAgent(const std::string& host, int sig);
  std::string agentLog(const std::string& host);
  // The running agent's pid in the harness's PID namespace (its /proc is readable from the
  // test); -1 when no agent runs there.
  pid_t agentPid(const std::string& host) const;
  std::string controllerLog();
  // Waits until `warden hosts --json` says the host is connected (or not).
  absl::Status waitConnected(const std::string& host, bool connected,
                             absl::Duration timeout = absl::Seconds(20));
  // The host's entry of `warden hosts --json`, as JSON text (indented: "key": value).
  absl::StatusOr<std::string> hostJson(const std::string& host);

  // Stops and restarts the controller process (same data directory).
  // Stops the controller (SIGTERM) if it runs and starts it again, with `env` ("NAME=value",
  // e.g. WARDEN_FAULT_INJECT=...) added to its environment and `args` to `serve`'s.
  absl::Status restartController(const std::vector<std::string>& env = {},
                                 const std::vector<std::string>& args = {});
  // Stops the controller (SIGTERM) and waits for it; restartController() starts it again.
  absl::Status stopController();
  // Waits for the controller to exit on its own and returns how it ended.
  absl::StatusOr<ExitStatus> waitControllerExit(absl::Duration timeout = absl::Seconds(20));

 private:
  WardenDeployment() = default;
  absl::Status startController(const std::vector<std::string>& env = {},
                               const std::vector<std::string>& args = {});

  std::unique_ptr<TestFleet> fleet_;
  TestHost* controller_host_ = nullptr;
  std::string data_dir_;
  std::string profile_;
  std::unique_ptr<Process> controller_;
  std::map<std::string, std::unique_ptr<Process>> agents_;
};

}  // namespace warden::testing
