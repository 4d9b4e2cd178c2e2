// common/crypto/tls_bootstrap.h: fetchPeerChain against a one-connection TLS 1.3 server on loopback
// shaped like the controller (leaf + CA, a client certificate asked for but not required), over
// IPv4 and IPv6, and against a closed port and a server that never speaks TLS.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto/tls_bootstrap.h"
#include "common/crypto/x509.h"
#include "tests/unit/crypto_inspection.h"

namespace warden::crypto {
namespace {

using ::testing::HasSubstr;
using ::warden::testing::makeProfile;
using ::warden::testing::parseCert;
using ::warden::testing::parseKey;
using ::warden::testing::PkeyPtr;
using ::warden::testing::X509Ptr;

// A one-connection TLS 1.3 server shaped like the controller: it presents leaf + CA and asks for,
// but does not require, a client certificate.
class TlsTestServer {
 public:
  struct Result {
    bool handshake_ok = false;
    std::string sni;
    bool client_sent_cert = true;
    std::string error;
  };

  ~TlsTestServer() {
    if (thread_.joinable()) thread_.join();
    if (listen_fd_ >= 0) close(listen_fd_);
    SSL_CTX_free(ctx_);
  }

  // Returns false (without failing) when the address family is unavailable.
  bool start(const CertificateAuthority& ca, const std::string& leaf_pem,
             const std::string& key_pem, int family = AF_INET) {
    // The client may close while the server is still writing; that must not kill the test.
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    EXPECT_NE(ctx_, nullptr);
    EXPECT_EQ(SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION), 1);
    X509Ptr leaf = parseCert(leaf_pem);
    X509Ptr ca_cert = parseCert(ca.cert_pem);
    PkeyPtr key = parseKey(key_pem);
    EXPECT_EQ(SSL_CTX_use_certificate(ctx_, leaf.get()), 1);
    EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx_, key.get()), 1);
    EXPECT_EQ(SSL_CTX_add1_chain_cert(ctx_, ca_cert.get()), 1);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, [](int, X509_STORE_CTX*) { return 1; });
    SSL_CTX_set_num_tickets(ctx_, 0);

    listen_fd_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(listen_fd_, 0);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&addr);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *in;
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_loopback;
      len = sizeof *in6;
    }
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) return false;
    EXPECT_EQ(listen(listen_fd_, 4), 0);
    EXPECT_EQ(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&addr)->sin_port
                                    : reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    thread_ = std::thread([this] { serveOne(); });
    return true;
  }

  std::uint16_t port() const { return port_; }

  Result finish() {
    thread_.join();
    return result_;
  }

 private:
  void serveOne() {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) {
      result_.error = "no connection";
      return;
    }
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      result_.error = "accept failed";
      return;
    }
    timeval tv{10, 0};  // A broken client must not hang the test.
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
      result_.handshake_ok = true;
      const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      result_.sni = sni != nullptr ? sni : "";
      X509* peer = SSL_get1_peer_certificate(ssl);
      result_.client_sent_cert = peer != nullptr;
      X509_free(peer);
      char buf[16];
      SSL_read(ssl, buf, sizeof buf);  // Wait for the client's close_notify (or EOF).
      SSL_shutdown(ssl);
    } else {
      char buf[256];
      ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
      result_.error = buf;
    }
    ERR_clear_error();
    SSL_free(ssl);
    close(fd);
  }

  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  Result result_;
};

class FetchPeerChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca = createCa("Warden CA", absl::Hours(24));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    auto key = generateEcKeyPem();
    ASSERT_TRUE(key.ok());
    key_pem_ = *key;
    CertProfile profile =
        makeProfile("warden-controller", true, false, {"warden-controller"}, {"127.0.0.1", "::1"});
    auto leaf = issueCertificate(ca_, key_pem_, profile);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    leaf_pem_ = *leaf;
  }

  void expectChain(const std::vector<std::string>& chain) {
    ASSERT_EQ(chain.size(), 2u);
    EXPECT_EQ(*certFingerprint(chain[0]), *certFingerprint(leaf_pem_));
    EXPECT_EQ(*certFingerprint(chain[1]), *certFingerprint(ca_.cert_pem));
    EXPECT_EQ(*certCommonName(chain[0]), "warden-controller");
    EXPECT_TRUE(verifyCertIssuedBy(chain[0], chain[1]).ok());
  }

  CertificateAuthority ca_;
  std::string key_pem_;
  std::string leaf_pem_;
};

TEST_F(FetchPeerChainTest, ReturnsLeafAndCaWithoutClientCertificate) {
  TlsTestServer server;
  ASSERT_TRUE(server.start(ca_, leaf_pem_, key_pem_));
  auto chain = fetchPeerChain("127.0.0.1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(chain.ok()) << chain.status();
  expectChain(*chain);
  TlsTestServer::Result result = server.finish();
  EXPECT_TRUE(result.handshake_ok) << result.error;
  EXPECT_EQ(result.sni, "warden-controller");
  EXPECT_FALSE(result.client_sent_cert);
}

TEST_F(FetchPeerChainTest, WorksOverIpv6) {
  TlsTestServer server;
  if (!server.start(ca_, leaf_pem_, key_pem_, AF_INET6)) {
    // CI machines have ::1; only a developer box without IPv6 may skip.
    const char* required = std::getenv("WARDEN_REQUIRE_PRIVILEGED");
    if (required != nullptr && std::string(required) == "1") {
      FAIL() << "no IPv6 loopback (WARDEN_REQUIRE_PRIVILEGED=1)";
    }
    GTEST_SKIP() << "no IPv6 loopback";
  }
  auto chain = fetchPeerChain("::1", server.port(), absl::Seconds(5));
  ASSERT_TRUE(chain.ok()) << chain.status();
  expectChain(*chain);
  EXPECT_TRUE(server.finish().handshake_ok);
}

TEST_F(FetchPeerChainTest, ClosedPortFailsFast) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);  // Nothing listens on this port now.

  auto start = std::chrono::steady_clock::now();
  auto chain = fetchPeerChain("127.0.0.1", ntohs(addr.sin_port), absl::Seconds(3));
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(chain.ok());
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kUnavailable) << chain.status();
  EXPECT_THAT(std::string(chain.status().message()), HasSubstr("Connection refused"));
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(FetchPeerChainTest, SilentServerTimesOut) {
  // Accepts TCP (via the backlog) but never speaks TLS.
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(fd, 4), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);

  auto start = std::chrono::steady_clock::now();
  auto chain = fetchPeerChain("127.0.0.1", ntohs(addr.sin_port), absl::Milliseconds(300));
  auto elapsed = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kDeadlineExceeded) << chain.status();
  EXPECT_GE(elapsed, std::chrono::milliseconds(290));
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST_F(FetchPeerChainTest, RejectsBadArguments) {
  EXPECT_EQ(fetchPeerChain("127.0.0.1", 1, absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto r = fetchPeerChain("no-such-host.invalid", 443, absl::Seconds(2));
  EXPECT_FALSE(r.ok());
}
}  // namespace
}  // namespace warden::crypto
