// The test fleet: Linux hosts made of namespaces, for tests that need a real kernel
// (firewall, conntrack, processes, accounts, reboot(2)) without touching the real host.
//
// A TestHost is
//   - a network namespace "wt-LABEL-NAME" (/run/netns) with lo and eth0, eth0 being a veth
//     whose peer "vhINDEX" is a port of bridge br0 in the fleet's lan namespace
//     "wt-LABEL-lan"; eth0 carries 198.18.0.INDEX/24 and 2001:db8::INDEX/64 (nodad, so usable
//     at once). Nothing is added to the real host's network namespace;
//   - a PID namespace whose PID 1 is warden-test-init (tests/support/test_init_main.cc), a
//     direct child of the process that created the fleet, so that process sees through
//     waitid(2) how the host went down (reboot(2) inside ends that init and nothing else);
//   - a mount namespace with its own /proc and /sys, and /etc and /run overlaid with
//     directories under dir()/.fleet: /etc/passwd, /etc/shadow, /etc/group and /run/utmp
//     are private copies (write-to-temporary-and-rename works; the real files never change);
//   - a UTS namespace whose host name is NAME.
// /tmp, /home, /var and everything else are the real host's. dir() is a scratch directory on
// the real file system, at the same path inside and outside the host.
//
// A TestFleet is created by a test (and torn down by its destructor, even after a failure:
// inits killed, which ends their PID namespaces, netns deleted, directories removed), or by
// `warden-testfleet up` for scripts, which keeps it alive in a background keeper process.
// Either way its state is recorded under STATE_ROOT/LABEL/ (default /run/warden-testfleet;
// see FleetOptions) and TestFleet::attach(LABEL) gives another process the same hosts.
// Creating a fleet first removes what a crashed earlier run with the same label left behind
// (when the recorded owner process is gone); scripts/fleet-clean removes all leftovers.
//
// Not thread-safe: create, change and destroy a fleet from one thread, and keep that thread
// alive as long as the fleet (the inits die with it, see PR_SET_PDEATHSIG). exec(), spawn()
// and the probes may run concurrently from several threads.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace warden::testing {

inline constexpr char kHostInterface[] = "eth0";
inline constexpr char kLanBridge[] = "br0";
inline constexpr int kIpv4PrefixLength = 24;
inline constexpr int kIpv6PrefixLength = 64;
inline constexpr int kMaxHostIndex = 254;

struct FleetOptions {
  // Fleet state goes to STATE_ROOT/LABEL/. Empty: $WARDEN_TESTFLEET_STATE_DIR, else
  // /run/warden-testfleet.
  std::string state_root;
  // Host directories go to SCRATCH_ROOT/LABEL/NAME/. Must not be under /etc or /run (they are
  // overlaid). Empty: $WARDEN_TESTFLEET_SCRATCH_DIR, else /tmp/warden-testfleet.
  std::string scratch_root;
  // warden-test-init. Empty: $WARDEN_TEST_INIT, else next to the running executable, else
  // WARDEN_BIN_DIR.
  std::string init_path;
  // Set by `warden-testfleet up`: the owner is a keeper daemon that `down` may stop.
  bool keeper = false;
};

class TestFleet;

class TestHost {
 public:
  ~TestHost();
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  const std::string& name() const { return name_; }
  int index() const { return index_; }
  // The kernel network namespace's name (`ip -n NETNS ...`) and its path under /run/netns.
  const std::string& netns() const { return netns_; }
  std::string netnsPath() const;
  const std::string& ipv4() const { return ipv4_; }  // "198.18.0.INDEX"
  const std::string& ipv6() const { return ipv6_; }  // "2001:db8::INDEX"
  // The init's pid in the caller's PID namespace (0 if unknown).
  pid_t initPid() const { return init_pid_; }
  // Scratch directory on the real file system, e.g. for an agent's state directory. The
  // harness keeps its own files in dir()/.fleet.
  const std::string& dir() const { return dir_; }

