// The probes of fleet.h: sockets made inside a test host, TCP connects and pings from one, and
// a TCP echo server and a held connection for "does an established flow still carry data".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "tests/support/fleet.h"

namespace warden::testing {
namespace {

constexpr int kMaxEchoClients = 64;

// Connects a non-blocking socket made in `from` to addr:port; on kConnected *fd_out owns it.
ConnectOutcome connectFrom(const TestHost& from, const std::string& addr, std::uint16_t port,
                           absl::Duration timeout, int* fd_out) {
  sockaddr_storage ss;
  socklen_t len = 0;
  if (!parseAddress(addr, port, &ss, &len).ok()) return ConnectOutcome::kError;
  absl::StatusOr<int> fd = socketInHost(from, ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK);
  if (!fd.ok()) return ConnectOutcome::kError;
  int err = 0;
  if (::connect(*fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    err = errno;
    if (err == EINPROGRESS) {
      err = ETIMEDOUT;
      struct pollfd p {
        *fd, POLLOUT, 0
      };
      const absl::Time deadline = absl::Now() + timeout;
      for (int i = 0; i < 100000; ++i) {
        const absl::Duration left = deadline - absl::Now();
        const int ms = left <= absl::ZeroDuration()
                           ? 0
                           : static_cast<int>(absl::ToInt64Milliseconds(left) + 1);
        const int r = ::poll(&p, 1, ms);
        if (r > 0) {
          socklen_t elen = sizeof(err);
          if (::getsockopt(*fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) err = errno;
          break;
        }
        if ((r < 0 && errno != EINTR) || absl::Now() >= deadline) break;
      }
    }
  }
  if (err != 0) {
    ::close(*fd);
    switch (err) {
      case ECONNREFUSED:
        return ConnectOutcome::kRefused;
      case ETIMEDOUT:
        return ConnectOutcome::kTimedOut;
      case EHOSTUNREACH:
      case ENETUNREACH:
      case EACCES:
      case EPERM:
        return ConnectOutcome::kUnreachable;
      default:
        return ConnectOutcome::kError;
    }
  }
  *fd_out = *fd;
  return ConnectOutcome::kConnected;
}

}  // namespace

absl::Status parseAddress(const std::string& addr, std::uint16_t port, sockaddr_storage* ss,
                          socklen_t* len) {
  *ss = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (::inet_pton(AF_INET, addr.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return absl::OkStatus();
  }
  if (::inet_pton(AF_INET6, addr.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("not an IP address: ", addr));
}

// ---- probes -------------------------------------------------------------------------------

absl::StatusOr<int> socketInHost(const TestHost& host, int domain, int type, int protocol) {
  int fd = -1;
  int err = 0;
  const char* step = "";
  const std::string path = host.netnsPath();
  try {
    // setns(2) changes only the calling thread's network namespace; the socket keeps the
    // namespace it was made in.
    std::thread maker([&] {
      const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0) {
        err = errno;
        step = "open the network namespace";
        return;
      }
      if (::setns(ns, CLONE_NEWNET) < 0) {
        err = errno;
        step = "setns(network)";
      } else {
        fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
        if (fd < 0) {
          err = errno;
          step = "create a socket";
        }
      }
      ::close(ns);
    });
    maker.join();
  } catch (const std::system_error& e) {
    return absl::InternalError(absl::StrCat("Failed to start a thread: ", e.what()));
  }
  if (fd < 0) return errnoStatus(err, absl::StrCat("Failed to ", step, " in ", host.name()));
  return fd;
}

const char* toString(ConnectOutcome outcome) {
  switch (outcome) {
    case ConnectOutcome::kConnected:
      return "connected";
    case ConnectOutcome::kRefused:
      return "refused";
    case ConnectOutcome::kTimedOut:
      return "timed out";
    case ConnectOutcome::kUnreachable:
      return "unreachable";
    case ConnectOutcome::kError:
      break;
  }
  return "error";
}

ConnectOutcome tcpProbe(const TestHost& from, const std::string& addr, std::uint16_t port,
                        absl::Duration timeout) {
  int fd = -1;
  const ConnectOutcome outcome = connectFrom(from, addr, port, timeout, &fd);
  if (fd >= 0) ::close(fd);
  return outcome;
}

bool tcpConnect(const TestHost& from, const std::string& addr, std::uint16_t port,
                absl::Duration timeout) {
  return tcpProbe(from, addr, port, timeout) == ConnectOutcome::kConnected;
}

bool ping(const TestHost& from, const std::string& addr, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const int attempts = std::max<int>(1, static_cast<int>(absl::ToInt64Seconds(timeout)) + 1);
  for (int i = 0; i < attempts; ++i) {
    absl::StatusOr<RunResult> r =
        from.exec({"ping", "-n", "-q", "-c1", "-W1", addr}, absl::Seconds(5));
    if (r.ok() && r->exit_code == 0) return true;
    if (!r.ok() || absl::Now() + absl::Seconds(1) > deadline) return false;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<TcpEchoServer>> TcpEchoServer::start(const TestHost& host,
                                                                    const std::string& addr,
                                                                    std::uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (addr.empty()) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_any;
    v6->sin6_port = htons(port);
    len = sizeof(sockaddr_in6);
  } else {
    absl::Status s = parseAddress(addr, port, &ss, &len);
    if (!s.ok()) return s;
  }
  absl::StatusOr<int> fd = socketInHost(host, ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<TcpEchoServer> server(new TcpEchoServer());
  server->listen_fd_ = *fd;
  const int on = 1;
  const int off = 0;
  ::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (addr.empty()) ::setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  if (::bind(*fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    return errnoStatus(errno,
                       absl::StrCat("Failed to bind [", addr, "]:", port, " in ", host.name()));
  }
  if (::listen(*fd, kMaxEchoClients) < 0) return errnoStatus(errno, "Failed to listen");
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  if (::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) < 0) {
    return errnoStatus(errno, "Failed to getsockname");
  }
  server->port_ =
      ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                       : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  server->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (server->wake_fd_ < 0) return errnoStatus(errno, "Failed to eventfd");
  try {
    server->thread_ = std::thread([s = server.get()] { s->serve(); });
  } catch (const std::system_error& e) {
    return absl::InternalError(absl::StrCat("Failed to start a thread: ", e.what()));
  }
  return server;
}

TcpEchoServer::~TcpEchoServer() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void TcpEchoServer::serve() {
  std::vector<int> clients;
  char buf[16384];
  // Ends when the destructor wakes it; the bound only guards against a runaway loop.
  for (long round = 0; round < (1L << 40) && !stop_; ++round) {
    std::vector<pollfd> fds = {{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (int c : clients) fds.push_back({c, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
    if (fds[0].revents != 0) break;
    std::vector<int> keep;
    for (std::size_t i = 2; i < fds.size(); ++i) {
      const int c = fds[i].fd;
      if (fds[i].revents == 0) {
        keep.push_back(c);
        continue;
      }
      const ssize_t n = ::read(c, buf, sizeof(buf));
      if (n > 0) {
        // Best effort: echo lines are small, so the send buffer has room.
        [[maybe_unused]] ssize_t sent = ::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
        keep.push_back(c);
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        keep.push_back(c);
      } else {
        ::close(c);
      }
    }
    if (fds[1].revents != 0) {
      const int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) {
        ++accepted_;
        if (keep.size() < kMaxEchoClients) {
          keep.push_back(c);
        } else {
          ::close(c);
        }
      }
    }
    clients = std::move(keep);
  }
  for (int c : clients) ::close(c);
}

absl::StatusOr<std::unique_ptr<TcpConnection>> TcpConnection::open(const TestHost& from,
                                                                   const std::string& addr,
                                                                   std::uint16_t port,
                                                                   absl::Duration timeout) {
  int fd = -1;
  const ConnectOutcome outcome = connectFrom(from, addr, port, timeout, &fd);
  if (outcome != ConnectOutcome::kConnected) {
    return absl::UnavailableError(absl::StrCat("TCP connect from ", from.name(), " to [", addr,
                                               "]:", port, ": ", toString(outcome)));
  }
  std::unique_ptr<TcpConnection> c(new TcpConnection());
  c->fd_ = fd;
  return c;
}

TcpConnection::~TcpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool TcpConnection::echoes(const std::string& line, absl::Duration timeout) {
  const std::string wanted = line + "\n";
  if (::send(fd_, wanted.data(), wanted.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
      static_cast<ssize_t>(wanted.size())) {
    return false;
  }
  const absl::Time deadline = absl::Now() + timeout;
  char buf[16384];
  for (int i = 0; i < 100000; ++i) {
    const std::size_t at = received_.find(wanted);
    if (at != std::string::npos) {
      received_.erase(0, at + wanted.size());
      return true;
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    struct pollfd p {
      fd_, POLLIN, 0
    };
    const int r = ::poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left) + 1));
    if (r < 0 && errno != EINTR) return false;
    if (r <= 0) continue;
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      received_.append(buf, static_cast<std::size_t>(n));
      if (received_.size() > kMaxCapturedOutput) received_.erase(0, received_.size() / 2);
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      return false;  // closed or reset
    }
  }
  return false;
}

}  // namespace warden::testing
