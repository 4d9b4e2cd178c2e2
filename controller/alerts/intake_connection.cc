#include "controller/alerts/intake_connection.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <chrono>
#include <exception>
#include <string_view>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"

namespace warden::intake {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using beast::error_code;

// After a refused request, how long (at most; never longer than the read timeout) and how many
// bytes the rest of what the peer sends is read and dropped before the socket is closed.
constexpr std::chrono::milliseconds kMaxLinger{2000};
constexpr std::size_t kMaxLingerBytes = std::size_t{64} << 20;
constexpr std::size_t kLingerChunk = std::size_t{16} << 10;
// The read that waits, with the idle timeout, for the next request on a kept-alive connection.
constexpr std::size_t kFirstReadBytes = 4096;

struct Route {
  std::string_view path;
  AlertFormat format;
};
constexpr Route kRoutes[] = {
    {"/v1/alerts/alertmanager", AlertFormat::kAlertmanager},
    {"/v1/alerts/falco", AlertFormat::kFalco},
    {"/v1/alerts/json", AlertFormat::kJson},
};
constexpr std::string_view kHealthPath = "/v1/alerts/health";

constexpr std::string_view kNoSuchEndpoint =
    R"({"error":"no such endpoint; POST /v1/alerts/alertmanager, /v1/alerts/falco or /v1/alerts/json"})";

std::string_view view(beast::string_view s) { return std::string_view(s.data(), s.size()); }

std::chrono::milliseconds millis(std::uint32_t ms) { return std::chrono::milliseconds(ms); }

// The verified client certificate's SHA-256 over DER (hex, as crypto::certFingerprint) and
// subject common name; nothing when none was presented.
void describePeerCertificate(SSL* ssl, std::string& sha256_hex, std::string& common_name) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return;
  const int len = i2d_X509(cert, nullptr);
  if (len <= 0) {
    ERR_clear_error();
    return;
  }
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509(cert, &out) != len) {
    ERR_clear_error();
    return;
  }
  sha256_hex = crypto::hex(crypto::sha256(der));
  X509_NAME* subject = X509_get_subject_name(cert);
  const int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return;
  unsigned char* utf8 = nullptr;
  const int n =
      ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
  if (n < 0) {
    ERR_clear_error();
    return;
  }
  common_name.assign(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
}

// A failed read the peer caused by leaving (or by being too slow): nothing to answer.
bool peerGone(const error_code& ec) {
  return ec == beast::error::timeout || ec == http::error::end_of_stream ||
         ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
         ec == asio::ssl::error::stream_truncated;
}

}  // namespace

IntakeConnection::IntakeConnection(IntakeShared& shared, asio::ip::tcp::socket socket)
    : shared_(shared), stream_(std::move(socket), shared.tls) {
  error_code ec;
  auto& tcp = beast::get_lowest_layer(stream_).socket();
  // An answer, then close_notify or the next pipelined answer, must not wait for the peer's
  // delayed ACK (Nagle's algorithm would hold them ~40 ms).
  tcp.set_option(asio::ip::tcp::no_delay(true), ec);
  const auto peer = tcp.remote_endpoint(ec);
  if (!ec) {
    asio::ip::address address = peer.address();
    // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d; name them as IPv4.
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    peer_address_ = address.to_string();
  }
}

IntakeConnection::~IntakeConnection() {
  {
    std::lock_guard<std::mutex> lock(shared_.mu);
    shared_.live.erase(id_);
  }
  shared_.open.fetch_sub(1, std::memory_order_acq_rel);
}

void IntakeConnection::start() {
  {
    std::lock_guard<std::mutex> lock(shared_.mu);
    id_ = ++shared_.next_id;
    shared_.live.emplace(id_, weak_from_this());
  }
  // One deadline for the TLS handshake and the whole first request.
  beast::get_lowest_layer(stream_).expires_after(millis(shared_.limits.read_timeout_ms));
  // The accept handler runs outside this connection's strand; begin on it.
  asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
    self->stream_.async_handshake(asio::ssl::stream_base::server,
                                  [self](error_code ec) { self->onHandshake(ec); });
  });
}

void IntakeConnection::closeNow() { beast::get_lowest_layer(stream_).close(); }

