#include "common/crypto/tls_bootstrap.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <memory>

#include "absl/strings/str_format.h"
#include "common/crypto/openssl.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden::crypto {
namespace {

// OpenSSL writes to the socket with plain write(2); if the server drops the connection mid-way
// that raises SIGPIPE, which would kill a process that has not ignored it. Block it on this thread
// for the duration and swallow any instance we caused.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;
    int saved_errno = errno;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        timespec zero{};
        while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    errno = saved_errno;
  }

 private:
  sigset_t pipe_;
  sigset_t old_;
  bool was_pending_ = false;
  bool blocked_ = false;
};

// Milliseconds left until `deadline` for poll(2): -1 for no deadline, 0 once it has passed.
int remainingMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), INT_MAX));
}

// Waits for `events` on fd; false once the deadline passes.
absl::StatusOr<bool> waitFd(int fd, short events, absl::Time deadline) {
  for (;;) {
    int ms = remainingMs(deadline);
    if (ms == 0) return false;
    pollfd pfd{fd, events, 0};
    int r = poll(&pfd, 1, ms);
    if (r > 0) return true;
    if (r == 0) continue;  // Re-check the clock: poll may round down.
    if (errno == EINTR) continue;
    return errnoStatus(errno, "poll failed");
  }
}

absl::StatusOr<UniqueFd> connectTcp(const std::string& host, std::uint16_t port,
                                    absl::Time deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* result = nullptr;
  std::string port_str = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &result);
  if (rc != 0) {
    int err = errno;
    std::string why = rc == EAI_SYSTEM ? absl::StrFormat("%s (errno %d)", std::strerror(err), err)
                                       : std::string(gai_strerror(rc));
    return absl::UnavailableError(absl::StrFormat("Failed to resolve %s: %s", host, why));
  }
  std::unique_ptr<addrinfo, Deleter<freeaddrinfo>> addrs(result);

  absl::Status last = absl::UnavailableError(absl::StrFormat("No addresses for %s", host));
  for (addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(
        socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd.get() < 0) {
      last = errnoStatus(errno, "Failed to create socket");
      continue;
    }
    std::string where = absl::StrFormat("Failed to connect to %s port %d", host, port);
    if (connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        last = errnoStatus(errno, where);
        continue;
      }
      auto ready = waitFd(fd.get(), POLLOUT, deadline);
      if (!ready.ok()) return ready.status();
      if (!*ready) {
        return absl::DeadlineExceededError(absl::StrFormat("%s: timed out", where));
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0) {
        last = errnoStatus(err, where);
        continue;
      }
    }
    return fd;
  }
  return last;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> fetchPeerChain(std::string_view host, std::uint16_t port,
                                                        absl::Duration timeout) {
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("Timeout must be positive");
  }
  std::string host_str(host);
  if (host_str.size() >= 2 && host_str.front() == '[' && host_str.back() == ']') {
    host_str = host_str.substr(1, host_str.size() - 2);
  }
  // One deadline for connect and handshake together. The handshake is driven non-blocking
  // through poll() so a server that trickles bytes cannot stretch it beyond the timeout (per-call
  // SO_RCVTIMEO would restart with every byte).
  absl::Time deadline = absl::Now() + timeout;
  ScopedSigpipeBlock no_sigpipe;

  WARDEN_ASSIGN_OR_RETURN(UniqueFd fd, connectTcp(host_str, port, deadline));
  std::string where = absl::StrFormat("TLS handshake with %s port %d", host_str, port);

  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return sslError(absl::StatusCode::kInternal, "Failed to create TLS context");
  // Nothing is verified here on purpose: the caller pins the CA fingerprint from the join token.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1) {
    return sslError(absl::StatusCode::kInternal, "Failed to require TLS 1.3");
  }
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl) return sslError(absl::StatusCode::kInternal, "Failed to create TLS session");
  // The controller is a gRPC server, which drops connections that do not negotiate HTTP/2.
  static constexpr unsigned char kAlpn[] = {2, 'h', '2'};
  if (SSL_set_fd(ssl.get(), fd.get()) != 1 ||
      SSL_set_tlsext_host_name(ssl.get(), "warden-controller") != 1 ||
      SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof kAlpn) != 0) {
    return sslError(absl::StatusCode::kInternal, "Failed to configure TLS session");
  }

  // No client certificate is configured: the controller asks for one but does not insist, and
  // OpenSSL then answers with an empty Certificate message.
  for (;;) {
    int rc = SSL_connect(ssl.get());
    if (rc == 1) break;
    int saved_errno = errno;
    int err = SSL_get_error(ssl.get(), rc);
    short events = 0;
    if (err == SSL_ERROR_WANT_READ) {
      events = POLLIN;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      events = POLLOUT;
    } else if (err == SSL_ERROR_SYSCALL) {
      std::string detail = opensslErrors();
      if (saved_errno != 0) {
        return errnoStatus(saved_errno, where);
      }
      return absl::UnavailableError(
          absl::StrFormat("%s: connection closed by peer (%s)", where, detail));
    } else if (err == SSL_ERROR_ZERO_RETURN) {
      return absl::UnavailableError(absl::StrFormat("%s: connection closed by peer", where));
    } else {
      return sslError(absl::StatusCode::kUnavailable, absl::StrFormat("%s failed", where));
    }
    auto ready = waitFd(fd.get(), events, deadline);
    if (!ready.ok()) return ready.status();
    if (!*ready) return absl::DeadlineExceededError(absl::StrFormat("%s: timed out", where));
  }

  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());
  std::vector<std::string> out;
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    auto pem = certToPem(sk_X509_value(chain, i));
    if (!pem.ok()) return pem.status();
    out.push_back(*std::move(pem));
  }
  // Best-effort close_notify; we do not wait for the server's reply.
  SSL_shutdown(ssl.get());
  ERR_clear_error();
  if (out.empty()) {
    return absl::UnavailableError(absl::StrFormat("%s: server sent no certificate", where));
  }
  return out;
}

}  // namespace warden::crypto
