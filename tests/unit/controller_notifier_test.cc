// controller/alerts/notifier.h: webhook notifications against a real HTTPS receiver (a
// synchronous Beast server on loopback with a certificate from a test CA): the thin body, the
// Standard Webhooks headers and an Ed25519 signature that verifies, retries and their bound,
// TLS verification (another CA, another name), a queue that never blocks the caller, and a
// stop() that returns while a receiver hangs. Also the URL parser, the signature helper, and the
// notify key the data directory keeps.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/x509.h"
#include "common/files.h"
#include "common/json.h"
#include "controller/alerts/https_post.h"
#include "controller/alerts/notifier.h"
#include "controller/data_dir.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using beast::error_code;
using ::testing::ElementsAre;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using ::warden::testing::modeOf;
using ::warden::testing::TempDir;
using Clock = std::chrono::steady_clock;

// ---- the test PKI ------------------------------------------------------------------------

struct ServerIdentity {
  std::string cert;
  std::string key;
};

ServerIdentity issueServer(const crypto::CertificateAuthority& ca,
                           std::vector<std::string> dns_names,
                           std::vector<std::string> ip_addresses) {
  crypto::CertProfile profile;
  profile.common_name = "receiver";
  profile.dns_names = std::move(dns_names);
  profile.ip_addresses = std::move(ip_addresses);
  profile.server = true;
  profile.validity = absl::Hours(1);
  ServerIdentity out;
  out.key = *crypto::generateEcKeyPem();
  auto cert = crypto::issueCertificate(ca, out.key, profile);
  EXPECT_TRUE(cert.ok()) << cert.status();
  if (cert.ok()) out.cert = *cert;
  return out;
}

struct Pki {
  crypto::CertificateAuthority ca;
  ServerIdentity server;      // 127.0.0.1, ::1 and localhost
  ServerIdentity other_name;  // the right CA, the wrong name
  ServerIdentity other_ca;    // the right names, another CA of the same name
};

const Pki& pki() {
  static const Pki* const p = [] {
    auto* out = new Pki;
    out->ca = *crypto::createCa("Receiver Test CA", absl::Hours(24));
    out->server = issueServer(out->ca, {"localhost"}, {"127.0.0.1", "::1"});
    out->other_name = issueServer(out->ca, {"elsewhere.example"}, {"192.0.2.1"});
    const auto other = *crypto::createCa("Receiver Test CA", absl::Hours(24));
    out->other_ca = issueServer(other, {"localhost"}, {"127.0.0.1", "::1"});
    return out;
  }();
  return *p;
}

// ---- a real HTTPS receiver ----------------------------------------------------------------