void IntakeConnection::onHandshake(error_code ec) {
  // A refused client certificate, a scanner, a timeout: the handshake is the answer.
  if (ec || shared_.stopping.load()) return;
  if (shared_.client_certs) {
    describePeerCertificate(stream_.native_handle(), client_cert_sha256_, client_cert_cn_);
  }
  readHeader();
}

void IntakeConnection::awaitRequest() {
  auto& tcp = beast::get_lowest_layer(stream_);
  if (buffer_.size() > 0) {  // pipelined: the next request has begun
    tcp.expires_after(millis(shared_.limits.read_timeout_ms));
    readHeader();
    return;
  }
  // Idle until the next request's first bytes; from then on it has the read timeout.
  tcp.expires_after(millis(shared_.limits.idle_timeout_ms));
  stream_.async_read_some(
      buffer_.prepare(kFirstReadBytes),
      [self = shared_from_this()](error_code ec, std::size_t n) { self->onFirstBytes(ec, n); });
}

void IntakeConnection::onFirstBytes(error_code ec, std::size_t n) {
  if (ec || shared_.stopping.load()) return;
  buffer_.commit(n);
  beast::get_lowest_layer(stream_).expires_after(millis(shared_.limits.read_timeout_ms));
  readHeader();
}

void IntakeConnection::readHeader() {
  version_ = 11;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(shared_.limits.max_header_bytes, UINT32_MAX)));
  // A Content-Length past the limit fails as soon as the header is read (the body is never
  // read); a chunked body fails when its chunks pass it.
  parser_->body_limit(shared_.limits.max_body_bytes);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = shared_from_this()](error_code ec, std::size_t) { self->onHeader(ec); });
}

void IntakeConnection::onHeader(error_code ec) {
  if (shared_.stopping.load()) return;
  if (ec) return failRequest(ec);
  const auto& req = parser_->get();
  version_ = req.version();
  if (!parser_->is_done() &&
      absl::EqualsIgnoreCase(
          absl::string_view(req[http::field::expect].data(), req[http::field::expect].size()),
          "100-continue")) {
    // RFC 9110 §10.1.1: the client waits for this before sending the body.
    continue_.emplace(http::status::continue_, req.version());
    http::async_write(stream_, *continue_, [self = shared_from_this()](error_code ec, std::size_t) {
      self->onContinueSent(ec);
    });
    return;
  }
  readBody();
}

void IntakeConnection::onContinueSent(error_code ec) {
  continue_.reset();
  if (ec || shared_.stopping.load()) return;
  readBody();
}

void IntakeConnection::readBody() {
  if (parser_->is_done()) return handle(parser_->release());
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](error_code ec, std::size_t) { self->onBody(ec); });
}

void IntakeConnection::onBody(error_code ec) {
  if (shared_.stopping.load()) return;
  if (ec) return failRequest(ec);
  handle(parser_->release());
}

void IntakeConnection::failRequest(error_code ec) {
  if (ec == http::error::body_limit) {
    const std::string what =
        absl::StrCat("body larger than ", shared_.limits.max_body_bytes, " bytes");
    return refuse(413, what, absl::StrCat(R"({"error":")", what, R"("})"));
  }
  if (ec == http::error::header_limit) {
    const std::string what =
        absl::StrCat("request header larger than ", shared_.limits.max_header_bytes, " bytes");
    return refuse(431, what, absl::StrCat(R"({"error":")", what, R"("})"));
  }
  if (peerGone(ec)) return;
  if (ec.category() == http::make_error_code(http::error::bad_method).category()) {
    return refuse(400, absl::StrCat("malformed HTTP request: ", ec.message()),
                  R"({"error":"malformed HTTP request"})");
  }
  // A TLS or socket error: nobody to answer.
}

void IntakeConnection::refuse(unsigned status, const std::string& what, std::string body) {
  try {
    shared_.sink.refusedByServer(status, peer_address_, what);
  } catch (...) {  // the sink's logging failed; the answer still goes out
  }
  respond(status, std::move(body), true);
}

