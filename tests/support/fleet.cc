// TestFleet (fleet.h): creating, attaching to, listing and sweeping fleets, adding and
// removing hosts; and whether this process can build test hosts at all.
#include "tests/support/fleet.h"

#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "tests/support/fleet_plumbing.h"
#include "tests/support/fleet_state.h"
#include "tests/support/process.h"

namespace warden::testing {

// ---- TestFleet ----------------------------------------------------------------------------

TestFleet::TestFleet(std::string label, FleetOptions options, bool owner)
    : label_(std::move(label)), options_(std::move(options)), owner_(owner) {}

std::string TestFleet::stateDir() const { return absl::StrCat(options_.state_root, "/", label_); }
std::string TestFleet::scratchDir() const {
  return absl::StrCat(options_.scratch_root, "/", label_);
}

absl::Status TestFleet::writeState() const {
  return writeAtomically(
      stateDir() + "/fleet",
      absl::StrCat("label=", label_, "\n", ownerLine(), "keeper=", options_.keeper ? 1 : 0,
                   "\nlan_netns=", lanNetns(), "\nscratch_dir=", scratchDir(), "\n"));
}

absl::StatusOr<std::unique_ptr<TestFleet>> TestFleet::create(std::string label,
                                                             FleetOptions options) {
  if (!validLabel(label)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad fleet label '", label, "' (1-24 of A-Z a-z 0-9 _)"));
  }
  options = resolve(std::move(options));
  for (const char* overlaid : {"/etc", "/run"}) {
    if (options.scratch_root == overlaid ||
        absl::StartsWith(options.scratch_root, absl::StrCat(overlaid, "/"))) {
      return absl::InvalidArgumentError(absl::StrCat("scratch root ", options.scratch_root,
                                                     " is under ", overlaid,
                                                     ", which test hosts overlay"));
    }
  }
  if (::geteuid() != 0) {
    return absl::PermissionDeniedError("test fleets need root (namespaces, ip netns)");
  }
  std::unique_ptr<TestFleet> fleet(new TestFleet(label, options, /*owner=*/true));
  absl::StatusOr<std::map<std::string, std::string>> previous =
      readKeyValues(fleet->stateDir() + "/fleet");
  if (previous.ok()) {
    const pid_t owner = static_cast<pid_t>(numberOr(*previous, "owner_pid", 0));
    if (alive(owner, static_cast<unsigned long long>(numberOr(*previous, "owner_start", 0)))) {
      return absl::AlreadyExistsError(absl::StrCat("fleet '", label, "' is in use by pid ", owner,
                                                   " (warden-testfleet down --label ", label,
                                                   " or scripts/fleet-clean to remove it)"));
    }
  }
  // Whatever a crashed run with this label left behind.
  absl::Status s = sweep(label, options);
  if (!s.ok()) return s;
  s = makeDirs(options.state_root);
  if (!s.ok()) return s;
  // mkdir is the claim: of two processes racing for one label, one gets EEXIST.
  if (::mkdir(fleet->stateDir().c_str(), 0755) < 0) {
    return errnoStatus("claim", fleet->stateDir(), errno);
  }
  for (const std::string& dir : {fleet->stateDir() + "/hosts", fleet->scratchDir()}) {
    s = makeDirs(dir);
    if (!s.ok()) return s;
  }
  s = fleet->writeState();
  if (!s.ok()) return s;
  const std::string lan = fleet->lanNetns();
  s = ip({"netns", "add", lan});
  if (!s.ok()) return s;
  // No STP and no multicast snooping: ports forward at once and IPv6 neighbour discovery
  // is flooded like everything else.
  s = ip({"-n", lan, "-batch", "-"}, absl::StrCat("link set lo up\n", "link add ", kLanBridge,
                                                  " type bridge stp_state 0 mcast_snooping 0\n",
                                                  "link set ", kLanBridge, " up\n"));
  if (!s.ok()) return s;
  return fleet;
}

absl::StatusOr<std::unique_ptr<TestFleet>> TestFleet::attach(std::string label,
                                                             FleetOptions options) {
  if (!validLabel(label))
    return absl::InvalidArgumentError(absl::StrCat("bad fleet label '", label, "'"));
  options = resolve(std::move(options));
  std::unique_ptr<TestFleet> fleet(new TestFleet(label, options, /*owner=*/false));
  absl::StatusOr<std::map<std::string, std::string>> state =
      readKeyValues(fleet->stateDir() + "/fleet");
  if (!state.ok()) {
    return absl::NotFoundError(
        absl::StrCat("no fleet labelled '", label, "' under ", options.state_root));
  }
  for (const std::string& file : listDir(fleet->stateDir() + "/hosts")) {
    if (file.find('.') != std::string::npos) continue;  // NAME.exit, NAME.tmp
    absl::StatusOr<std::map<std::string, std::string>> kv =
        readKeyValues(fleet->stateDir() + "/hosts/" + file);
    if (!kv.ok()) continue;
    const int index = static_cast<int>(numberOr(*kv, "index", 0));
    if (!validHostName(file) || index < 1 || index > kMaxHostIndex) continue;
    std::unique_ptr<TestHost> host(new TestHost(fleet.get(), file, index));
    host->init_pid_ = static_cast<pid_t>(numberOr(*kv, "init_pid", 0));
    host->init_start_ = static_cast<unsigned long long>(numberOr(*kv, "init_start", 0));
    host->init_pidfd_ = openVerified(host->init_pid_, host->init_start_);
    if (host->init_pidfd_ < 0 && host->init_start_ == 0) host->init_pid_ = 0;
    fleet->hosts_[file] = std::move(host);
  }
  return fleet;
}

absl::Status TestFleet::sweep(const std::string& label, FleetOptions options) {
  if (!validLabel(label))
    return absl::InvalidArgumentError(absl::StrCat("bad fleet label '", label, "'"));
  options = resolve(std::move(options));
  const std::string state_dir = absl::StrCat(options.state_root, "/", label);
  absl::Status status;
  // Inits first: each takes its whole PID namespace with it.
  std::vector<int> pidfds;
  for (const std::string& file : listDir(state_dir + "/hosts")) {
    if (file.find('.') != std::string::npos) continue;
    absl::StatusOr<std::map<std::string, std::string>> kv =
        readKeyValues(absl::StrCat(state_dir, "/hosts/", file));
    if (!kv.ok()) continue;
    const int fd = openVerified(static_cast<pid_t>(numberOr(*kv, "init_pid", 0)),
                                static_cast<unsigned long long>(numberOr(*kv, "init_start", 0)));
    if (fd >= 0) pidfds.push_back(fd);
  }
  keepFirst(status, killAll(pidfds, absl::StrCat("an init of fleet ", label)));
  // Then anything else still inside the fleet's network namespaces, and the namespaces.
  const std::string prefix = absl::StrCat("wt-", label, "-");
  std::vector<std::string> namespaces;
  for (const std::string& name : listDir(kNetnsDir)) {
    if (absl::StartsWith(name, prefix)) namespaces.push_back(name);
  }
  for (const std::string& name : namespaces) {
    for (pid_t pid : pidsInNetns(absl::StrCat(kNetnsDir, "/", name))) {
      const int fd = openVerified(pid, 0);
      if (fd >= 0) pidfds.push_back(fd);
    }
  }
  keepFirst(status, killAll(pidfds, absl::StrCat("a process of fleet ", label)));
  for (const std::string& name : namespaces) keepFirst(status, ip({"netns", "del", name}));
  keepFirst(status, removeTree(absl::StrCat(options.scratch_root, "/", label)));
  keepFirst(status, removeTree(state_dir));
  return status;
}

std::vector<FleetSummary> TestFleet::list(FleetOptions options) {
  options = resolve(std::move(options));
  std::vector<FleetSummary> fleets;
  for (const std::string& label : listDir(options.state_root)) {
    absl::StatusOr<std::map<std::string, std::string>> kv =
        readKeyValues(absl::StrCat(options.state_root, "/", label, "/fleet"));
    if (!kv.ok() || !validLabel(label)) continue;
    FleetSummary f;
    f.label = label;
    f.owner_pid = static_cast<pid_t>(numberOr(*kv, "owner_pid", 0));
    f.owner_alive =
        alive(f.owner_pid, static_cast<unsigned long long>(numberOr(*kv, "owner_start", 0)));
    f.keeper = numberOr(*kv, "keeper", 0) == 1;
    for (const std::string& file :
         listDir(absl::StrCat(options.state_root, "/", label, "/hosts"))) {
      if (file.find('.') == std::string::npos) f.hosts.push_back(file);
    }
    fleets.push_back(std::move(f));
  }
  return fleets;
}

TestFleet::~TestFleet() {
  if (!owner_) return;
  absl::Status s = destroy();
  if (!s.ok()) {
    std::fprintf(stderr, "warden test fleet %s: teardown incomplete: %s\n", label_.c_str(),
                 std::string(s.message()).c_str());
  }
}

absl::StatusOr<TestHost*> TestFleet::addHost(std::string name, int index) {
  if (!owner_) {
    return absl::FailedPreconditionError("only the fleet's owning process can add hosts");
  }
  if (destroyed_) return absl::FailedPreconditionError("the fleet was destroyed");
  if (!validHostName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad host name '", name, "' (1-32 of a-z 0-9 -, not 'lan')"));
  }
  if (index < 1 || index > kMaxHostIndex) {
    return absl::InvalidArgumentError(absl::StrCat("host index ", index, " not in 1-254"));
  }
  if (hosts_.count(name) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("host ", name, " exists"));
  }
  for (const auto& [other, h] : hosts_) {
    if (h->index() == index) {
      return absl::AlreadyExistsError(absl::StrCat("index ", index, " is taken by ", other));
    }
  }
  std::unique_ptr<TestHost> host(new TestHost(this, name, index));
  TestHost* raw = host.get();
  // Registered (and recorded) before anything exists, so a failure half-way is cleaned up.
  hosts_[name] = std::move(host);
  absl::Status s = makeDirs(raw->fleetDir());
  if (s.ok()) s = raw->writeState();
  if (s.ok()) s = raw->setUpNetwork();
  if (s.ok()) s = raw->startInit();
  if (!s.ok()) {
    (void)removeHost(name);
    return s;
  }
  return raw;
}