struct Received {
  std::string target;
  std::string sni;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// One connection at a time, synchronously: TLS handshake, one request, one answer, close.
// The n-th request gets statuses[n] (the last one repeats). A hanging receiver reads the request
// and then never answers until it is destroyed.
class Receiver {
 public:
  Receiver(const ServerIdentity& id, std::vector<unsigned> statuses, bool hang = false,
           const std::string& address = "127.0.0.1")
      : statuses_(std::move(statuses)), hang_(hang) {
    ctx_.use_certificate_chain(asio::buffer(id.cert));
    ctx_.use_private_key(asio::buffer(id.key), ssl::context::pem);
    const tcp::endpoint ep(asio::ip::make_address(address), 0);
    error_code ec;
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      bind_error_ = ec.message();
      return;
    }
    endpoint_ = acceptor_.local_endpoint();
    thread_ = std::thread([this] { serve(); });
  }
  ~Receiver() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    // Wakes the blocking accept().
    asio::io_context ioc;
    tcp::socket wake(ioc);
    error_code ec;
    wake.connect(endpoint_, ec);
    thread_.join();
  }

  const std::string& bindError() const { return bind_error_; }
  std::uint16_t port() const { return endpoint_.port(); }
  std::vector<Received> received() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  void answerWith(std::string body) {
    std::lock_guard<std::mutex> lock(mu_);
    answer_body_ = std::move(body);
  }
  std::size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return received_.size();
  }

 private:
  void serve() {
    for (;;) {
      tcp::socket socket(ioc_);
      error_code ec;
      acceptor_.accept(socket, ec);
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
      }
      if (ec) continue;
      handle(std::move(socket));
    }
  }

  void handle(tcp::socket socket) {
    beast::ssl_stream<tcp::socket> stream(std::move(socket), ctx_);
    error_code ec;
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) return;  // e.g. the client refused our certificate
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(stream, buffer, req, ec);
    if (ec) return;
    Received r;
    r.target = std::string(req.target());
    const char* sni = SSL_get_servername(stream.native_handle(), TLSEXT_NAMETYPE_host_name);
    if (sni != nullptr) r.sni = sni;
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(field.value());
    }
    r.body = req.body();
    unsigned status = 200;
    std::string answer;
    {
      std::unique_lock<std::mutex> lock(mu_);
      const std::size_t n = received_.size();
      if (!statuses_.empty()) status = statuses_[std::min(n, statuses_.size() - 1)];
      received_.push_back(std::move(r));
      answer = answer_body_;
      if (hang_) {
        cv_.wait(lock, [this] { return stopping_; });
        return;
      }
    }
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json");
    if (status != 204) res.body() = std::move(answer);
    res.prepare_payload();
    http::write(stream, res, ec);
    stream.shutdown(ec);
  }

  std::vector<unsigned> statuses_;
  const bool hang_;
  asio::io_context ioc_;
  ssl::context ctx_{ssl::context::tls_server};
  tcp::acceptor acceptor_{ioc_};
  tcp::endpoint endpoint_;
  std::string bind_error_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<Received> received_;
  std::string answer_body_ = R"({"ok":true})";
  std::thread thread_;
};

// ---- helpers -----------------------------------------------------------------------------

// Polls `done` for up to 10 s.
bool eventually(const std::function<bool()>& done) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

NotifyEvent sampleEvent() {
  NotifyEvent e;
  e.type = "automated-action";
  e.host = "web-1";
  e.action = "isolate";
  e.outcome = "acted";
  e.ref = "dec-0001";
  e.log_index = 42;
  e.incident = "sapphire-unicorn";
  return e;
}

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = crypto::Ed25519Key::generate();
    ASSERT_TRUE(key.ok());
    key_ = *key;
    ca_file_ = dir_.file("ca.pem");
    ASSERT_TRUE(writeFileAtomic(ca_file_, pki().ca.cert_pem, 0644).ok());
  }

  NotifierOptions options() const {
    NotifierOptions o;
    o.attempts = 3;
    o.first_retry_ms = 50;
    o.timeout_ms = 2000;
    o.ca_file = ca_file_;
    return o;
  }
  std::unique_ptr<Notifier> start(NotifierOptions o) {
    auto n = Notifier::start(*key_, std::move(o));
    EXPECT_NE(n, nullptr);
    return n;
  }
  static std::string url(std::uint16_t port, const std::string& path = "/hook") {
    return "https://127.0.0.1:" + std::to_string(port) + path;
  }

  TempDir dir_;
  std::optional<crypto::Ed25519Key> key_;
  std::string ca_file_;
};

// ---- delivery ----------------------------------------------------------------------------

