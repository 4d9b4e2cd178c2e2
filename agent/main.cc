// warden-agent: enroll, run, restore. Flags and wiring only; the runtime is in agent/runtime.
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string_view>
#include <thread>

#include "agent/actions/containment.h"
#include "agent/os/linux/firewall_linux.h"
#include "agent/os/linux/syscall_filter.h"
#include "agent/runtime/agent.h"
#include "agent/runtime/enroll.h"
#include "agent/runtime/state_store.h"
#include "common/log.h"

namespace {

int fail(const absl::Status& s, const char* what) {
  std::fprintf(stderr, "warden-agent %s: %s\n", what, std::string(s.message()).c_str());
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
      return 2;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return 3;
    default:
      return 1;
  }
}

// How `warden collect` runs its collector: this binary again, as its own uid, never able to
// read the agent's state directory.
warden::CollectorSandbox collectorSandbox(const std::string& state_dir, std::uint32_t uid) {
  warden::CollectorSandbox sandbox;
  sandbox.uid = sandbox.gid = uid;
  std::error_code ec;
  const std::filesystem::path real = std::filesystem::canonical(state_dir, ec);
  sandbox.withheld.push_back(ec ? state_dir : real.string());
  if (const char* f = std::getenv("WARDEN_FAULT_INJECT"); f != nullptr) {
    constexpr std::string_view kTriage = "triage:";
    if (std::string_view v(f); v.starts_with(kTriage)) {
      sandbox.fault = std::string(v.substr(kTriage.size()));
      warden::logWarning("FAULT INJECTION ACTIVE (WARDEN_FAULT_INJECT=%s): testing only", v);
    }
  }
  return sandbox;
}

absl::StatusOr<warden::AgentParts> makeParts(const std::string& firewall, bool owned_table,
                                             const warden::CollectorSandbox& sandbox) {
  warden::AgentParts parts;
  auto fw = warden::linux_os::makeFirewall(firewall, {.owned_table = owned_table});
  if (!fw.ok()) return fw.status();
  parts.firewall = std::move(*fw);
  parts.conntrack = warden::linux_os::makeConnectionTracker();
  parts.open_evidence = warden::openEvidenceSource;
  parts.list_disks = [] { return warden::listWholeDisks(); };
  parts.build_triage = [sandbox](const std::string& path, const warden::TriageOptions& options) {
    return warden::writeTriageBundleSandboxed(path, options, sandbox);
  };
  auto watch = warden::linux_os::makeNetfilterWatch();
  if (watch.ok()) parts.watch = std::move(*watch);
  return parts;
}

void addHostActions(warden::AgentParts& parts, warden::StateStore& store) {
  parts.host = warden::linux_os::makeHostActions(store, getpid());
}

std::string chooseFirewall(warden::StateStore& store, const std::string& flag) {
  if (!flag.empty()) {
    (void)store.set("firewall", flag);
    return flag;
  }
  return store.getOr("firewall", "auto");
}

int run(const std::string& state_dir, const std::string& firewall, double rollback_s,
        double heartbeat_s, bool syscall_filter, bool owned_table, std::uint32_t triage_uid) {
  // First, while the process has one thread: every thread made later inherits the filter.
  if (syscall_filter) {
    if (auto s = warden::linux_os::installAgentSyscallFilter(); !s.ok()) {
      return fail(s, "run");
    }
  } else {
    warden::logWarning("running without the agent's syscall filter (--syscall-filter off)");
  }
  auto store = warden::StateStore::open(state_dir);
  if (!store.ok()) return fail(store.status(), "run");
  auto parts = makeParts(chooseFirewall(**store, firewall), owned_table,
                         collectorSandbox(state_dir, triage_uid));
  if (!parts.ok()) return fail(parts.status(), "run");
  warden::AgentOptions options;
  options.state_dir = state_dir;
  options.rollback_window = absl::Seconds(rollback_s);
  options.heartbeat_interval = absl::Seconds(heartbeat_s);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  addHostActions(*parts, **store);
  auto agent = warden::Agent::create(options, std::move(*store), std::move(*parts));
  if (!agent.ok()) return fail(agent.status(), "run");
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    warden::logInfo("signal %d: stopping (containment stays in place)", sig);
    (*agent)->stop();
  });
  waiter.detach();
  auto s = (*agent)->run();
  if (!s.ok()) return fail(s, "run");
  return 0;
}

