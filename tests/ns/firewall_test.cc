// The packet-filter backends against the real kernel, inside two network namespaces made by
// the test and joined by a veth pair:
//
//   A (the host under containment)            B (controller, responder, attacker)
//   wfw0 198.18.0.1/24  2001:db8::1/64  <-->  wfw1 198.18.0.2, .3/24  2001:db8::2, ::3/64
//
// The backends run in threads that setns(2) into A (a network namespace is per thread, and
// the netlink sockets and child processes they open inherit it). Reachability is proven with
// real packets: ping(8) and TCP connections from sockets created inside the namespaces. The
// host's own firewall is never touched.
#include "agent/os/firewall.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/firewall_rules.h"
#include "agent/os/linux/firewall_linux.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"

extern char** environ;

namespace warden::linux_os {
namespace {

using ::warden::testing::privilegesRequired;

#define SKIP_OR_FAIL(reason)                                  \
  do {                                                        \
    if (privilegesRequired()) {                               \
      FAIL() << (reason) << " (WARDEN_REQUIRE_PRIVILEGED=1)"; \
    } else {                                                  \
      GTEST_SKIP() << (reason);                               \
    }                                                         \
  } while (0)

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct CmdResult {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs argv (PATH lookup, no shell) with `input` on stdin; killed after `timeout_s`.
CmdResult run(const std::vector<std::string>& argv, const std::string& input = "",
              int timeout_s = 20) {
  CmdResult r;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    r.err = std::strerror(errno);
    return r;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    close(err[0]);
    r.err = absl::StrCat("spawn ", argv[0], ": ", std::strerror(rc));
    return r;
  }
  // Inputs are small (a few KiB): they fit in the pipe buffer.
  if (!input.empty() && write(in[1], input.data(), input.size()) < 0) r.err = "write failed";
  close(in[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* bufs[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 100) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[8192];
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        bufs[i]->append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (open_fds > 0) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CmdResult inNs(const std::string& ns, std::vector<std::string> argv,
               const std::string& input = "") {
  argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
  return run(argv, input);
}

// Runs `fn` on a thread that has joined network namespace `ns`.
template <typename F>
auto inNetns(const std::string& ns, F fn) -> decltype(fn()) {
  using R = decltype(fn());
  std::optional<R> result;
  std::string error;
  std::thread t([&] {
    const int fd = open(absl::StrCat("/run/netns/", ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      error = absl::StrCat("cannot enter netns ", ns, ": ", std::strerror(errno));
      if (fd >= 0) close(fd);
      return;
    }
    close(fd);
    result.emplace(fn());
  });
  t.join();
  if (!result) {
    ADD_FAILURE() << error;
    return R{};
  }
  return std::move(*result);
}

bool toSockaddr(const std::string& ip, std::uint16_t port, sockaddr_storage* ss, socklen_t* len) {
  *ss = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(*v4);
    return true;
  }
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(*v6);
    return true;
  }
  return false;
}

// A dual-stack TCP listener on every address of `ns`, port chosen by the kernel. Connections
// complete in the backlog without accept(2).
Fd listenAll(const std::string& ns, std::uint16_t* port) {
  return inNetns(ns, [&]() -> Fd {
    Fd fd(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int off = 0;
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    socklen_t len = sizeof(addr);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd.get(), 64) != 0 ||
        getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "listener in " << ns << ": " << std::strerror(errno);
      return Fd();
    }
    *port = ntohs(addr.sin6_port);
    return fd;
  });
}

// True when a TCP connection from `ns` (optionally from source address `src`) to dst:port
// completes within a second. `keep` receives the connected socket.
bool tcpConnects(const std::string& ns, const std::string& dst, std::uint16_t port,
                 const std::string& src = "", Fd* keep = nullptr) {
  return inNetns(ns, [&]() -> bool {
    sockaddr_storage to, from;
    socklen_t to_len = 0, from_len = 0;
    if (!toSockaddr(dst, port, &to, &to_len)) return false;
    Fd fd(socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!src.empty()) {
      if (!toSockaddr(src, 0, &from, &from_len) ||
          bind(fd.get(), reinterpret_cast<sockaddr*>(&from), from_len) != 0) {
        ADD_FAILURE() << "bind " << src << ": " << std::strerror(errno);
        return false;
      }
    }
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&to), to_len) != 0 && errno != EINPROGRESS) {
      return false;
    }
    pollfd p{fd.get(), POLLOUT, 0};
    if (poll(&p, 1, 1000) != 1) return false;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return false;
    if (keep) *keep = std::move(fd);
    return true;
  });
}