TEST_F(NotifierTest, DeliversOneSignedThinEvent) {
  Receiver receiver(pki().server, {200});
  auto notifier = start(options());
  notifier->setTargets({url(receiver.port(), "/hooks/warden?token=s3cret")});
  const std::int64_t before = absl::ToUnixSeconds(absl::Now());
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().delivered == 1; }));
  const std::int64_t after = absl::ToUnixSeconds(absl::Now());
  EXPECT_EQ(notifier->counts().failed, 0u);
  EXPECT_EQ(notifier->counts().dropped, 0u);

  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  const Received& r = got[0];
  EXPECT_EQ(r.target, "/hooks/warden?token=s3cret");
  EXPECT_EQ(r.sni, "");  // never for an IP address (RFC 6066 §3)
  EXPECT_EQ(r.header("host"), "127.0.0.1:" + std::to_string(receiver.port()));
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("user-agent"), "warden-controller");
  EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));

  // Standard Webhooks: id, timestamp, and an Ed25519 signature over "id.timestamp.body".
  const std::string id = r.header("webhook-id");
  EXPECT_THAT(id, MatchesRegex("msg_[0-9a-f]{32}"));
  std::int64_t ts = 0;
  ASSERT_TRUE(absl::SimpleAtoi(r.header("webhook-timestamp"), &ts));
  EXPECT_GE(ts, before);
  EXPECT_LE(ts, after);
  const std::string header = r.header("webhook-signature");
  ASSERT_THAT(header, StartsWith("v1a,"));
  auto signature = crypto::unbase64(header.substr(4));
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->size(), 64u);
  const std::string signed_text = id + "." + std::to_string(ts) + "." + r.body;
  EXPECT_TRUE(crypto::ed25519Verify(key_->publicKey(), signed_text, *signature).ok());
  // ...and nothing else verifies: another body, another key.
  EXPECT_FALSE(crypto::ed25519Verify(key_->publicKey(), signed_text + " ", *signature).ok());
  auto other = crypto::Ed25519Key::generate();
  EXPECT_FALSE(crypto::ed25519Verify(other->publicKey(), signed_text, *signature).ok());

  // The thin body, byte for byte but for the time: the documented fields, in order, nothing
  // else (no reasons, no labels).
  auto body = parseJson(r.body, "body");
  ASSERT_TRUE(body.ok()) << body.status();
  std::vector<std::string> keys;
  for (const auto& [k, v] : body->items()) keys.push_back(k);
  EXPECT_THAT(keys, ElementsAre("type", "host", "action", "outcome", "ref", "log_index", "incident",
                                "timestamp"));
  EXPECT_EQ((*body)["type"], "automated-action");
  EXPECT_EQ((*body)["host"], "web-1");
  EXPECT_EQ((*body)["action"], "isolate");
  EXPECT_EQ((*body)["outcome"], "acted");
  EXPECT_EQ((*body)["ref"], "dec-0001");
  EXPECT_EQ((*body)["log_index"], 42);
  EXPECT_EQ((*body)["incident"], "sapphire-unicorn");
  const std::string time = (*body)["timestamp"];
  EXPECT_THAT(time, MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"));
  EXPECT_THAT(r.body, StartsWith(R"({"type":"automated-action","host":"web-1",)"));
}

TEST_F(NotifierTest, LeavesEmptyFieldsOut) {
  Receiver receiver(pki().server, {204});
  auto notifier = start(options());
  notifier->setTargets({url(receiver.port())});
  NotifyEvent e;
  e.type = "host-health";
  e.host = "db-2";
  e.outcome = "unresponsive";
  notifier->notify(e);
  ASSERT_TRUE(eventually([&] { return notifier->counts().delivered == 1; }));  // 204 is 2xx
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  auto body = parseJson(got[0].body, "body");
  ASSERT_TRUE(body.ok());
  std::vector<std::string> keys;
  for (const auto& [k, v] : body->items()) keys.push_back(k);
  EXPECT_THAT(keys, ElementsAre("type", "host", "outcome", "timestamp"));
}

TEST_F(NotifierTest, EveryTargetOnceWithTheSameMessageId) {
  Receiver a(pki().server, {200});
  Receiver b(pki().server, {200});
  auto notifier = start(options());
  // A duplicate and URLs that are not https are left out.
  notifier->setTargets({url(a.port()), url(b.port()), url(a.port()),
                        "http://127.0.0.1:" + std::to_string(a.port()) + "/hook", "not a url"});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().delivered == 2; }));
  ASSERT_EQ(a.count(), 1u);
  ASSERT_EQ(b.count(), 1u);
  EXPECT_EQ(a.received()[0].header("webhook-id"), b.received()[0].header("webhook-id"));
  EXPECT_EQ(a.received()[0].body, b.received()[0].body);
}