void IntakeConnection::handle(Request&& req) {
  const bool close = !req.keep_alive();
  std::string_view target = view(req.target());
  const std::string_view path = target.substr(0, target.find('?'));
  if (path == kHealthPath) {  // a load balancer's liveness probe: no sink, no credentials
    if (req.method() == http::verb::get) return respond(200, R"({"status":"ok"})", close);
    return respond(405, R"({"error":"method not allowed; GET /v1/alerts/health"})", close, 0,
                   "GET");
  }
  const auto route = std::find_if(std::begin(kRoutes), std::end(kRoutes),
                                  [&](const Route& r) { return r.path == path; });
  if (route == std::end(kRoutes)) return respond(404, std::string(kNoSuchEndpoint), close);
  if (req.method() != http::verb::post) {
    return respond(405, R"({"error":"method not allowed; use POST"})", close, 0, "POST");
  }

  IntakeRequest in;
  in.format = route->format;
  // One Authorization field or none: two are a malformed request's, and count as none.
  if (req.count(http::field::authorization) == 1) {
    Authorization auth = parseAuthorization(view(req[http::field::authorization]));
    in.bearer_token = std::move(auth.bearer_token);
    in.basic_user = std::move(auth.basic_user);
    in.basic_password = std::move(auth.basic_password);
  }
  in.client_cert_sha256 = client_cert_sha256_;
  in.client_cert_cn = client_cert_cn_;
  in.peer_address = peer_address_;
  in.body = std::move(req.body());

  // The sink may wait (for the log's commit): on a worker, so this connection's thread goes on
  // serving the others (health probes, refusals) meanwhile. Nothing else happens on this
  // connection until the answer is back on its strand.
  asio::post(shared_.workers, [self = shared_from_this(), in = std::move(in), close]() {
    IntakeAnswer answer;
    try {
      answer = self->shared_.sink.receive(in);
    } catch (...) {  // the sink's failure is a 500 to this sender, not the server's end
      answer = {500, R"({"error":"internal error"})", 0};
    }
    if (answer.status < 200 || answer.status > 599) {
      answer = {500, R"({"error":"internal error"})", 0};
    }
    asio::post(self->stream_.get_executor(), [self, answer = std::move(answer), close]() mutable {
      self->respond(answer.status, std::move(answer.body), close, answer.retry_after_s);
    });
  });
}

void IntakeConnection::respond(unsigned status, std::string body, bool close,
                               std::uint32_t retry_after_s, const char* allow) {
  response_.emplace();
  Response& res = *response_;
  res.version(version_);
  res.result(status);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  if (retry_after_s > 0) res.set(http::field::retry_after, std::to_string(retry_after_s));
  if (allow != nullptr) res.set(http::field::allow, allow);
  res.body() = std::move(body);
  res.keep_alive(!close);
  res.prepare_payload();
  close_after_write_ = close;
  // A peer that does not read its answer gets no longer than it had to send its request.
  beast::get_lowest_layer(stream_).expires_after(millis(shared_.limits.read_timeout_ms));
  http::async_write(stream_, res, [self = shared_from_this()](error_code ec, std::size_t) {
    self->onWritten(ec);
  });
}

void IntakeConnection::onWritten(error_code ec) {
  response_.reset();
  if (ec || shared_.stopping.load()) return;
  if (close_after_write_) return closeGracefully();
  awaitRequest();
}

void IntakeConnection::closeGracefully() {
  beast::get_lowest_layer(stream_).expires_after(
      std::min(kMaxLinger, millis(shared_.limits.read_timeout_ms)));
  // Sends close_notify and waits for the peer's; whatever happens, then linger.
  stream_.async_shutdown([self = shared_from_this()](error_code) { self->linger(); });
}

void IntakeConnection::linger() {
  if (shared_.stopping.load()) return;
  auto& tcp = beast::get_lowest_layer(stream_);
  error_code ec;
  tcp.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (ec) return;  // closed already (the linger deadline passed)
  linger_buffer_.resize(kLingerChunk);
  lingerRead();
}

void IntakeConnection::lingerRead() {
  beast::get_lowest_layer(stream_).async_read_some(
      asio::buffer(linger_buffer_), [self = shared_from_this()](error_code ec, std::size_t n) {
        self->lingered_bytes_ += n;
        if (ec || self->lingered_bytes_ > kMaxLingerBytes || self->shared_.stopping.load()) {
          return;  // the destructor closes the socket
        }
        self->lingerRead();
      });
}

}  // namespace warden::intake