  // Runs argv inside the host (its network, mount, UTS and PID namespaces; cwd /; the
  // caller's environment) and waits, like run() in process.h.
  absl::StatusOr<RunResult> exec(const std::vector<std::string>& argv,
                                 absl::Duration timeout = absl::Seconds(30),
                                 const std::string& input = "") const;
  // Starts argv inside the host in the background; output goes to `log_path` (empty: a new
  // file in dir()/.fleet/logs/).
  absl::StatusOr<std::unique_ptr<Process>> spawn(const std::vector<std::string>& argv,
                                                 std::string log_path = "") const;
  // A file as the host sees it (e.g. its private /etc/shadow), and replacing its content.
  absl::StatusOr<std::string> readFile(const std::string& path) const;
  absl::Status writeFile(const std::string& path, const std::string& content) const;
  // For runIn() and Process::start() from process.h. Valid while the host is up.
  NamespaceTarget target() const { return NamespaceTarget{init_pidfd_}; }

  // Whether the host's init is running.
  bool up() const;
  // How the init ended: nullopt while it runs (or, in an attached fleet, if its owner has
  // not recorded it yet). term_signal SIGINT: powered off or halted (reboot(2) inside, or
  // `kill -INT` of the init); SIGHUP: restarted; exit_code 0: SIGTERM (orderly teardown).
  std::optional<ExitStatus> initExitStatus();
  // Waits at most `timeout` for the init to end; DeadlineExceeded if it still runs.
  absl::StatusOr<ExitStatus> waitForInitExit(absl::Duration timeout = absl::Seconds(10));
  // Powers a host whose init ended on again, like a power cycle: a fresh network namespace
  // (no firewall rules, no conntrack entries; same addresses), an empty /run, a new init;
  // /etc and dir() keep their contents. Only in the fleet's owning process.
  absl::Status boot();

 private:
  friend class TestFleet;
  TestHost(TestFleet* fleet, std::string name, int index);
  absl::Status startInit();
  absl::Status setUpNetwork();
  absl::Status killInit();
  absl::Status writeState() const;
  std::string statePath() const;
  std::string fleetDir() const { return dir_ + "/.fleet"; }

  TestFleet* fleet_;
  std::string name_;
  int index_;
  std::string netns_;
  std::string ipv4_;
  std::string ipv6_;
  std::string dir_;
  pid_t init_pid_ = 0;
  unsigned long long init_start_ = 0;
  int init_pidfd_ = -1;
  bool init_is_child_ = false;  // we forked it, so we can waitid(2) for it
  std::optional<ExitStatus> init_exit_;
  mutable std::atomic<int> log_counter_{0};
};

struct FleetSummary {
  std::string label;
  pid_t owner_pid = 0;
  bool owner_alive = false;
  bool keeper = false;
  std::vector<std::string> hosts;
};

class TestFleet {
 public:
  // Makes the lan namespace and its bridge. Label: 1-24 of [A-Za-z0-9_]. Fails with
  // AlreadyExists if a live process owns a fleet with this label; removes the leftovers of
  // one whose owner is gone.
  static absl::StatusOr<std::unique_ptr<TestFleet>> create(std::string label,
                                                           FleetOptions options = {});
  // The fleet recorded under LABEL (made by create() in another TestFleet, or by
  // `warden-testfleet up`). An attached fleet's destructor leaves everything in place.
  static absl::StatusOr<std::unique_ptr<TestFleet>> attach(std::string label,
                                                           FleetOptions options = {});
  // Removes everything of fleet LABEL whoever owns it: kills its inits and every process in
  // its network namespaces, deletes the namespaces, its directories and its state. Succeeds
  // when there is nothing to remove.
  static absl::Status sweep(const std::string& label, FleetOptions options = {});
  static std::vector<FleetSummary> list(FleetOptions options = {});

  // An owning fleet tears everything down (see destroy()).
  ~TestFleet();
  TestFleet(const TestFleet&) = delete;
  TestFleet& operator=(const TestFleet&) = delete;

  // Adds host NAME (1-32 of [a-z0-9-], not "lan") with addresses from INDEX (1-254) and
  // returns it once its init is ready. Only in the owning process.
  absl::StatusOr<TestHost*> addHost(std::string name, int index);
  TestHost* host(const std::string& name) const;  // nullptr if there is none
  std::vector<TestHost*> hosts() const;           // by index
  // Kills the host's init and removes its namespaces and directory.
  absl::Status removeHost(const std::string& name);
  // Tears the whole fleet down now (also from an attached fleet). Idempotent.
  absl::Status destroy();

  const std::string& label() const { return label_; }
  bool owner() const { return owner_; }
  std::string lanNetns() const { return netnsPrefix() + "lan"; }
  std::string netnsPrefix() const { return "wt-" + label_ + "-"; }
  std::string stateDir() const;
  std::string scratchDir() const;
  const FleetOptions& options() const { return options_; }