bool pings(const std::string& ns, const std::string& dst, const std::string& src = "") {
  std::vector<std::string> argv = {"ping", "-n", "-q", "-c1", "-W1"};
  if (!src.empty()) argv.insert(argv.end(), {"-I", src});
  argv.push_back(dst);
  return inNs(ns, argv).code == 0;
}

// A UDP socket on every address of `ns` (dual-stack), port chosen by the kernel.
Fd udpSink(const std::string& ns, std::uint16_t* port) {
  return inNetns(ns, [&]() -> Fd {
    Fd fd(socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const int off = 0;
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    socklen_t len = sizeof(addr);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "udp socket in " << ns << ": " << std::strerror(errno);
      return Fd();
    }
    *port = ntohs(addr.sin6_port);
    return fd;
  });
}

// True when a datagram sent from `from` to dst:port arrives at `sink` within a second: a
// one-way probe, for when only the inbound direction is open.
bool udpArrives(const std::string& from, const std::string& dst, std::uint16_t port,
                const Fd& sink) {
  char buf[64];
  while (recv(sink.get(), buf, sizeof(buf), MSG_DONTWAIT) > 0) {
  }
  const bool sent = inNetns(from, [&]() -> bool {
    sockaddr_storage to;
    socklen_t to_len = 0;
    if (!toSockaddr(dst, port, &to, &to_len)) return false;
    Fd fd(socket(to.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    return sendto(fd.get(), "probe", 5, 0, reinterpret_cast<sockaddr*>(&to), to_len) == 5;
  });
  if (!sent) return false;
  pollfd p{sink.get(), POLLIN, 0};
  return poll(&p, 1, 1000) == 1 && recv(sink.get(), buf, sizeof(buf), MSG_DONTWAIT) == 5;
}

// Save output without the timestamp comments and packet counters.
std::string saved(const std::string& ns, const std::string& tool) {
  const CmdResult r = inNs(ns, {tool});
  EXPECT_EQ(r.code, 0) << tool << ": " << r.err;
  std::string out;
  for (absl::string_view sv : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    std::string line(sv);
    if (absl::StartsWith(line, "#")) continue;
    if (absl::StartsWith(line, ":")) line = line.substr(0, line.rfind(" ["));
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string nftList(const std::string& ns, const std::string& what) {
  const CmdResult r = inNs(ns, {"nft", "list", "table", "inet", what});
  return absl::StrCat("rc=", r.code, "\n", r.out);
}

bool wardenTablePresent(const std::string& ns) {
  return absl::StrContains(inNs(ns, {"nft", "list", "tables"}).out, "table inet warden");
}

int conntrackLines(const std::string& ns, std::uint16_t dport) {
  const CmdResult r = inNs(ns, {"conntrack", "-L", "-p", "tcp", "--dport", std::to_string(dport)});
  int n = 0;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, "dport=")) ++n;
  }
  return n;
}

constexpr char kA4[] = "198.18.0.1";
constexpr char kA6[] = "2001:db8::1";
constexpr char kB4[] = "198.18.0.2";
constexpr char kB6[] = "2001:db8::2";
constexpr char kResponder4[] = "198.18.0.3";
constexpr char kResponder6[] = "2001:db8::3";

// Someone else's objects that must survive everything Warden does. The ct rule also makes
// the kernel track connections in A (conntrack only runs in a namespace that uses it).
constexpr char kKeepmeTable[] =
    "table inet keepme {\n"
    "  chain c {\n"
    "    type filter hook input priority 0; policy accept;\n"
    "    ct state established,related accept comment \"not warden's\"\n"
    "  }\n"
    "}\n";

std::atomic<int> ns_counter{0};

class FirewallNsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) SKIP_OR_FAIL("needs root to create network namespaces");
    for (const char* tool : {"ip", "nft", "ping", "iptables-save", "conntrack"}) {
      if (run({"sh", "-c", absl::StrCat("command -v ", tool)}).code != 0) {
        SKIP_OR_FAIL(absl::StrCat(tool, " is not installed"));
      }
    }
    const std::string base = absl::StrCat("wfw-", getpid(), "-", ns_counter++);
    a_ = base + "-a";
    b_ = base + "-b";
    if (CmdResult r = run({"ip", "netns", "add", a_}); r.code != 0) {
      a_.clear();
      SKIP_OR_FAIL("cannot create network namespaces: " + r.err);
    }
    if (CmdResult r = run({"ip", "netns", "add", b_}); r.code != 0) {
      b_.clear();
      SKIP_OR_FAIL("cannot create network namespaces: " + r.err);
    }
    const std::vector<std::vector<std::string>> setup = {
        {"ip", "-n", a_, "link", "add", "wfw0", "type", "veth", "peer", "name", "wfw1", "netns",
         b_},
        {"ip", "-n", a_, "link", "set", "lo", "up"},
        {"ip", "-n", b_, "link", "set", "lo", "up"},
        {"ip", "-n", a_, "addr", "add", "198.18.0.1/24", "dev", "wfw0"},
        {"ip", "-n", a_, "addr", "add", "2001:db8::1/64", "dev", "wfw0", "nodad"},
        {"ip", "-n", b_, "addr", "add", "198.18.0.2/24", "dev", "wfw1"},
        {"ip", "-n", b_, "addr", "add", "198.18.0.3/24", "dev", "wfw1"},
        {"ip", "-n", b_, "addr", "add", "2001:db8::2/64", "dev", "wfw1", "nodad"},
        {"ip", "-n", b_, "addr", "add", "2001:db8::3/64", "dev", "wfw1", "nodad"},
        {"ip", "-n", a_, "link", "set", "wfw0", "up"},
        {"ip", "-n", b_, "link", "set", "wfw1", "up"},
    };
    for (const auto& cmd : setup) {
      const CmdResult r = run(cmd);
      if (r.code != 0) SKIP_OR_FAIL(absl::StrCat(absl::StrJoin(cmd, " "), ": ", r.err));
    }
    // Right after link-up the first neighbour solicitations can go unanswered for more than
    // a second; settle every address pair now (bounded) so later checks mean what they say.
    for (const char* src : {kB4, kResponder4, kB6, kResponder6}) {
      const std::string dst = absl::StrContains(src, ":") ? kA6 : kA4;
      bool up = false;
      for (int i = 0; i < 5 && !up; ++i) up = pings(b_, dst, src) && pings(a_, src);
      ASSERT_TRUE(up) << "no connectivity between " << src << " and " << dst;
    }
  }

  void TearDown() override {
    // Sockets first (they pin the namespaces), then the namespaces and with them the veth.
    sockets_.clear();
    for (const std::string& ns : {a_, b_}) {
      if (!ns.empty()) run({"ip", "netns", "del", ns});
    }
  }

  Fd& hold(Fd fd) {
    sockets_.push_back(std::make_unique<Fd>(std::move(fd)));
    return *sockets_.back();
  }

  void addPreexistingRules() {
    const CmdResult nft = inNs(a_, {"nft", "-f", "-"}, kKeepmeTable);
    ASSERT_EQ(nft.code, 0) << nft.err;
    const CmdResult ipt =
        inNs(a_, {"iptables", "-A", "INPUT", "-s", "198.19.255.254/32", "-j", "ACCEPT"});
    ASSERT_EQ(ipt.code, 0) << ipt.err;
    const CmdResult ip6t =
        inNs(a_, {"ip6tables", "-A", "INPUT", "-s", "2001:db8:ffff::1/128", "-j", "ACCEPT"});
    ASSERT_EQ(ip6t.code, 0) << ip6t.err;
  }

  absl::StatusOr<FirewallReport> apply(Firewall& fw, const ContainmentState& state) {
    return inNetns(a_, [&] { return fw.apply(state); });
  }
  absl::Status verify(Firewall& fw, const ContainmentState& state) {
    return inNetns(a_, [&] { return fw.verify(state); });
  }

  std::string a_, b_;
  std::vector<std::unique_ptr<Fd>> sockets_;
};