TestHost* TestFleet::host(const std::string& name) const {
  auto it = hosts_.find(name);
  return it == hosts_.end() ? nullptr : it->second.get();
}

std::vector<TestHost*> TestFleet::hosts() const {
  std::vector<TestHost*> all;
  for (const auto& [name, h] : hosts_) all.push_back(h.get());
  std::sort(all.begin(), all.end(),
            [](const TestHost* a, const TestHost* b) { return a->index() < b->index(); });
  return all;
}

absl::Status TestFleet::removeHost(const std::string& name) {
  auto it = hosts_.find(name);
  if (it == hosts_.end()) return absl::NotFoundError(absl::StrCat("no host ", name));
  TestHost& h = *it->second;
  absl::Status status;
  if (owner_) {
    keepFirst(status, h.killInit());
  } else if (h.init_pidfd_ >= 0) {
    std::vector<int> fds = {h.init_pidfd_};
    h.init_pidfd_ = -1;
    keepFirst(status, killAll(fds, absl::StrCat("the init of ", name)));
  }
  std::vector<int> pidfds;
  for (pid_t pid : pidsInNetns(h.netnsPath())) {
    const int fd = openVerified(pid, 0);
    if (fd >= 0) pidfds.push_back(fd);
  }
  keepFirst(status, killAll(pidfds, absl::StrCat("a process of ", name)));
  // Deleting the lan end first removes the pair at once; a deleted namespace's devices go
  // away asynchronously and would block the name vhINDEX for a moment.
  (void)ip({"-n", lanNetns(), "link", "del", absl::StrCat("vh", h.index())});
  struct stat st {};
  if (::stat(h.netnsPath().c_str(), &st) == 0) keepFirst(status, ip({"netns", "del", h.netns()}));
  keepFirst(status, removeTree(h.dir()));
  ::unlink(h.statePath().c_str());
  ::unlink((h.statePath() + ".exit").c_str());
  hosts_.erase(it);
  return status;
}