TEST_F(NotifierTest, NoTargetsNothingQueued) {
  auto notifier = start(options());
  notifier->notify(sampleEvent());
  notifier->setTargets({});
  notifier->notify(sampleEvent());
  notifier->stop();
  const auto c = notifier->counts();
  EXPECT_EQ(c.delivered + c.failed + c.dropped, 0u);
}

TEST_F(NotifierTest, DnsNameGetsSniAndItsHostHeader) {
  Receiver receiver(pki().server, {200});
  auto notifier = start(options());
  const std::string port = std::to_string(receiver.port());
  notifier->setTargets({"https://localhost:" + port + "/hook"});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().delivered == 1; }));
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].sni, "localhost");
  EXPECT_EQ(got[0].header("host"), "localhost:" + port);
}

TEST_F(NotifierTest, Ipv6Literal) {
  Receiver receiver(pki().server, {200}, false, "::1");
  if (!receiver.bindError().empty()) {
    // CI (WARDEN_REQUIRE_PRIVILEGED=1) has IPv6 loopback: a skip there would hide a failure.
    if (const char* ci = std::getenv("WARDEN_REQUIRE_PRIVILEGED"); ci && std::string(ci) == "1") {
      FAIL() << "no IPv6 loopback: " << receiver.bindError();
    }
    GTEST_SKIP() << "no IPv6 loopback: " << receiver.bindError();
  }
  auto notifier = start(options());
  const std::string port = std::to_string(receiver.port());
  notifier->setTargets({"https://[::1]:" + port + "/hook"});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().delivered == 1; }));
  ASSERT_EQ(receiver.count(), 1u);
  EXPECT_EQ(receiver.received()[0].header("host"), "[::1]:" + port);
}

// ---- retries and failures ----------------------------------------------------------------

TEST_F(NotifierTest, RetriesUntilA2xx) {
  Receiver receiver(pki().server, {500, 500, 200});
  auto notifier = start(options());
  notifier->setTargets({url(receiver.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().delivered == 1; }));
  EXPECT_EQ(notifier->counts().failed, 0u);
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 3u);
  // One message: the same id and body on every attempt, each attempt signed anew.
  for (const Received& r : got) {
    EXPECT_EQ(r.header("webhook-id"), got[0].header("webhook-id"));
    EXPECT_EQ(r.body, got[0].body);
    auto signature = crypto::unbase64(r.header("webhook-signature").substr(4));
    ASSERT_TRUE(signature.ok());
    EXPECT_TRUE(crypto::ed25519Verify(
                    key_->publicKey(),
                    r.header("webhook-id") + "." + r.header("webhook-timestamp") + "." + r.body,
                    *signature)
                    .ok());
  }
}

TEST_F(NotifierTest, FailsAfterEveryAttempt) {
  Receiver receiver(pki().server, {500});
  auto options = this->options();
  options.attempts = 3;
  auto notifier = start(options);
  notifier->setTargets({url(receiver.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().failed == 1; }));
  EXPECT_EQ(notifier->counts().delivered, 0u);
  EXPECT_EQ(receiver.count(), 3u);
}

TEST_F(NotifierTest, UnreachableFailsAndNotifyNeverBlocks) {
  // Bound but not listening: every connection is refused.
  asio::io_context ioc;
  tcp::socket closed(ioc);
  closed.open(tcp::v4());
  closed.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto options = this->options();
  options.max_queued = 4;
  options.attempts = 2;
  auto notifier = start(options);
  notifier->setTargets({url(closed.local_endpoint().port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().failed == 1; }));

  constexpr std::uint64_t kEvents = 2000;
  for (std::uint64_t i = 0; i < kEvents; ++i) notifier->notify(sampleEvent());
  EXPECT_GT(notifier->counts().dropped, 0u);
  // Every event is accounted for: failed after its attempts, or dropped.
  ASSERT_TRUE(eventually([&] {
    const auto c = notifier->counts();
    return c.failed + c.dropped == kEvents + 1;
  }));
  EXPECT_EQ(notifier->counts().delivered, 0u);
}

