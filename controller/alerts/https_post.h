// One-shot HTTPS POST for the webhook notifier (notifier.h): resolve, connect, TLS 1.2+ with
// SNI and the peer's certificate verified against a trust store and the URL's host, one
// request, one bounded answer, close. Boost.Beast over Asio and OpenSSL; nothing else.
// Internal to controller/alerts/.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden::webhook {

// `https://host[:port][/path][?query]`: only https; the host a DNS name, an IPv4 address or an
// IPv6 literal in brackets; no user info (credentials belong in headers, never in a URL that
// is logged); a fragment is dropped.
struct HttpsUrl {
  std::string host;  // IPv6 without its brackets
  std::uint16_t port = 443;
  std::string target;  // path and query, at least "/"

  // The Host header (RFC 9110 §7.2): host, bracketed if IPv6, with the port unless 443.
  std::string hostHeader() const;
  // https://host[:port]/path — without the query, which may carry a token: what logs show.
  std::string forLog() const;
};
absl::StatusOr<HttpsUrl> parseHttpsUrl(std::string_view url);

// The most of an answer's body read; a longer answer is an error.
inline constexpr std::size_t kMaxAnswerBody = std::size_t{64} << 10;

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// A TLS client context made once (the trust store read once) and used for every POST.
class HttpsPoster {
 public:
  // `ca_file`: PEM certificates to trust; empty: the system's default verify paths. A file
  // that cannot be read makes every post() fail with the reason.
  explicit HttpsPoster(const std::string& ca_file);
  ~HttpsPoster();
  HttpsPoster(const HttpsPoster&) = delete;
  HttpsPoster& operator=(const HttpsPoster&) = delete;

  // POSTs `body` to `url` and returns the answer's status code, or why there is none (name
  // resolution, connect, TLS, timeout, malformed or oversized answer). Connect, handshake,
  // request and answer together take at most `timeout`, counted from the call; name resolution
  // (getaddrinfo(3), which cannot be cancelled) is bounded by the system resolver's own limits
  // (resolv.conf(5)), and its time is taken from the same budget.
  absl::StatusOr<unsigned> post(const HttpsUrl& url, const HttpHeaders& headers,
                                const std::string& body, std::chrono::milliseconds timeout);

 private:
  struct Tls;
  std::unique_ptr<Tls> tls_;
  absl::Status ready_;
};

}  // namespace warden::webhook
