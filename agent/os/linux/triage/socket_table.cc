// commands/sockets.json: /proc/self/net/{tcp,tcp6,udp,udp6,raw,raw6,unix} of the agent's
// network namespace, each socket with the pids that hold a descriptor for it (the
// "socket:[INODE]" links in /proc/PID/fd).
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <unordered_map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/os/linux/procfs.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/linux/triage/json_fields.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr std::size_t kMaxSocketRows = 1 << 17;  // per table

using Owners = std::unordered_map<std::uint64_t, std::vector<pid_t>>;

// One row of /proc/net/{tcp,udp,raw,unix}[6].
struct SocketRow {
  std::string proto;
  std::string local;
  std::string remote;
  std::string state;
  std::string type;  // unix: stream, dgram, seqpacket
  std::string path;  // unix: bound path, "@..." abstract, "" unnamed
  std::int64_t uid = -1;
  int ip_protocol = -1;  // raw sockets: the protocol number in place of a port
  std::uint64_t inode = 0;
};

// "0100007F" (an __be32 printed as a host-order word) or 32 hex digits (four such words of an
// IPv6 address), see tcp4_seq_show() and tcp6_seq_show() in net/ipv4/tcp_ipv4.c.
std::string inetAddress(std::string_view hex, unsigned port, bool with_port) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (hex.size() == 8) {
    const std::uint32_t w =
        static_cast<std::uint32_t>(std::strtoul(std::string(hex).c_str(), nullptr, 16));
    in_addr a{};
    std::memcpy(&a, &w, 4);
    ::inet_ntop(AF_INET, &a, text, sizeof(text));
    return with_port ? absl::StrCat(text, ":", port) : std::string(text);
  }
  if (hex.size() == 32) {
    in6_addr a{};
    for (int i = 0; i < 4; ++i) {
      const std::uint32_t w = static_cast<std::uint32_t>(
          std::strtoul(std::string(hex.substr(8 * i, 8)).c_str(), nullptr, 16));
      std::memcpy(a.s6_addr + 4 * i, &w, 4);
    }
    ::inet_ntop(AF_INET6, &a, text, sizeof(text));
    return with_port ? absl::StrCat("[", text, "]:", port) : std::string(text);
  }
  return std::string(hex);
}

// include/net/tcp_states.h; datagram and raw sockets use the same numbers (ss(8) shows 7 as
// UNCONN for them).
std::string socketState(unsigned st, bool stream) {
  static constexpr const char* kNames[] = {
      "",      "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
      "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};
  if (!stream && st == 7) return "UNCONN";
  if (st > 0 && st < sizeof(kNames) / sizeof(kNames[0])) return kNames[st];
  return absl::StrFormat("0x%02X", st);
}

// Calls `fn` for each line of the open file, at most `max_lines` lines; false if it stopped
// there. Lines are read in pieces, so a large table never sits in memory whole.
bool forEachLine(int fd, std::size_t max_lines, const std::function<void(std::string_view)>& fn) {
  std::string pending;
  char buf[65536];
  std::size_t lines = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (lines++ >= max_lines) return false;
      fn(std::string_view(pending).substr(start, nl - start));
    }
    pending.erase(0, start);
    if (pending.size() > (1 << 20)) return false;  // no procfs line is this long
  }
  if (!pending.empty() && lines < max_lines) fn(pending);
  return true;
}