 private:
  friend class TestHost;
  TestFleet(std::string label, FleetOptions options, bool owner);
  absl::Status writeState() const;

  std::string label_;
  FleetOptions options_;
  bool owner_;
  bool destroyed_ = false;
  std::map<std::string, std::unique_ptr<TestHost>> hosts_;
};

// ---- probes -------------------------------------------------------------------------------

// addr (an IPv4 or IPv6 literal) and port as a socket address.
absl::Status parseAddress(const std::string& addr, std::uint16_t port, sockaddr_storage* ss,
                          socklen_t* len);

// A socket created inside `host`'s network namespace (by a short-lived thread that joins
// it); the caller owns the descriptor, which works from any thread.
absl::StatusOr<int> socketInHost(const TestHost& host, int domain, int type, int protocol = 0);

enum class ConnectOutcome { kConnected, kRefused, kTimedOut, kUnreachable, kError };
const char* toString(ConnectOutcome outcome);
// A TCP connect from `from` to addr:port (IPv4 or IPv6 literal) within `timeout`.
ConnectOutcome tcpProbe(const TestHost& from, const std::string& addr, std::uint16_t port,
                        absl::Duration timeout = absl::Seconds(3));
bool tcpConnect(const TestHost& from, const std::string& addr, std::uint16_t port,
                absl::Duration timeout = absl::Seconds(3));
// ICMP echo from `from` (ping -c1 -W1, repeated until a reply or `timeout`).
bool ping(const TestHost& from, const std::string& addr, absl::Duration timeout = absl::Seconds(3));

// A TCP server inside a host's network namespace that echoes every byte back. Listens on
// `addr` (empty: every IPv4 and IPv6 address) and a kernel-chosen port unless `port` is set.
class TcpEchoServer {
 public:
  static absl::StatusOr<std::unique_ptr<TcpEchoServer>> start(const TestHost& host,
                                                              const std::string& addr = "",
                                                              std::uint16_t port = 0);
  ~TcpEchoServer();
  TcpEchoServer(const TcpEchoServer&) = delete;
  TcpEchoServer& operator=(const TcpEchoServer&) = delete;
  std::uint16_t port() const { return port_; }
  int accepted() const { return accepted_.load(); }

 private:
  TcpEchoServer() = default;
  void serve();

  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A TCP connection held open from a host, for "does an established connection still carry
// data" checks against a TcpEchoServer.
class TcpConnection {
 public:
  static absl::StatusOr<std::unique_ptr<TcpConnection>> open(
      const TestHost& from, const std::string& addr, std::uint16_t port,
      absl::Duration timeout = absl::Seconds(3));
  ~TcpConnection();
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;
  // Sends line + "\n" and waits until it comes back. Use a different line each time: a late
  // echo of an earlier line is not mistaken for this one.
  bool echoes(const std::string& line, absl::Duration timeout = absl::Seconds(2));
  int fd() const { return fd_; }

 private:
  TcpConnection() = default;
  int fd_ = -1;
  std::string received_;
};

// ---- privileges ---------------------------------------------------------------------------

// OK if this process can build test hosts: root, namespaces, `ip`, warden-test-init.
absl::Status checkPrivileges(const FleetOptions& options = {});
// WARDEN_REQUIRE_PRIVILEGED=1 (CI): a test that cannot get its privileges fails.
bool privilegesRequired();

}  // namespace warden::testing

// In a test body or SetUp() (void functions): skips the test when test hosts can't be built
// here, or fails it (fatally, so the body does not run after SetUp) under
// WARDEN_REQUIRE_PRIVILEGED=1.
#define WARDEN_REQUIRE_PRIVILEGES()                                                         \
  do {                                                                                      \
    const ::absl::Status warden_privileges_ = ::warden::testing::checkPrivileges();         \
    if (!warden_privileges_.ok()) {                                                         \
      if (::warden::testing::privilegesRequired()) {                                        \
        GTEST_FAIL() << "WARDEN_REQUIRE_PRIVILEGED=1 but " << warden_privileges_.message(); \
      }                                                                                     \
      GTEST_SKIP() << "needs privileges: " << warden_privileges_.message();                 \
    }                                                                                       \
  } while (0)
