#include "controller/alerts/https_post.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <exception>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace warden::webhook {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using beast::error_code;

constexpr char kUserAgent[] = "warden-controller";
constexpr char kScheme[] = "https://";
constexpr std::size_t kSchemeSize = sizeof(kScheme) - 1;
// The answer's header block: Beast's default limit, spelled out.
constexpr std::uint32_t kMaxAnswerHeader = 8 * 1024;

bool isIpLiteral(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// Letters, digits, '-', '.', '_' (RFC 1123 names, and the underscores some internal names use).
bool isDnsName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return true;
}

// Visible ASCII only (RFC 3986 characters, percent-encoded or not): nothing that could end the
// request line or start a header.
bool isVisibleAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return absl::ascii_tolower(static_cast<unsigned char>(x)) ==
                  absl::ascii_tolower(static_cast<unsigned char>(y));
         });
}

absl::StatusOr<std::uint16_t> parsePort(std::string_view text) {
  std::uint32_t port = 0;
  if (text.empty() || text.size() > 5 ||
      !absl::ascii_isdigit(static_cast<unsigned char>(text[0])) ||
      !absl::SimpleAtoi(std::string(text), &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad port '", std::string(text), "'"));
  }
  return static_cast<std::uint16_t>(port);
}

// Starts one asynchronous operation and runs the context until it completes: the operations
// of one POST are sequential, and the tcp_stream's deadline bounds each of them.
template <class Start>
error_code runOne(asio::io_context& ioc, Start start) {
  error_code result = asio::error::would_block;
  start([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

absl::Status failure(const std::string& step, const error_code& ec) {
  if (ec == beast::error::timeout)
    return absl::DeadlineExceededError(absl::StrCat(step, ": timed out"));
  return absl::UnavailableError(absl::StrCat(step, ": ", ec.message()));
}

}  // namespace

std::string HttpsUrl::hostHeader() const {
  const bool v6 = host.find(':') != std::string::npos;
  std::string out = v6 ? absl::StrCat("[", host, "]") : host;
  if (port != 443) absl::StrAppend(&out, ":", port);
  return out;
}

std::string HttpsUrl::forLog() const {
  return absl::StrCat(kScheme, hostHeader(), target.substr(0, target.find('?')));
}

absl::StatusOr<HttpsUrl> parseHttpsUrl(std::string_view url) {
  if (url.size() < kSchemeSize || !equalsIgnoreCase(url.substr(0, kSchemeSize), kScheme)) {
    return absl::InvalidArgumentError("not an https:// URL");
  }
  std::string_view rest = url.substr(kSchemeSize);
  const std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  target = target.substr(0, target.find('#'));  // a fragment is never sent (RFC 9110 §4.2.4)

  if (authority.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError("user info in a notification URL");
  }
  HttpsUrl out;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("unclosed '[' in host");
    out.host = std::string(authority.substr(1, close - 1));
    error_code ec;
    asio::ip::make_address_v6(out.host, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("bad IPv6 address '", out.host, "'"));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return absl::InvalidArgumentError("junk after ']' in host");
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (!isDnsName(out.host)) {
      return absl::InvalidArgumentError(absl::StrCat("bad host '", out.host, "'"));
    }
  }
  if (has_port) {
    auto port = parsePort(port_text);
    if (!port.ok()) return port.status();
    out.port = *port;
  }
  if (!isVisibleAscii(target)) {
    return absl::InvalidArgumentError("space or control character in the URL's path");
  }
  out.target = target.empty() || target[0] != '/' ? "/" + std::string(target) : std::string(target);
  return out;
}

struct HttpsPoster::Tls {
  ssl::context ctx{ssl::context::tls_client};
};

HttpsPoster::HttpsPoster(const std::string& ca_file) : tls_(std::make_unique<Tls>()) {
  SSL_CTX_set_min_proto_version(tls_->ctx.native_handle(), TLS1_2_VERSION);
  error_code ec;
  tls_->ctx.set_verify_mode(ssl::verify_peer, ec);
  if (ca_file.empty()) {
    tls_->ctx.set_default_verify_paths(ec);
    if (ec) ready_ = absl::InternalError(absl::StrCat("system trust store: ", ec.message()));
  } else {
    // Read here, so a missing file says why (errno), then every certificate in it trusted.
    auto pem = readFile(ca_file);
    if (!pem.ok()) {
      ready_ = pem.status();
      return;
    }
    tls_->ctx.add_certificate_authority(asio::buffer(*pem), ec);
    if (ec) {
      ready_ = absl::FailedPreconditionError(
          absl::StrCat("no PEM certificates in CA file ", ca_file, ": ", ec.message()));
    }
  }
}

HttpsPoster::~HttpsPoster() = default;

absl::StatusOr<unsigned> HttpsPoster::post(const HttpsUrl& url, const HttpHeaders& headers,
                                           const std::string& body,
                                           std::chrono::milliseconds timeout) {
  if (!ready_.ok()) return ready_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  try {
    asio::io_context ioc;
    beast::ssl_stream<beast::tcp_stream> stream(ioc, tls_->ctx);
    // SNI names a host, never an address (RFC 6066 §3).
    if (!isIpLiteral(url.host) &&
        SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str()) != 1) {
      return absl::InternalError("cannot set the TLS server name");
    }
    // The certificate must name the URL's host: a DNS name, or an IP address SAN for a literal.
    stream.set_verify_callback(ssl::host_name_verification(url.host));

    // getaddrinfo(3) on this thread: bounded by the resolver (resolv.conf(5)), and what it
    // takes is taken from the deadline of what follows.
    tcp::resolver resolver(ioc);
    error_code ec;
    auto endpoints =
        resolver.resolve(url.host, std::to_string(url.port), tcp::resolver::numeric_service, ec);
    if (ec) return failure(absl::StrCat("resolve ", url.host), ec);

    beast::get_lowest_layer(stream).expires_at(deadline);
    ec = runOne(ioc,
                [&](auto done) { beast::get_lowest_layer(stream).async_connect(endpoints, done); });
    if (ec) return failure("connect", ec);
    ec = runOne(ioc, [&](auto done) { stream.async_handshake(ssl::stream_base::client, done); });
    if (ec) return failure("TLS handshake", ec);

    http::request<http::string_body> req{http::verb::post, url.target, 11};
    req.set(http::field::host, url.hostHeader());
    req.set(http::field::user_agent, kUserAgent);
    req.set(http::field::content_type, "application/json");
    req.set(http::field::connection, "close");
    for (const auto& [name, value] : headers) req.set(name, value);
    req.body() = body;
    req.prepare_payload();
    ec = runOne(ioc, [&](auto done) { http::async_write(stream, req, done); });
    if (ec) return failure("send", ec);

    http::response_parser<http::string_body> parser;
    parser.header_limit(kMaxAnswerHeader);
    parser.body_limit(kMaxAnswerBody);
    beast::flat_buffer buffer(kMaxAnswerHeader + kMaxAnswerBody);
    ec = runOne(ioc, [&](auto done) { http::async_read(stream, buffer, parser, done); });
    if (ec) return failure("answer", ec);
    // No TLS close_notify exchange: the request said Connection: close, and a receiver that
    // never answers one would only cost time.
    beast::get_lowest_layer(stream).close();
    return parser.get().result_int();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("HTTPS POST: ", e.what()));
  }
}

}  // namespace warden::webhook
