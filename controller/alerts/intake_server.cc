// The listener: TLS context, the bound socket, the accept loop with its connection bound, the
// threads, stop(). What a connection does is intake_connection.cc's.
#include "controller/alerts/intake_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "controller/alerts/intake_connection.h"

namespace warden {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using beast::error_code;
using intake::IntakeConnection;
using intake::IntakeShared;

// After a failed accept (EMFILE, ENFILE, ENOBUFS) the listening socket stays readable: wait
// this long before the next accept rather than spin.
constexpr std::chrono::milliseconds kAcceptRetry{100};

// Sent as the TLS session id context; OpenSSL refuses to resume a session that verified a
// client certificate without one.
constexpr std::string_view kSessionIdContext = "warden-alert-intake";

// "ADDR:PORT" or "[V6ADDR]:PORT", port 0 allowed (common/net.h HostPort refuses it, and takes
// host names, which a listener cannot bind).
absl::StatusOr<tcp::endpoint> parseListenAddress(std::string_view text) {
  std::string_view host;
  std::string_view port;
  const bool bracketed = !text.empty() && text.front() == '[';
  if (bracketed) {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid alert intake address '", std::string(text), "' (expected [IPv6]:PORT)"));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return absl::InvalidArgumentError(absl::StrCat("invalid alert intake address '",
                                                     std::string(text),
                                                     "' (expected IPv4:PORT or [IPv6]:PORT)"));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  std::uint32_t port_number = 0;
  for (char c : port) port_number = port_number * 10 + static_cast<std::uint32_t>(c - '0');
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
      port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("invalid port in alert intake address '",
                                                   std::string(text), "' (expected 0-65535)"));
  }
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(std::string(host), ec);
  if (ec || address.is_v6() != bracketed) {
    return absl::InvalidArgumentError(absl::StrCat("invalid alert intake address '",
                                                   std::string(text), "': '", std::string(host),
                                                   "' is not an IP address"));
  }
  return tcp::endpoint(address, static_cast<std::uint16_t>(port_number));
}

// Never prompt on the terminal for a key's passphrase (OpenSSL's default without a callback).
int noPassphrase(char*, int, int, void*) { return 0; }

absl::Status tlsError(std::string_view what, const error_code& ec) {
  return absl::InvalidArgumentError(
      absl::StrCat("Alert intake TLS: ", std::string(what), ": ", ec.message()));
}

absl::Status configureTls(IntakeShared& shared, const IntakeTls& tls) {
  asio::ssl::context& ctx = shared.tls;
  SSL_CTX* native = ctx.native_handle();
  // TLS 1.2 and 1.3 (Alertmanager's Go client speaks 1.3); no compression (CRIME), no
  // renegotiation; for 1.2 only forward-secret AEAD suites.
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1 ||
      SSL_CTX_set_session_id_context(
          native, reinterpret_cast<const unsigned char*>(kSessionIdContext.data()),
          static_cast<unsigned>(kSessionIdContext.size())) != 1) {
    ERR_clear_error();
    return absl::InternalError("Alert intake TLS: cannot configure the OpenSSL context");
  }
  SSL_CTX_set_options(
      native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_default_passwd_cb(native, noPassphrase);

  error_code ec;
  ctx.use_certificate_chain(asio::buffer(tls.cert_pem), ec);
  if (ec) return tlsError("bad certificate chain", ec);
  ctx.use_private_key(asio::buffer(tls.key_pem), asio::ssl::context::pem, ec);
  if (ec) return tlsError("bad private key", ec);
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "Alert intake TLS: the private key does not match the certificate");
  }
  if (tls.ca_pem.empty()) return absl::OkStatus();  // no client certificates asked for

  ctx.add_certificate_authority(asio::buffer(tls.ca_pem), ec);
  if (ec) return tlsError("bad CA certificate", ec);
  // Name the CA in the CertificateRequest, so a client holding several certificates picks one
  // it issued.
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(tls.ca_pem.data(), static_cast<int>(tls.ca_pem.size())), &BIO_free);
  if (bio == nullptr) return absl::ResourceExhaustedError("Alert intake TLS: out of memory");
  while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr)) {
    SSL_CTX_add_client_CA(native, ca);
    X509_free(ca);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  // A client certificate is optional (a sender may use a bearer token instead), but one that
  // is presented must verify: a bad one fails the handshake.
  ctx.set_verify_mode(asio::ssl::verify_peer, ec);
  if (ec) return tlsError("cannot ask for client certificates", ec);
  shared.client_certs = true;
  return absl::OkStatus();
}

class IntakeServerImpl final : public IntakeServer {
 public:
  IntakeServerImpl(AlertSink& sink, const IntakeLimits& limits) : shared_(sink, limits) {}
  ~IntakeServerImpl() override { stop(); }

  absl::Status configure(const IntakeTls& tls) { return configureTls(shared_, tls); }
  absl::Status bind(const std::string& listen);
  absl::Status run();
  std::uint16_t port() const override { return port_; }
  void stop() override;