// Parses one line of /proc/net/<proto> (after the header) into `row`; false if it does not
// parse. Formats: tcp4_seq_show() in net/ipv4/tcp_ipv4.c (udp and raw alike), unix_seq_show()
// in net/unix/af_unix.c.
bool parseSocketLine(const std::string& proto, const std::string& line, SocketRow& row) {
  row.proto = proto;
  if (proto == "unix") {
    unsigned flags = 0, type = 0, st = 0;
    unsigned long long inode = 0;
    int used = 0;
    if (std::sscanf(line.c_str(), "%*[0-9a-fA-F]: %*x %*x %x %x %x %llu%n", &flags, &type, &st,
                    &inode, &used) < 4) {
      return false;
    }
    row.inode = inode;
    row.type = type == 1   ? "stream"
               : type == 2 ? "dgram"
               : type == 5 ? "seqpacket"
                           : std::to_string(type);
    row.state = (flags & 0x10000) != 0 ? "LISTEN"  // __SO_ACCEPTCON
                : st == 1              ? "UNCONNECTED"
                : st == 2              ? "CONNECTING"
                : st == 3              ? "CONNECTED"
                : st == 4              ? "DISCONNECTING"
                                       : std::to_string(st);
    const std::size_t at = std::min(line.size(), static_cast<std::size_t>(used));
    row.path = line.substr(at < line.size() && line[at] == ' ' ? at + 1 : at);
    return true;
  }
  char local[65] = {}, remote[65] = {};
  unsigned lport = 0, rport = 0, st = 0, uid = 0;
  unsigned long long inode = 0;
  if (std::sscanf(line.c_str(),
                  " %*u: %64[0-9A-Fa-f]:%x %64[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x %*x %u %*u %llu",
                  local, &lport, remote, &rport, &st, &uid, &inode) != 7) {
    return false;
  }
  const bool raw = absl::StartsWith(proto, "raw");
  row.local = inetAddress(local, lport, !raw);
  row.remote = inetAddress(remote, rport, !raw);
  if (raw) row.ip_protocol = static_cast<int>(lport);
  row.state = socketState(st, absl::StartsWith(proto, "tcp"));
  row.uid = uid;
  row.inode = inode;
  return true;
}

Json socketJson(const SocketRow& row, const Owners& owners) {
  Json r;
  r["proto"] = row.proto;
  if (row.proto == "unix") {
    r["type"] = row.type;
    putText(r, "path", row.path);
  } else {
    r["local"] = row.local;
    r["remote"] = row.remote;
    if (row.ip_protocol >= 0) r["ip_protocol"] = row.ip_protocol;
    r["uid"] = row.uid;
  }
  r["state"] = row.state;
  r["inode"] = row.inode;
  Json pids = Json::array();
  if (auto it = owners.find(row.inode); it != owners.end()) {
    for (pid_t pid : it->second) pids.push_back(pid);
  }
  r["pids"] = std::move(pids);
  return r;
}

// Calls `fn` for every row of the socket tables, at most kMaxSocketRows per table; false if
// a table had more. Tables that cannot be opened (other than missing, e.g. IPv6 disabled) go
// to `problems`.
bool forEachSocket(const std::function<void(const SocketRow&)>& fn,
                   std::vector<std::string>* problems) {
  bool complete = true;
  for (const char* table : {"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix"}) {
    const std::string path = absl::StrCat("/proc/self/net/", table);
    const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.ok()) {
      if (errno != ENOENT && problems != nullptr) {
        problems->emplace_back(errnoStatus(errno, absl::StrCat("open ", path)).message());
      }
      continue;
    }
    bool header = true;
    complete &= forEachLine(fd.get(), kMaxSocketRows + 1, [&](std::string_view line) {
      if (std::exchange(header, false)) return;
      SocketRow row;
      if (parseSocketLine(table, std::string(line), row)) fn(row);
    });
  }
  return complete;
}

}  // namespace

// The holders of each socket were read before (live_links.cc): a socket opened since has none
// listed.
absl::Status addSockets(Bundle& bundle, const LiveLinks& links) {
  std::vector<std::string> problems;
  if (!links.fds_complete) {
    bundle.noteLimit(
        "commands/sockets.json: past the bound on descriptors or sockets read, the holders of "
        "some sockets were not looked for");
  }
  const std::size_t before = bundle.memberCount();
  bool complete = true;
  WARDEN_RETURN_IF_ERROR(bundle.addJsonTable(
      "commands/sockets.json", "/proc/self/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}, /proc/PID/fd",
      "sockets", [&](const Bundle::AddRecord& add) {
        std::size_t all = 0;
        complete = forEachSocket(
            [&](const SocketRow& row) {
              ++all;
              add(socketJson(row, links.socket_holders));
            },
            &problems);
        return all;
      }));
  if (!complete) {
    bundle.noteLimit(absl::StrFormat(
        "commands/sockets.json: more than %d lines in a socket table, the rest were not read",
        kMaxSocketRows));
  }
  if (!problems.empty() && bundle.memberCount() > before) {
    TriageMember& table = bundle.member(bundle.memberCount() - 1);
    if (table.error.empty()) table.error = absl::StrJoin(problems, "; ");
  }
  return absl::OkStatus();
}

}  // namespace warden::triage