IpPrefix prefix(const std::string& text) { return *IpPrefix::parse(text); }

std::unique_ptr<Firewall> backendNamed(const std::string& name) {
  return name == "nftables" ? makeNftablesFirewall() : makeIptablesFirewall();
}

class BackendNsTest : public FirewallNsTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(BackendNsTest, IsolationLetsOnlyControllerAndAllowEntriesThrough) {
  addPreexistingRules();
  const std::string keepme_before = nftList(a_, "keepme");
  const std::string ipt_before = saved(a_, "iptables-save");
  const std::string ip6t_before = saved(a_, "ip6tables-save");

  std::uint16_t a_port = 0, a_allow_port = 0, ctl_port = 0, b_other_port = 0;
  hold(listenAll(a_, &a_port));
  hold(listenAll(a_, &a_allow_port));
  hold(listenAll(b_, &ctl_port));
  hold(listenAll(b_, &b_other_port));

  ASSERT_TRUE(pings(b_, kA4));
  ASSERT_TRUE(pings(b_, kA6));
  ASSERT_TRUE(tcpConnects(b_, kA4, a_port));
  ASSERT_TRUE(tcpConnects(b_, kA6, a_port));

  ContainmentState state;
  IsolationPolicy iso;
  iso.controller_addresses = {prefix(kB4), prefix(kB6)};
  iso.controller_port = ctl_port;
  iso.allow = {*AllowEntry::parse(kResponder4),
               *AllowEntry::parse(absl::StrCat("[", kResponder6, "]:", a_allow_port))};
  state.isolation = iso;