 private:
  void accept();
  void onAccept(error_code ec, tcp::socket socket);
  void serve();

  // Members are destroyed in reverse: the io_context, and with it every connection a pending
  // handler still holds, goes before the state those connections point to.
  IntakeShared shared_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  asio::steady_timer accept_retry_{ioc_};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::mutex stop_mu_;
  bool stopped_ = false;
};

absl::Status IntakeServerImpl::bind(const std::string& listen) {
  auto endpoint = parseListenAddress(listen);
  if (!endpoint.ok()) return endpoint.status();
  error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  if (ec) return errnoStatus("open a socket for the alert intake at", listen, ec.value());
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return errnoStatus("set SO_REUSEADDR for the alert intake at", listen, ec.value());
  acceptor_.bind(*endpoint, ec);
  if (ec) return errnoStatus("bind the alert intake to", listen, ec.value());
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return errnoStatus("listen for alerts on", listen, ec.value());
  const tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) return errnoStatus("read the bound address of the alert intake at", listen, ec.value());
  port_ = bound.port();
  return absl::OkStatus();
}

absl::Status IntakeServerImpl::run() {
  work_.emplace(asio::make_work_guard(ioc_));
  accept();
  try {
    for (std::size_t i = 0; i < shared_.limits.threads; ++i)
      threads_.emplace_back([this] { serve(); });
  } catch (const std::system_error& e) {
    return errnoStatus(e.code().value(), "Failed to start the alert intake's threads");
  }
  return absl::OkStatus();
}

void IntakeServerImpl::serve() {
  for (;;) {
    try {
      ioc_.run();  // returns once stop() stops the io_context
      return;
    } catch (...) {
      // A handler threw (none should): keep serving the other connections.
    }
  }
}

void IntakeServerImpl::accept() {
  // Each connection gets its own strand: its handlers never run concurrently.
  acceptor_.async_accept(asio::make_strand(ioc_), [this](error_code ec, tcp::socket socket) {
    onAccept(ec, std::move(socket));
  });
}

void IntakeServerImpl::onAccept(error_code ec, tcp::socket socket) {
  if (shared_.stopping.load() || ec == asio::error::operation_aborted) return;
  if (ec) {
    accept_retry_.expires_after(kAcceptRetry);
    accept_retry_.async_wait([this](error_code wait_ec) {
      if (!wait_ec && !shared_.stopping.load()) accept();
    });
    return;
  }
  // Accept, then close at once past the bound: a full backlog would hold the peers in SYN
  // queues instead; a closed connection tells them now. Nothing is logged (a flood must not
  // flood the log).
  if (shared_.open.fetch_add(1, std::memory_order_acq_rel) >= shared_.limits.max_connections) {
    shared_.open.fetch_sub(1, std::memory_order_acq_rel);
    error_code ignored;
    socket.close(ignored);
  } else {
    std::shared_ptr<IntakeConnection> conn;
    try {
      conn = std::make_shared<IntakeConnection>(shared_, std::move(socket));
    } catch (const std::exception&) {
      shared_.open.fetch_sub(1, std::memory_order_acq_rel);  // never constructed: uncount here
    }
    if (conn != nullptr) {
      try {
        conn->start();
      } catch (const std::exception&) {
        // Dropped; its destructor uncounts it.
      }
    }
  }
  accept();
}

void IntakeServerImpl::stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  shared_.stopping.store(true);
  ioc_.stop();
  for (std::thread& t : threads_) t.join();
  // Calls in the sink finish (their answers go to the stopped io_context, never sent).
  shared_.workers.join();
  // No handler runs any more: close the listener and every connection. Their pending
  // operations stay queued, never run, until the io_context is destroyed, which frees them.
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  std::vector<std::shared_ptr<IntakeConnection>> open;
  {
    std::lock_guard<std::mutex> live_lock(shared_.mu);
    for (auto& [id, weak] : shared_.live) {
      if (auto conn = weak.lock()) open.push_back(std::move(conn));
    }
  }
  for (auto& conn : open) conn->closeNow();
}

}  // namespace

absl::StatusOr<std::unique_ptr<IntakeServer>> IntakeServer::start(const std::string& listen,
                                                                  const IntakeTls& tls,
                                                                  AlertSink& sink,
                                                                  const IntakeLimits& limits) {
  if (limits.threads == 0 || limits.sink_threads == 0 || limits.max_connections == 0 ||
      limits.read_timeout_ms == 0 || limits.idle_timeout_ms == 0 || limits.max_header_bytes == 0) {
    return absl::InvalidArgumentError(
        "Alert intake limits: threads, connections, timeouts and header size must be positive");
  }
  auto server = std::make_unique<IntakeServerImpl>(sink, limits);
  WARDEN_RETURN_IF_ERROR(server->configure(tls));
  WARDEN_RETURN_IF_ERROR(server->bind(listen));
  WARDEN_RETURN_IF_ERROR(server->run());
  return std::unique_ptr<IntakeServer>(std::move(server));
}

}  // namespace warden
