// The alert intake's HTTPS listener (DESIGN.md "Automation", `--alerts-listen`): Boost.Beast
// over Asio and OpenSSL, TLS 1.2+ with the controller's certificate; a client certificate is
// asked for but optional (a sender either presents one from the Warden CA or a bearer token).
//
// This room is only HTTP: limits (header and body bytes, connections, read and idle time),
// routing of the three POST endpoints, and answers. What a request means — who sent it, whether
// it is within its rate, what it says, what is decided — is the AlertSink's, called on one of the
// server's threads; the sink answers only once what it decided is durable, so a 2xx means the
// alert is in the log (Alertmanager retries on 5xx).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/alerts/alert.h"

namespace warden {

struct IntakeLimits {
  std::size_t max_body_bytes = kMaxAlertBodyBytes;  // 413 past it
  std::size_t max_header_bytes = 16 * 1024;         // 431 past it
  std::size_t max_connections = 256;                // further connections are closed at accept
  std::uint32_t read_timeout_ms = 10'000;           // a whole request, TLS handshake included
  std::uint32_t idle_timeout_ms = 30'000;           // keep-alive between requests
  std::size_t threads = 2;                          // network and HTTP: never wait for the sink
  // The sink's calls: a POST holds one until its alerts are durable, and POSTs waiting together
  // share a commit.
  std::size_t sink_threads = 16;
};

// One POST to a known endpoint, body complete and within the limits.
struct IntakeRequest {
  AlertFormat format = AlertFormat::kJson;  // from the path
  std::string bearer_token;                 // from `Authorization: Bearer ...`; empty if none
  std::string basic_password;  // from `Authorization: Basic ...` (the password part), if any
  std::string basic_user;
  // The client certificate, when one was presented and verified against the CA: its SHA-256
  // (hex, over DER) and subject common name.
  std::string client_cert_sha256;
  std::string client_cert_cn;
  std::string peer_address;  // "198.18.0.1" (no port)
  std::string body;
};

struct IntakeAnswer {
  unsigned status = 200;
  std::string body;                 // JSON: {"status":"ok",...} or {"error":"what was wrong"}
  std::uint32_t retry_after_s = 0;  // set with 429 / 503
};

class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual IntakeAnswer receive(const IntakeRequest& req) = 0;
  // The server itself refused a request before the sink saw it (413 too large, 431, 400
  // malformed HTTP): for the sink to log (rate-limited). Called on a server thread.
  virtual void refusedByServer(unsigned status, const std::string& peer_address,
                               const std::string& what) {
    (void)status, (void)peer_address, (void)what;
  }
};

struct IntakeTls {
  std::string cert_pem;  // the controller's certificate chain
  std::string key_pem;   // its private key
  std::string ca_pem;    // the Warden CA, for client certificates
};

class IntakeServer {
 public:
  // Binds `listen` ("ADDR:PORT"; port 0 lets the kernel pick) and starts serving.
  static absl::StatusOr<std::unique_ptr<IntakeServer>> start(const std::string& listen,
                                                             const IntakeTls& tls, AlertSink& sink,
                                                             const IntakeLimits& limits = {});
  virtual ~IntakeServer() = default;
  virtual std::uint16_t port() const = 0;
  // Stops accepting, closes every connection, joins the threads. Idempotent.
  virtual void stop() = 0;
};

}  // namespace warden