absl::Status TestFleet::destroy() {
  if (destroyed_) return absl::OkStatus();
  absl::Status status;
  for (auto& [name, h] : hosts_) {
    if (owner_) keepFirst(status, h->killInit());
  }
  keepFirst(status, sweep(label_, options_));
  hosts_.clear();
  destroyed_ = true;
  return status;
}

// ---- privileges ---------------------------------------------------------------------------

absl::Status checkPrivileges(const FleetOptions& options) {
  if (::geteuid() != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("test hosts need root (running as uid ", ::geteuid(), ")"));
  }
  static const absl::Status namespaces = [] {
    const pid_t pid = ::fork();
    if (pid < 0) return errnoStatus(errno, "Failed to fork");
    if (pid == 0) {
      _exit(::unshare(CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS) == 0
                ? 0
                : errno & 0xff);
    }
    int wstatus = 0;
    for (int i = 0; i < 1000; ++i) {
      if (::waitpid(pid, &wstatus, 0) == pid || errno != EINTR) break;
    }
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
      return errnoStatus(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : EINVAL,
                         "Failed to unshare network, mount, PID and UTS namespaces");
    }
    return absl::OkStatus();
  }();
  if (!namespaces.ok()) return namespaces;
  if (absl::StatusOr<std::string> p = findExecutable("ip"); !p.ok()) return p.status();
  if (absl::StatusOr<std::string> p = initPath(options); !p.ok()) return p.status();
  return absl::OkStatus();
}

bool privilegesRequired() { return envOr("WARDEN_REQUIRE_PRIVILEGED", "") == "1"; }
}  // namespace warden::testing
