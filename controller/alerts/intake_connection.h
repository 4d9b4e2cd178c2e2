// One TLS connection to the alert intake (intake_server.h): the handshake, then HTTP/1.1
// requests read within the limits, routed, handed to the AlertSink and answered, until the peer
// closes, a limit or timeout is hit, or the server stops. Internal to controller/alerts/.
//
// Every handler runs on the connection's strand, so a connection's members need no lock; what
// connections share with the server (the open count, the registry stop() closes) is in
// IntakeShared, behind an atomic and a mutex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

// Boost 1.74's Beast parser returns boost::none from content_length_unchecked(), which GCC 12
// at -O3 with -fsanitize=address reports as -Wmaybe-uninitialized inside Beast (a false
// positive in the library's own code, not ours); silenced for these headers only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#pragma GCC diagnostic pop

#include "controller/alerts/authorization.h"
#include "controller/alerts/intake_server.h"

namespace warden::intake {

class IntakeConnection;

// What the server and its connections share. Outlives every connection: the server destroys
// its io_context (and with it every connection a pending handler still holds) first.
struct IntakeShared {
  IntakeShared(AlertSink& s, const IntakeLimits& l) : sink(s), limits(l), workers(l.sink_threads) {}

  AlertSink& sink;
  const IntakeLimits limits;
  // Where the sink is called: it may block until what it decided is durable. The server joins
  // them in stop(), before its io_context goes.
  boost::asio::thread_pool workers;
  boost::asio::ssl::context tls{boost::asio::ssl::context::tls_server};
  bool client_certs = false;  // a CA was given: client certificates are asked for

  std::atomic<std::size_t> open{0};  // connections counted against max_connections
  std::atomic<bool> stopping{false};

  // Live connections, for stop() to close. A connection adds itself when it starts and
  // removes itself in its destructor.
  std::mutex mu;
  std::uint64_t next_id = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<IntakeConnection>> live;
};

class IntakeConnection : public std::enable_shared_from_this<IntakeConnection> {
 public:
  // `socket` is accepted and already counted in shared.open; the connection uncounts it when
  // it is destroyed.
  IntakeConnection(IntakeShared& shared, boost::asio::ip::tcp::socket socket);
  ~IntakeConnection();
  IntakeConnection(const IntakeConnection&) = delete;
  IntakeConnection& operator=(const IntakeConnection&) = delete;

  // Registers itself in shared.live (so stop() can close it), then starts the handshake.
  void start();
  // Closes the socket and cancels its timer; pending operations complete with an error. Only
  // while no handler of this connection can run (stop() calls it after joining the threads).
  void closeNow();

 private:
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  void onHandshake(boost::beast::error_code ec);
  void awaitRequest();
  void onFirstBytes(boost::beast::error_code ec, std::size_t n);
  void readHeader();
  void onHeader(boost::beast::error_code ec);
  void onContinueSent(boost::beast::error_code ec);
  void readBody();
  void onBody(boost::beast::error_code ec);
  // Answers a parse failure (413, 431, 400) and closes; a timeout or a peer gone just closes.
  void failRequest(boost::beast::error_code ec);
  // Tells the sink (AlertSink::refusedByServer), then answers `body` and closes.
  void refuse(unsigned status, const std::string& what, std::string body);
  void handle(Request&& req);
  void respond(unsigned status, std::string body, bool close, std::uint32_t retry_after_s = 0,
               const char* allow = nullptr);
  void onWritten(boost::beast::error_code ec);
  // Close in a way that lets the peer read what was written: TLS close_notify, then FIN, then
  // read and drop whatever the peer still sends (a body we refused) for a bounded time, so
  // the kernel does not answer it with a reset that destroys our response (RFC 9112 §9.6).
  void closeGracefully();
  void linger();
  void lingerRead();

  IntakeShared& shared_;
  std::uint64_t id_ = 0;
  Stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::optional<boost::beast::http::response<boost::beast::http::empty_body>> continue_;
  std::optional<Response> response_;
  std::string peer_address_;
  std::string client_cert_sha256_;
  std::string client_cert_cn_;
  // The request's HTTP version once its header is read (the answer's), else 1.1.
  unsigned version_ = 11;
  bool close_after_write_ = false;
  std::string linger_buffer_;
  std::size_t lingered_bytes_ = 0;
};

}  // namespace warden::intake