  auto fw = backendNamed(GetParam());
  auto report = apply(*fw, state);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->backend, GetParam());
  EXPECT_EQ(report->prior_digest.size(), 64u);
  EXPECT_EQ(report->installed_digest.size(), 64u);
  if (GetParam() == "nftables") {
    EXPECT_EQ(report->applied, buildNftScript(state));
  }
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);

  // Nothing gets in or out...
  EXPECT_FALSE(pings(b_, kA4)) << "ping B->A v4 should be dropped";
  EXPECT_FALSE(pings(b_, kA6)) << "ping B->A v6 should be dropped";
  EXPECT_FALSE(pings(a_, kB4)) << "ping A->B v4 should be dropped";
  EXPECT_FALSE(pings(a_, kB6)) << "ping A->B v6 should be dropped";
  EXPECT_FALSE(tcpConnects(b_, kA4, a_port));
  EXPECT_FALSE(tcpConnects(b_, kA6, a_port));
  EXPECT_FALSE(tcpConnects(a_, kB4, b_other_port)) << "only the controller port is open";
  EXPECT_FALSE(tcpConnects(a_, kB6, b_other_port)) << "only the controller port is open";
  // ...except the controller...
  EXPECT_TRUE(tcpConnects(a_, kB4, ctl_port));
  EXPECT_TRUE(tcpConnects(a_, kB6, ctl_port));
  EXPECT_FALSE(tcpConnects(b_, kA4, a_port, kB4)) << "the controller address gets no more";
  // ...and the allow entries: 198.18.0.3 entirely, [2001:db8::3] only on a_allow_port.
  EXPECT_TRUE(pings(b_, kA4, kResponder4));
  EXPECT_TRUE(tcpConnects(b_, kA4, a_port, kResponder4));
  EXPECT_TRUE(tcpConnects(a_, kResponder4, b_other_port));
  EXPECT_TRUE(tcpConnects(b_, kA6, a_allow_port, kResponder6));
  EXPECT_FALSE(tcpConnects(b_, kA6, a_port, kResponder6)) << "allow entry is port-scoped";
  EXPECT_FALSE(pings(b_, kA6, kResponder6)) << "allow entry with a port admits TCP/UDP only";
  EXPECT_FALSE(tcpConnects(b_, kA4, a_allow_port, kB4)) << "allow entry is address-scoped";

  EXPECT_EQ(nftList(a_, "keepme"), keepme_before);

  // Re-applying the same state in place keeps everything as it was.
  auto again = apply(*fw, state);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->installed_digest, report->installed_digest);

  auto cleared = apply(*fw, ContainmentState{});
  ASSERT_TRUE(cleared.ok()) << cleared.status();
  EXPECT_TRUE(verify(*fw, ContainmentState{}).ok());
  EXPECT_FALSE(wardenTablePresent(a_));
  EXPECT_EQ(nftList(a_, "keepme"), keepme_before);
  EXPECT_EQ(saved(a_, "iptables-save"), ipt_before);
  EXPECT_EQ(saved(a_, "ip6tables-save"), ip6t_before);
  EXPECT_TRUE(pings(b_, kA4));
  EXPECT_TRUE(pings(b_, kA6));
  EXPECT_TRUE(tcpConnects(b_, kA4, a_port));
  EXPECT_TRUE(tcpConnects(b_, kA6, a_port));

  // Clearing twice is harmless.
  EXPECT_TRUE(apply(*fw, ContainmentState{}).ok());
}