TEST_F(NotifierTest, AnswerBodyBounded) {
  Receiver receiver(pki().server, {200});
  auto options = this->options();
  options.attempts = 1;
  auto notifier = start(options);
  notifier->setTargets({url(receiver.port())});
  receiver.answerWith(std::string(webhook::kMaxAnswerBody, 'x'));
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().delivered == 1; }));
  // One byte more is not read: no answer, so not delivered.
  receiver.answerWith(std::string(webhook::kMaxAnswerBody + 1, 'x'));
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().failed == 1; }));
  EXPECT_EQ(receiver.count(), 2u);
}

TEST_F(NotifierTest, ReceiverFromAnotherCaFails) {
  Receiver receiver(pki().other_ca, {200});
  auto options = this->options();
  options.attempts = 2;
  auto notifier = start(options);
  notifier->setTargets({url(receiver.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().failed == 1; }));
  EXPECT_EQ(notifier->counts().delivered, 0u);
  EXPECT_EQ(receiver.count(), 0u);  // no request was ever sent to it
}

TEST_F(NotifierTest, CertificateForAnotherNameFails) {
  Receiver receiver(pki().other_name, {200});
  auto options = this->options();
  options.attempts = 1;
  auto notifier = start(options);
  notifier->setTargets({url(receiver.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().failed == 1; }));
  EXPECT_EQ(receiver.count(), 0u);
}

TEST_F(NotifierTest, SystemTrustStoreDoesNotTrustTheTestCa) {
  Receiver receiver(pki().server, {200});
  auto options = this->options();
  options.attempts = 1;
  options.ca_file.clear();
  auto notifier = start(options);
  notifier->setTargets({url(receiver.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().failed == 1; }));
  EXPECT_EQ(receiver.count(), 0u);
}

TEST_F(NotifierTest, UnreadableCaFileFails) {
  auto options = this->options();
  options.attempts = 1;
  options.ca_file = dir_.file("missing.pem");
  Receiver receiver(pki().server, {200});
  auto notifier = start(options);
  notifier->setTargets({url(receiver.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().failed == 1; }));
  EXPECT_EQ(receiver.count(), 0u);
}

// ---- stopping ----------------------------------------------------------------------------

TEST_F(NotifierTest, StopReturnsWhileTheReceiverHangs) {
  Receiver receiver(pki().server, {200}, /*hang=*/true);
  auto options = this->options();
  options.timeout_ms = 500;
  auto notifier = start(options);
  notifier->setTargets({url(receiver.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return receiver.count() == 1; }));  // the POST is in flight
  notifier->stop();                                                // bounded by timeout_ms
  EXPECT_EQ(notifier->counts().delivered, 0u);
  notifier->notify(sampleEvent());  // after stop: dropped, never blocks
  EXPECT_EQ(notifier->counts().dropped, 1u);
}

TEST_F(NotifierTest, StopInterruptsARetryWait) {
  Receiver receiver(pki().server, {500});
  auto options = this->options();
  options.first_retry_ms = 3'600'000;
  auto notifier = start(options);
  notifier->setTargets({url(receiver.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return receiver.count() == 1; }));
  // Let the answer reach the notifier, so it is waiting for the retry.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  notifier->stop();  // returns without waiting an hour
  notifier.reset();  // and the destructor stops again, harmlessly
  EXPECT_EQ(receiver.count(), 1u);
}

TEST_F(NotifierTest, ARetryWaitDoesNotHoldUpOtherTargets) {
  Receiver failing(pki().server, {500});
  Receiver working(pki().server, {200});
  auto options = this->options();
  options.first_retry_ms = 3'600'000;
  auto notifier = start(options);
  notifier->setTargets({url(failing.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return failing.count() == 1; }));
  notifier->setTargets({url(working.port())});
  notifier->notify(sampleEvent());
  ASSERT_TRUE(eventually([&] { return notifier->counts().delivered == 1; }));
  EXPECT_EQ(working.count(), 1u);
}

// ---- the signature, the URL parser -------------------------------------------------------