int restore(const std::string& state_dir, const std::string& firewall) {
  auto store = warden::StateStore::open(state_dir);
  if (!store.ok()) return fail(store.status(), "restore");
  // No owned copy: it would die with this short-lived process. The agent adds it when it
  // starts; the plain table holds until then.
  auto fw =
      warden::linux_os::makeFirewall(chooseFirewall(**store, firewall), {.owned_table = false});
  if (!fw.ok()) return fail(fw.status(), "restore");
  auto conntrack = warden::linux_os::makeConnectionTracker();
  warden::Containment containment(**fw, *conntrack, **store);
  auto state = containment.restore();
  if (!state.ok()) return fail(state.status(), "restore");
  if (state->empty()) {
    std::printf("nothing to restore: no containment in force\n");
  } else {
    std::printf("restored: %s%s (%zu address blocks) with %s\n",
                state->isolation ? "isolation" : "no isolation", state->isolation ? "" : "",
                state->blocked.size(), (*fw)->backend().c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "warden-agent: the Warden agent. Runs as root on each host, dials out to the controller "
      "and carries out signed containment commands."};
  app.require_subcommand(1);

  warden::EnrollOptions enroll;
  auto* enroll_cmd = app.add_subcommand("enroll", "Join a controller with a one-time token");
  enroll_cmd->add_option("--controller", enroll.controller, "Controller HOST:PORT")->required();
  enroll_cmd->add_option("--token", enroll.token, "Token from 'warden token create'")->required();
  enroll_cmd->add_option("--state-dir", enroll.state_dir, "Agent state directory (made 0700)")
      ->required();
  enroll_cmd->add_option("--host-id", enroll.host_id, "Host id (default: host name)");

  std::string state_dir, firewall;
  double rollback_s = 10;
  auto* run_cmd = app.add_subcommand("run", "Connect to the controller and serve commands");
  run_cmd->add_option("--state-dir", state_dir, "Agent state directory")->required();
  run_cmd->add_option("--firewall", firewall, "auto, nftables or iptables (remembered)")
      ->check(CLI::IsMember({"auto", "nftables", "iptables"}));
  run_cmd
      ->add_option("--rollback-window", rollback_s,
                   "Seconds the controller has to answer after isolation before rollback")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  double heartbeat_s = 3;
  run_cmd
      ->add_option("--heartbeat-interval", heartbeat_s,
                   "Seconds between signed heartbeats; the controller calls the host "
                   "unresponsive after three missed")
      ->check(CLI::Range(0.2, 300.0))
      ->capture_default_str();
  std::string syscall_filter = "on";
  run_cmd
      ->add_option("--syscall-filter", syscall_filter,
                   "on: the agent runs under its seccomp deny list (denied calls fail with "
                   "EPERM and are logged); off: only for measuring its cost")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  std::string owned_table = "on";
  run_cmd
      ->add_option("--owned-table", owned_table,
                   "on: keep a copy of the rules in an nftables table only the agent may change "
                   "(flags owner; kernels without it fall back and say so); off: the plain "
                   "table only, as an older kernel gets it")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();

  std::uint32_t triage_uid = warden::CollectorSandbox().uid;
  run_cmd
      ->add_option("--triage-uid", triage_uid,
                   "The user and group id of the sandboxed triage collector of `warden "
                   "collect`: one no account uses (it must not be 0)")
      ->check(CLI::Range(1u, 4294967294u))
      ->capture_default_str();

  auto* restore_cmd = app.add_subcommand(
      "restore", "Re-apply persisted containment (at boot, before the network; no network needed)");
  restore_cmd->add_option("--state-dir", state_dir, "Agent state directory")->required();
  restore_cmd->add_option("--firewall", firewall, "auto, nftables or iptables")
      ->check(CLI::IsMember({"auto", "nftables", "iptables"}));

  // Exec'd by the agent itself for `warden collect` (agent/os/triage.h); not for people.
  auto* collector_cmd = app.add_subcommand("triage-collector", "");
  collector_cmd->group("");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*enroll_cmd) {
    auto id = warden::enrollAgent(enroll);
    if (!id.ok()) return fail(id.status(), "enroll");
    std::printf("enrolled as %s; start the agent with: warden-agent run --state-dir %s\n",
                id->c_str(), enroll.state_dir.c_str());
    return 0;
  }
  // _exit: no library's exit handlers (static destructors, a sanitizer's leak check) run
  // under the collector's system call allowlist; it has nothing to flush.
  if (*collector_cmd) _exit(warden::runTriageCollector(0, 1));
  if (*run_cmd)
    return run(state_dir, firewall, rollback_s, heartbeat_s, syscall_filter == "on",
               owned_table == "on", triage_uid);
  return restore(state_dir, firewall);
}