TEST_P(BackendNsTest, BlockedPrefixesAreDroppedWithoutIsolation) {
  std::uint16_t a_port = 0;
  hold(listenAll(a_, &a_port));
  ContainmentState state;
  state.blocked = {prefix(kResponder4), prefix(kResponder6)};
  auto fw = backendNamed(GetParam());
  auto report = apply(*fw, state);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);

  EXPECT_TRUE(pings(b_, kA4, kB4));
  EXPECT_TRUE(pings(b_, kA6, kB6));
  EXPECT_TRUE(tcpConnects(b_, kA4, a_port, kB4));
  EXPECT_FALSE(pings(b_, kA4, kResponder4));
  EXPECT_FALSE(pings(b_, kA6, kResponder6));
  EXPECT_FALSE(tcpConnects(b_, kA4, a_port, kResponder4));
  EXPECT_FALSE(tcpConnects(b_, kA6, a_port, kResponder6));
  EXPECT_FALSE(tcpConnects(a_, kResponder4, a_port)) << "blocked as destination too";

  ASSERT_TRUE(apply(*fw, ContainmentState{}).ok());
  EXPECT_TRUE(pings(b_, kA4, kResponder4));
  EXPECT_TRUE(pings(b_, kA6, kResponder6));
}

INSTANTIATE_TEST_SUITE_P(Backends, BackendNsTest, ::testing::Values("nftables", "iptables"),
                         [](const auto& info) { return info.param; });

ContainmentState isolatedTo(std::uint16_t port) {
  ContainmentState state;
  IsolationPolicy iso;
  iso.controller_addresses = {prefix(kB4), prefix(kB6)};
  iso.controller_port = port;
  state.isolation = iso;
  return state;
}