TEST(WebhookSignature, IsV1aBase64Ed25519OverIdTimestampBody) {
  auto key = crypto::Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  auto header = webhookSignature(*key, "msg_1", 1700000000, R"({"a":1})");
  ASSERT_TRUE(header.ok()) << header.status();
  ASSERT_THAT(*header, StartsWith("v1a,"));
  auto signature = crypto::unbase64(header->substr(4));
  ASSERT_TRUE(signature.ok());
  EXPECT_TRUE(
      crypto::ed25519Verify(key->publicKey(), R"(msg_1.1700000000.{"a":1})", *signature).ok());
  // Ed25519 is deterministic: the same input signs the same; any change signs differently.
  EXPECT_EQ(*webhookSignature(*key, "msg_1", 1700000000, R"({"a":1})"), *header);
  EXPECT_NE(*webhookSignature(*key, "msg_2", 1700000000, R"({"a":1})"), *header);
  EXPECT_NE(*webhookSignature(*key, "msg_1", 1700000001, R"({"a":1})"), *header);
}

TEST(HttpsUrl, Parses) {
  auto u = webhook::parseHttpsUrl("https://hooks.example.com/services/T0/B0?token=x#frag");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "hooks.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/services/T0/B0?token=x");
  EXPECT_EQ(u->hostHeader(), "hooks.example.com");
  EXPECT_EQ(u->forLog(), "https://hooks.example.com/services/T0/B0");

  u = webhook::parseHttpsUrl("HTTPS://10.0.0.1:8443");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "10.0.0.1");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->hostHeader(), "10.0.0.1:8443");

  u = webhook::parseHttpsUrl("https://[::1]:9443/h?x=1");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9443);
  EXPECT_EQ(u->hostHeader(), "[::1]:9443");
  EXPECT_EQ(u->forLog(), "https://[::1]:9443/h");

  u = webhook::parseHttpsUrl("https://[2001:db8::2]?q");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "2001:db8::2");
  EXPECT_EQ(u->target, "/?q");
}

TEST(HttpsUrl, Refuses) {
  for (const char* bad : {
           "http://example.com/",            // only https
           "ftp://example.com/",             //
           "https://",                       // no host
           "https:///path",                  //
           "https://user:pw@example.com/",   // credentials in a URL that is logged
           "https://example.com:0/",         // port out of range
           "https://example.com:65536/",     //
           "https://example.com:/",          // empty port
           "https://example.com:+80/",       //
           "https://[::1/",                  // unclosed bracket
           "https://[not-v6]/",              //
           "https://[::1]x/",                //
           "https://exa mple.com/",          // not a host name
           "https://example.com/a b",        // space in the request line
           "https://example.com/a\r\nX: y",  // header injection
       }) {
    EXPECT_FALSE(webhook::parseHttpsUrl(bad).ok()) << bad;
  }
}

// ---- the notify key in the data directory ------------------------------------------------

TEST(NotifyKey, MadeOnLoadPublishedAndKept) {
  TempDir dir;
  const std::string data = dir.file("controller");
  InitOptions init;
  init.data_dir = data;
  init.listen = "[::]:7443";
  init.advertise = "198.18.0.1:7443";
  auto made = initDataDir(init);
  ASSERT_TRUE(made.ok()) << made;

  auto keys = loadDataDir(data);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(modeOf(data + "/notify.key"), 0600u);
  EXPECT_EQ(modeOf(data + "/notify.pub"), 0644u);
  const std::string pub = *readFile(data + "/notify.pub");
  EXPECT_EQ(pub, "whpk_" + crypto::base64(keys->notify_key.publicKey()) + "\n");
  EXPECT_NE(keys->notify_key.publicKey(), keys->automation_key.publicKey());

  // Kept across loads; the public file rewritten when it is missing.
  ASSERT_EQ(::unlink((data + "/notify.pub").c_str()), 0);
  auto again = loadDataDir(data);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->notify_key.publicKey(), keys->notify_key.publicKey());
  EXPECT_EQ(*readFile(data + "/notify.pub"), pub);
}

}  // namespace
}  // namespace warden
