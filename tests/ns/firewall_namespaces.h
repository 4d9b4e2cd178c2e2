// Two network namespaces joined by a veth pair, for the packet-filter backend tests:
//
//   A (the host under containment)            B (controller, responder, attacker)
//   wfw0 198.18.0.1/24  2001:db8::1/64  <-->  wfw1 198.18.0.2, .3/24  2001:db8::2, ::3/64
//
// The backends run in threads that setns(2) into A (a network namespace is per thread, and
// the netlink sockets and child processes they open inherit it). Reachability is proven with
// real packets: ping(8) and TCP connections and UDP datagrams from sockets created inside the
// namespaces. The host's own firewall is never touched.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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
#include "absl/time/time.h"
#include "agent/os/firewall.h"
#include "agent/os/linux/firewall_linux.h"
#include "common/unique_fd.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/process.h"

// Skips the test, or fails it under WARDEN_REQUIRE_PRIVILEGED=1.
#define SKIP_OR_FAIL(reason)                                  \
  do {                                                        \
    if (privilegesRequired()) {                               \
      FAIL() << (reason) << " (WARDEN_REQUIRE_PRIVILEGED=1)"; \
    } else {                                                  \
      GTEST_SKIP() << (reason);                               \
    }                                                         \
  } while (0)

namespace warden::testing {

// The test bodies' name for a socket they hold.
using Fd = UniqueFd;

struct CmdResult {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs argv (no shell) with `input` on stdin; killed after 20 s. A command that cannot be started
// or does not finish in time has code -1 and the reason in err.
inline CmdResult runCmd(const std::vector<std::string>& argv, const std::string& input = "") {
  absl::StatusOr<RunResult> r = run(argv, absl::Seconds(20), input);
  if (!r.ok()) return CmdResult{-1, "", r.status().ToString()};
  return CmdResult{r->exit_code, std::move(r->out), std::move(r->err)};
}

inline CmdResult inNs(const std::string& ns, std::vector<std::string> argv,
                      const std::string& input = "") {
  argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
  return runCmd(argv, input);
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

inline bool toSockaddr(const std::string& ip, std::uint16_t port, sockaddr_storage* ss,
                       socklen_t* len) {
  return parseAddress(ip, port, ss, len).ok();
}

// A dual-stack TCP listener on every address of `ns`, port chosen by the kernel. Connections
// complete in the backlog without accept(2).
inline Fd listenAll(const std::string& ns, std::uint16_t* port) {
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
inline bool tcpConnects(const std::string& ns, const std::string& dst, std::uint16_t port,
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

inline bool pings(const std::string& ns, const std::string& dst, const std::string& src = "") {
  std::vector<std::string> argv = {"ping", "-n", "-q", "-c1", "-W1"};
  if (!src.empty()) argv.insert(argv.end(), {"-I", src});
  argv.push_back(dst);
  return inNs(ns, argv).code == 0;
}

// A UDP socket on every address of `ns` (dual-stack), port chosen by the kernel.
inline Fd udpSink(const std::string& ns, std::uint16_t* port) {
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
inline bool udpArrives(const std::string& from, const std::string& dst, std::uint16_t port,
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
inline std::string saved(const std::string& ns, const std::string& tool) {
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

inline std::string nftList(const std::string& ns, const std::string& what) {
  const CmdResult r = inNs(ns, {"nft", "list", "table", "inet", what});
  return absl::StrCat("rc=", r.code, "\n", r.out);
}

inline bool wardenTablePresent(const std::string& ns) {
  return absl::StrContains(inNs(ns, {"nft", "list", "tables"}).out, "table inet warden");
}

inline int conntrackLines(const std::string& ns, std::uint16_t dport) {
  const CmdResult r = inNs(ns, {"conntrack", "-L", "-p", "tcp", "--dport", std::to_string(dport)});
  int n = 0;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    if (absl::StrContains(line, "dport=")) ++n;
  }
  return n;
}

inline constexpr char kA4[] = "198.18.0.1";
inline constexpr char kA6[] = "2001:db8::1";
inline constexpr char kB4[] = "198.18.0.2";
inline constexpr char kB6[] = "2001:db8::2";
inline constexpr char kResponder4[] = "198.18.0.3";
inline constexpr char kResponder6[] = "2001:db8::3";

// Someone else's objects that must survive everything Warden does. The ct rule also makes
// the kernel track connections in A (conntrack only runs in a namespace that uses it).
inline constexpr char kKeepmeTable[] =
    "table inet keepme {\n"
    "  chain c {\n"
    "    type filter hook input priority 0; policy accept;\n"
    "    ct state established,related accept comment \"not warden's\"\n"
    "  }\n"
    "}\n";

inline std::atomic<int> ns_counter{0};

class FirewallNsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) SKIP_OR_FAIL("needs root to create network namespaces");
    for (const char* tool : {"ip", "nft", "ping", "iptables-save", "conntrack"}) {
      if (runCmd({"sh", "-c", absl::StrCat("command -v ", tool)}).code != 0) {
        SKIP_OR_FAIL(absl::StrCat(tool, " is not installed"));
      }
    }
    const std::string base = absl::StrCat("wfw-", getpid(), "-", ns_counter++);
    a_ = base + "-a";
    b_ = base + "-b";
    if (CmdResult r = runCmd({"ip", "netns", "add", a_}); r.code != 0) {
      a_.clear();
      SKIP_OR_FAIL("cannot create network namespaces: " + r.err);
    }
    if (CmdResult r = runCmd({"ip", "netns", "add", b_}); r.code != 0) {
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
      const CmdResult r = runCmd(cmd);
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
      if (!ns.empty()) runCmd({"ip", "netns", "del", ns});
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

inline IpPrefix prefix(const std::string& text) { return *IpPrefix::parse(text); }

inline ContainmentState isolatedTo(std::uint16_t port) {
  ContainmentState state;
  IsolationPolicy iso;
  iso.controller_addresses = {prefix(kB4), prefix(kB6)};
  iso.controller_port = port;
  state.isolation = iso;
  return state;
}

}  // namespace warden::testing