TEST_F(FirewallNsTest, NftablesTamperingIsSeenAndRepaired) {
  const ContainmentState state = isolatedTo(7443);
  auto fw = makeNftablesFirewall();
  std::uint16_t udp_port = 0;
  const Fd& sink = hold(udpSink(a_, &udp_port));
  auto watch = inNetns(a_, [] { return makeNetfilterWatch(); });
  ASSERT_TRUE(watch.ok()) << watch.status();

  ASSERT_TRUE(apply(*fw, state).ok());
  // apply() itself is a change; drain it, then all is quiet.
  auto changed = (*watch)->waitForChange(absl::Seconds(2));
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  changed = (*watch)->waitForChange(absl::Milliseconds(200));
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);

  // Deleting the table: the watch wakes up and verify() notices.
  ASSERT_EQ(inNs(a_, {"nft", "delete", "table", "inet", "warden"}).code, 0);
  changed = (*watch)->waitForChange(absl::Seconds(5));
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_FALSE(verify(*fw, state).ok());
  EXPECT_TRUE(udpArrives(b_, kA4, udp_port, sink)) << "the table is really gone";

  ASSERT_TRUE(apply(*fw, state).ok());
  EXPECT_TRUE(verify(*fw, state).ok());
  EXPECT_FALSE(udpArrives(b_, kA4, udp_port, sink));

  // An extra rule, and a rule rewritten in place under its old comment.
  ASSERT_EQ(inNs(a_, {"nft", "insert", "rule", "inet", "warden", "input", "accept"}).code, 0);
  EXPECT_FALSE(verify(*fw, state).ok());
  ASSERT_TRUE(apply(*fw, state).ok());
  const CmdResult listing = inNs(a_, {"nft", "-a", "list", "chain", "inet", "warden", "input"});
  std::string handle;
  for (absl::string_view line : absl::StrSplit(listing.out, '\n')) {
    if (absl::StrContains(line, "\"warden:lo-in\"")) {
      handle = std::string(line.substr(line.rfind(' ') + 1));
    }
  }
  ASSERT_FALSE(handle.empty()) << listing.out;
  const CmdResult replaced = inNs(a_, {"nft", "-f", "-"},
                                  absl::StrCat("replace rule inet warden input handle ", handle,
                                               " accept comment \"warden:lo-in\"\n"));
  ASSERT_EQ(replaced.code, 0) << replaced.err;
  const absl::Status st = verify(*fw, state);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "modified")) << st;
  EXPECT_TRUE(udpArrives(b_, kA6, udp_port, sink)) << "the rewritten rule lets everything in";

  // An element added to a block set.
  ASSERT_TRUE(apply(*fw, state).ok());
  ASSERT_EQ(
      inNs(a_, {"nft", "add", "element", "inet", "warden", "blocked4", "{ 198.19.1.1 }"}).code, 0);
  EXPECT_FALSE(verify(*fw, state).ok());
  EXPECT_TRUE(apply(*fw, ContainmentState{}).ok());
}

TEST_F(FirewallNsTest, IptablesTamperingIsSeenAndRepaired) {
  const ContainmentState state = isolatedTo(7443);
  auto fw = makeIptablesFirewall();
  std::uint16_t udp_port = 0;
  const Fd& sink = hold(udpSink(a_, &udp_port));
  ASSERT_TRUE(apply(*fw, state).ok());
  ASSERT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);
  EXPECT_FALSE(udpArrives(b_, kA4, udp_port, sink));

  // Jump removed.
  ASSERT_EQ(inNs(a_, {"iptables", "-D", "INPUT", "-j", "WARDEN-INPUT"}).code, 0);
  EXPECT_FALSE(verify(*fw, state).ok());
  EXPECT_TRUE(udpArrives(b_, kA4, udp_port, sink)) << "the jump is really gone";
  ASSERT_TRUE(apply(*fw, state).ok());
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);
  EXPECT_FALSE(udpArrives(b_, kA4, udp_port, sink));

  // Someone else's ACCEPT put in front of the jump: repaired, their rule kept behind ours.
  ASSERT_EQ(inNs(a_, {"ip6tables", "-I", "INPUT", "1", "-j", "ACCEPT"}).code, 0);
  EXPECT_TRUE(udpArrives(b_, kA6, udp_port, sink)) << "the ACCEPT really comes first";
  const absl::Status st = verify(*fw, state);
  EXPECT_FALSE(st.ok());
  EXPECT_TRUE(absl::StrContains(st.message(), "first rule")) << st;
  ASSERT_TRUE(apply(*fw, state).ok());
  EXPECT_TRUE(verify(*fw, state).ok()) << verify(*fw, state);
  const std::string ip6t = saved(a_, "ip6tables-save");
  EXPECT_TRUE(absl::StrContains(ip6t, "-A INPUT -j WARDEN-INPUT\n-A INPUT -j ACCEPT\n")) << ip6t;
  EXPECT_FALSE(udpArrives(b_, kA6, udp_port, sink));

  // A rule of ours rewritten.
  ASSERT_EQ(inNs(a_, {"iptables", "-R", "WARDEN-INPUT", "1", "-j", "ACCEPT"}).code, 0);
  EXPECT_FALSE(verify(*fw, state).ok());

  // Clearing also works from a damaged state.
  ASSERT_TRUE(apply(*fw, ContainmentState{}).ok());
  EXPECT_TRUE(verify(*fw, ContainmentState{}).ok());
  EXPECT_FALSE(absl::StrContains(saved(a_, "iptables-save"), "WARDEN"));
  EXPECT_FALSE(absl::StrContains(saved(a_, "ip6tables-save"), "WARDEN"));
  EXPECT_TRUE(absl::StrContains(saved(a_, "ip6tables-save"), "-A INPUT -j ACCEPT"));
}

