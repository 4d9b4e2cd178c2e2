#include "tests/support/warden_deployment.h"

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/json.h"
#include "common/status.h"

namespace warden::testing {

LiftImmutable::~LiftImmutable() {
  if (!dir.empty() && std::filesystem::exists(dir)) (void)run({"chattr", "-R", "-i", dir});
}

std::string wardenBinary(const std::string& name) {
  if (const char* env = std::getenv("WARDEN_BIN_DIR"); env != nullptr && *env != '\0') {
    return std::string(env) + "/" + name;
  }
  return std::string(WARDEN_BIN_DIR) + "/" + name;
}

absl::StatusOr<std::unique_ptr<WardenDeployment>> WardenDeployment::create(
    const std::string& label, const std::map<std::string, int>& hosts,
    const std::vector<std::string>& init_args, const std::vector<std::string>& serve_args) {
  std::unique_ptr<WardenDeployment> d(new WardenDeployment());
  WARDEN_ASSIGN_OR_RETURN(d->fleet_, TestFleet::create(label));
  WARDEN_ASSIGN_OR_RETURN(d->controller_host_, d->fleet_->addHost("controller", kControllerIndex));
  for (const auto& [name, index] : hosts) {
    WARDEN_RETURN_IF_ERROR(d->fleet_->addHost(name, index).status());
  }
  d->data_dir_ = d->controller_host_->dir() + "/controller";
  d->profile_ = d->data_dir_ + "/admin.profile";
  std::vector<std::string> init = {wardenBinary("warden-controller"),
                                   "init",
                                   "--data-dir",
                                   d->data_dir_,
                                   "--listen",
                                   d->controllerAddress()};
  init.insert(init.end(), init_args.begin(), init_args.end());
  WARDEN_ASSIGN_OR_RETURN(RunResult inited, d->controller_host_->exec(init));
  if (inited.exit_code != 0) {
    return absl::InternalError(absl::StrFormat("controller init failed: %s", inited.err));
  }
  WARDEN_RETURN_IF_ERROR(d->startController({}, serve_args));
  return d;
}

WardenDeployment::~WardenDeployment() {
  agents_.clear();
  controller_.reset();
}

std::string WardenDeployment::controllerAddress() const {
  return absl::StrFormat("%s:%d", controller_host_->ipv4(), kControllerPort);
}

TestHost& WardenDeployment::host(const std::string& name) { return *fleet_->host(name); }

absl::Status WardenDeployment::startController(const std::vector<std::string>& env,
                                               const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  if (!env.empty()) {
    argv.push_back("env");
    argv.insert(argv.end(), env.begin(), env.end());
  }
  for (const std::string& a : {wardenBinary("warden-controller"), std::string("serve"),
                               std::string("--data-dir"), data_dir_}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  WARDEN_ASSIGN_OR_RETURN(
      controller_, controller_host_->spawn(argv, controller_host_->dir() + "/controller.log"));
  for (int i = 0; i < 200; ++i) {
    if (tcpConnect(*controller_host_, controller_host_->ipv4(), kControllerPort,
                   absl::Milliseconds(200))) {
      return absl::OkStatus();
    }
    if (!controller_->running()) {
      return absl::InternalError("controller exited: " + controller_->output());
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("controller did not start listening: " +
                                     controller_->output());
}

absl::Status WardenDeployment::stopController() {
  if (controller_) {
    (void)controller_->signal(SIGTERM);
    auto ended = controller_->wait(absl::Seconds(10));
    controller_.reset();
    if (!ended.ok()) return ended.status();
  }
  return absl::OkStatus();
}

absl::Status WardenDeployment::restartController(const std::vector<std::string>& env,
                                                 const std::vector<std::string>& args) {
  (void)stopController();
  return startController(env, args);
}

absl::StatusOr<ExitStatus> WardenDeployment::waitControllerExit(absl::Duration timeout) {
  if (!controller_) return absl::FailedPreconditionError("no controller was started");
  return controller_->wait(timeout);
}

absl::StatusOr<RunResult> WardenDeployment::cli(const std::vector<std::string>& args,
                                                absl::Duration timeout) {
  std::vector<std::string> argv = {wardenBinary("warden"), "--profile", profile_};
  argv.insert(argv.end(), args.begin(), args.end());
  return controller_host_->exec(argv, timeout);
}

RunResult WardenDeployment::cliResult(const std::vector<std::string>& args,
                                      absl::Duration timeout) {
  auto r = cli(args, timeout);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : RunResult{};
}

absl::StatusOr<RunResult> WardenDeployment::cliWithProfile(const std::string& profile,
                                                           const std::vector<std::string>& args) {
  std::vector<std::string> argv = {wardenBinary("warden"), "--profile", profile};
  argv.insert(argv.end(), args.begin(), args.end());
  return controller_host_->exec(argv, absl::Seconds(60));
}

std::string WardenDeployment::agentStateDir(const std::string& name) {
  return host(name).dir() + "/agent-state";
}

absl::Status WardenDeployment::enroll(const std::string& name) {
  WARDEN_ASSIGN_OR_RETURN(RunResult token, cli({"token", "create", "--ttl", "10m"}));
  if (token.exit_code != 0) return absl::InternalError("token create failed: " + token.err);
  std::string t = token.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  WARDEN_ASSIGN_OR_RETURN(
      RunResult r,
      host(name).exec({wardenBinary("warden-agent"), "enroll", "--controller", controllerAddress(),
                       "--token", t, "--state-dir", agentStateDir(name), "--host-id", name}));
  if (r.exit_code != 0) return absl::InternalError("enroll failed: " + r.err);
  return absl::OkStatus();
}

absl::Status WardenDeployment::startAgent(const std::string& name,
                                          const std::vector<std::string>& extra,
                                          const std::vector<std::string>& prefix) {
  std::vector<std::string> argv = prefix;
  for (const std::string& a : {wardenBinary("warden-agent"), std::string("run"),
                               std::string("--state-dir"), agentStateDir(name)}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), extra.begin(), extra.end());
  WARDEN_ASSIGN_OR_RETURN(agents_[name], host(name).spawn(argv, host(name).dir() + "/agent.log"));
  return waitConnected(name, true);
}

absl::Status WardenDeployment::killAgent(const std::string& name, int sig) {
  auto it = agents_.find(name);
  if (it == agents_.end()) return absl::NotFoundError("no agent running on " + name);
  WARDEN_RETURN_IF_ERROR(it->second->signal(sig));
  WARDEN_RETURN_IF_ERROR(it->second->wait(absl::Seconds(10)).status());
  agents_.erase(it);
  return absl::OkStatus();
}

pid_t WardenDeployment::agentPid(const std::string& name) const {
  auto it = agents_.find(name);
  return it == agents_.end() ? -1 : it->second->pid();
}

std::string WardenDeployment::agentLog(const std::string& name) {
  auto r = host(name).readFile(host(name).dir() + "/agent.log");
  return r.ok() ? *r : "";
}

std::string WardenDeployment::controllerLog() { return controller_ ? controller_->output() : ""; }

absl::StatusOr<std::string> WardenDeployment::hostJson(const std::string& name) {
  WARDEN_ASSIGN_OR_RETURN(RunResult r, cli({"hosts", "--json"}));
  if (r.exit_code != 0) return absl::InternalError("warden hosts failed: " + r.err);
  const Json host = jsonObjectWith(r.out, "host_id", name);
  if (!host.is_object()) return absl::NotFoundError(name + " is not listed");
  return dumpJson(host, 2);
}

absl::Status WardenDeployment::waitConnected(const std::string& name, bool connected,
                                             absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const std::string want = connected ? "\"connected\": true" : "\"connected\": false";
  std::string last;
  while (absl::Now() < deadline) {
    auto j = hostJson(name);
    if (j.ok()) {
      last = *j;
      if (j->find(want) != std::string::npos) return absl::OkStatus();
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrFormat("%s not %s within %s; last: %s; agent log: %s",
                                                     name, connected ? "connected" : "disconnected",
                                                     absl::FormatDuration(timeout), last,
                                                     agentLog(name)));
}

}  // namespace warden::testing