TEST_F(FirewallNsTest, ConntrackFlushDeletesAllButAllowedFlows) {
  addPreexistingRules();  // keepme's ct rule turns connection tracking on in A
  std::uint16_t a_port = 0, ctl_port = 0, lo_port = 0;
  hold(listenAll(a_, &a_port));
  hold(listenAll(b_, &ctl_port));
  hold(listenAll(a_, &lo_port));
  ASSERT_TRUE(tcpConnects(b_, kA4, a_port, "", &hold(Fd())));
  ASSERT_TRUE(tcpConnects(b_, kA6, a_port, "", &hold(Fd())));
  ASSERT_TRUE(tcpConnects(a_, kB4, ctl_port, "", &hold(Fd())));
  ASSERT_TRUE(tcpConnects(a_, "127.0.0.1", lo_port, "", &hold(Fd())));
  ASSERT_EQ(conntrackLines(a_, a_port), 2) << "the attacker's flows are tracked";
  ASSERT_EQ(conntrackLines(a_, ctl_port), 1);
  ASSERT_EQ(conntrackLines(a_, lo_port), 1);

  const ContainmentState state = isolatedTo(ctl_port);
  auto fw = makeNftablesFirewall();
  ASSERT_TRUE(apply(*fw, state).ok());
  auto tracker = makeConnectionTracker();
  auto deleted = inNetns(a_, [&] { return tracker->flushExcept(*state.isolation); });
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_GE(*deleted, 2);
  EXPECT_EQ(conntrackLines(a_, a_port), 0) << "the attacker's flows are gone";
  EXPECT_EQ(conntrackLines(a_, ctl_port), 1) << "the controller flow is kept";
  EXPECT_EQ(conntrackLines(a_, lo_port), 1) << "loopback is kept";

  // Nothing tracked in B at all: zero, not an error.
  auto none = inNetns(b_, [&] { return tracker->flushExcept(*state.isolation); });
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0);
  EXPECT_TRUE(apply(*fw, ContainmentState{}).ok());
}

TEST_F(FirewallNsTest, FactoryPicksABackend) {
  auto fw = inNetns(a_, [] { return makeFirewall("auto"); });
  ASSERT_TRUE(fw.ok()) << fw.status();
  EXPECT_EQ((*fw)->backend(), "nftables");
  auto ipt = makeFirewall("iptables");
  ASSERT_TRUE(ipt.ok());
  EXPECT_EQ((*ipt)->backend(), "iptables");
  EXPECT_EQ(makeFirewall("pf").status().code(), absl::StatusCode::kInvalidArgument);
  auto digest = inNetns(a_, [&] { return (*fw)->rulesetDigest(); });
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->size(), 64u);
}

}  // namespace
}  // namespace warden::linux_os
