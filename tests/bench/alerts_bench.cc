// scripts/bench-alerts: the alert intake's throughput and POST latency (DESIGN.md "Automation:
// quarantine triggered by alerts"), measured against a running controller over real HTTPS.
// scripts/bench-alerts starts the controller (its own network namespace is not needed: it
// listens on loopback and has no agent), adds the alert sources, enrolls one host that never
// connects and applies one dry-run rule that matches every alert; this program is the sender.
//
// Each client thread holds one TLS keep-alive connection (Boost.Beast, the server verified
// against the controller's ca.pem and its IP address) and POSTs to /v1/alerts/json. A 200 means
// every alert of the POST and its decision are durable in the action log. The POSTs rotate over
// all the sources given, so the intake's per-source rate limit (controller/alerts/alert_intake.h:
// 200 requests/s, burst 400) does not bound the numbers, except in BM_OneSource, which shows it.
// Every answer is checked: the decisions it names (dry-run, or deduplicated) or the 401.
//
// Usage: bench_alerts [benchmark flags] --intake=127.0.0.1:PORT --ca=DIR/ca.pem
//                     --tokens=FILE (one bearer token a line) --host=HOST [--controller-pid=PID]
#include <benchmark/benchmark.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace warden {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr char kPath[] = "/v1/alerts/json";

struct Target {
  std::string address;  // "127.0.0.1"
  std::uint16_t port = 0;
  std::string ca_file;
  std::vector<std::string> tokens;
  std::string host;  // the enrolled host the alerts name
  long controller_pid = 0;
  std::string run_id;  // makes this run's alerts distinct from any earlier run's
};

Target g_target;

// One keep-alive HTTPS connection. Reconnects when the server closes it (it keeps connections
// open between requests, so that is counted as an error by the caller if it happens).
class IntakeClient {
 public:
  explicit IntakeClient(const Target& t) : target_(t), ctx_(ssl::context::tls_client) {
    ctx_.load_verify_file(t.ca_file);
    ctx_.set_verify_mode(ssl::verify_peer);
  }

  // Opens the connection; false (with `error`) when it fails.
  bool connect(std::string* error) {
    stream_.emplace(ioc_, ctx_);
    beast::error_code ec;
    auto& tcp = beast::get_lowest_layer(*stream_);
    tcp.connect(tcp::endpoint(asio::ip::make_address(target_.address), target_.port), ec);
    if (!ec) tcp.socket().set_option(tcp::no_delay(true), ec);
    if (ec) {
      *error = "connect: " + ec.message();
      return false;
    }
    // The controller's certificate names its listen address (an IP SAN).
    X509_VERIFY_PARAM* param = SSL_get0_param(stream_->native_handle());
    if (X509_VERIFY_PARAM_set1_ip_asc(param, target_.address.c_str()) != 1) {
      *error = "cannot pin the server's address";
      return false;
    }
    stream_->handshake(ssl::stream_base::client, ec);
    if (ec) {
      *error = "TLS handshake: " + ec.message();
      return false;
    }
    buffer_.clear();
    return true;
  }

  // One POST; the HTTP status (0 on a transport error, with `error`) and the body.
  unsigned post(const std::string& token, const std::string& body, std::string* answer,
                unsigned* retry_after_s, std::string* error) {
    if (!stream_ && !connect(error)) return 0;
    http::request<http::string_body> req{http::verb::post, kPath, 11};
    req.set(http::field::host, target_.address);
    req.set(http::field::authorization, "Bearer " + token);
    req.set(http::field::content_type, "application/json");
    req.keep_alive(true);
    req.body() = body;
    req.prepare_payload();
    beast::error_code ec;
    http::write(*stream_, req, ec);
    http::response<http::string_body> res;
    if (!ec) http::read(*stream_, buffer_, res, ec);
    if (ec) {
      *error = "POST: " + ec.message();
      stream_.reset();
      return 0;
    }
    *answer = std::move(res.body());
    *retry_after_s = 0;
    if (auto it = res.find(http::field::retry_after); it != res.end()) {
      *retry_after_s = static_cast<unsigned>(std::atoi(std::string(it->value()).c_str()));
    }
    if (!res.keep_alive()) stream_.reset();
    return res.result_int();
  }

 private:
  const Target& target_;
  asio::io_context ioc_;
  ssl::context ctx_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

std::string rfc3339Now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char out[32];
  std::strftime(out, sizeof(out), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::atomic<std::uint64_t> g_next_alert{0};

// `n` alerts whose labels no other alert of this run (or an earlier one) carries: distinct
// fingerprints, so none is deduplicated.
std::string distinctAlerts(int n, const std::string& starts) {
  std::string body = "[";
  for (int i = 0; i < n; ++i) {
    const std::uint64_t seq = g_next_alert.fetch_add(1);
    if (i > 0) body += ",";
    body += R"({"labels":{"alertname":"BenchAlert","severity":"critical","hostname":")" +
            g_target.host + R"(","bench_run":")" + g_target.run_id + R"(","seq":")" +
            std::to_string(seq) + R"("},"startsAt":")" + starts + R"("})";
  }
  return body + "]";
}

// The one alert every BM_Duplicate POST carries (decided once per source in main's warm-up).
std::string duplicateAlert() {
  return R"([{"labels":{"alertname":"BenchAlert","severity":"critical","hostname":")" +
         g_target.host + R"(","bench_run":")" + g_target.run_id +
         R"(","seq":"duplicate"},"startsAt":")" + rfc3339Now() + R"("}])";
}

std::size_t countOf(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + what.size())) {
    ++n;
  }
  return n;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t idx =
      std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[idx];
}

// CPU seconds (user + system) the controller process has used so far; proc(5) fields 14, 15.
double controllerCpuSeconds() {
  if (g_target.controller_pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(g_target.controller_pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::strtoull(f.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(f.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// What the threads of one benchmark run share: their latencies and the controller's CPU time.
struct RunRecord {
  std::mutex mu;
  std::vector<double> latency_ms;
  double cpu_before = 0;
  Clock::time_point start;
};
RunRecord g_run;

enum class Kind { kDistinct, kDuplicate, kWrongToken, kOneSource };

// Runs one benchmark thread: `per_post` alerts per POST of the given kind.
void runIntake(benchmark::State& state, Kind kind, int per_post) {
  IntakeClient client(g_target);
  std::string error;
  // On failure the loop below runs no iteration; every thread still reaches the end, where
  // thread 0 waits for the others.
  if (!client.connect(&error)) state.SkipWithError(error.c_str());
  if (state.thread_index() == 0) {
    g_run.latency_ms.clear();
    g_run.cpu_before = controllerCpuSeconds();
    g_run.start = Clock::now();
  }
  const std::string starts = rfc3339Now();
  const std::string duplicate = duplicateAlert();
  const std::string wrong_token = "not-a-token-" + g_target.run_id;
  std::size_t next_token = static_cast<std::size_t>(state.thread_index());
  std::vector<double> latencies;
  double alerts = 0, posts = 0, rate_limited = 0;
  std::string answer;
  for (auto _ : state) {
    std::string body;
    switch (kind) {
      case Kind::kDistinct:
      case Kind::kOneSource:
        body = distinctAlerts(per_post, starts);
        break;
      case Kind::kDuplicate:
        body = duplicate;
        break;
      case Kind::kWrongToken:
        body = distinctAlerts(1, starts);
        break;
    }
    const std::string& token = kind == Kind::kWrongToken ? wrong_token
                               : kind == Kind::kOneSource
                                   ? g_target.tokens.front()
                                   : g_target.tokens[next_token++ % g_target.tokens.size()];
    unsigned status = 0, retry_after = 0;
    Clock::time_point t0;
    for (;;) {
      t0 = Clock::now();
      status = client.post(token, body, &answer, &retry_after, &error);
      if (status != 429) break;
      // Past the source's rate: a sender retries; the wait is not the intake's latency.
      ++rate_limited;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    const unsigned expected = kind == Kind::kWrongToken ? 401 : 200;
    if (status != expected) {
      const std::string why = "HTTP " + std::to_string(status) + " (expected " +
                              std::to_string(expected) + "): " + (status == 0 ? error : answer);
      state.SkipWithError(why.c_str());
      break;
    }
    if (kind != Kind::kWrongToken) {
      const char* decision =
          kind == Kind::kDuplicate ? R"("reason":"deduplicated")" : R"("decision":"dry-run")";
      if (countOf(answer, decision) != static_cast<std::size_t>(per_post)) {
        const std::string why = "unexpected decisions: " + answer.substr(0, 400);
        state.SkipWithError(why.c_str());
        break;
      }
      alerts += per_post;
    }
    posts += 1;
    latencies.push_back(ms);
  }
  {
    std::lock_guard<std::mutex> lock(g_run.mu);
    g_run.latency_ms.insert(g_run.latency_ms.end(), latencies.begin(), latencies.end());
  }
  if (kind != Kind::kWrongToken) {
    state.counters["alerts_per_s"] = benchmark::Counter(alerts, benchmark::Counter::kIsRate);
  }
  state.counters["posts_per_s"] = benchmark::Counter(posts, benchmark::Counter::kIsRate);
  state.counters["rate_limited"] = rate_limited;
  // Thread 0 reports the percentiles over every thread's latencies, so it waits here (outside
  // the timing) until all the others have added theirs.
  static std::atomic<int> done{0};
  done.fetch_add(1);
  if (state.thread_index() == 0) {
    while (done.load() < state.threads()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    done.store(0);
    const double wall = std::chrono::duration<double>(Clock::now() - g_run.start).count();
    const double cpu = controllerCpuSeconds() - g_run.cpu_before;
    std::lock_guard<std::mutex> lock(g_run.mu);
    state.counters["p50_ms"] = percentile(g_run.latency_ms, 0.50);
    state.counters["p99_ms"] = percentile(g_run.latency_ms, 0.99);
    state.counters["max_ms"] = percentile(g_run.latency_ms, 1.0);
    if (g_target.controller_pid > 0 && wall > 0) {
      state.counters["ctrl_cores"] = cpu / wall;  // controller CPU seconds per second
      const double units = kind == Kind::kWrongToken
                               ? static_cast<double>(g_run.latency_ms.size())
                               : static_cast<double>(g_run.latency_ms.size()) * per_post;
      if (units > 0) state.counters["ctrl_cpu_us_per_item"] = cpu / units * 1e6;
    }
  }
}

void BM_Distinct(benchmark::State& state) {
  runIntake(state, Kind::kDistinct, static_cast<int>(state.range(0)));
}
void BM_Duplicate(benchmark::State& state) { runIntake(state, Kind::kDuplicate, 1); }
void BM_WrongToken(benchmark::State& state) { runIntake(state, Kind::kWrongToken, 1); }
void BM_OneSource(benchmark::State& state) { runIntake(state, Kind::kOneSource, 1); }

// At least 5 s per case (the first, shorter runs that size it add ~50%): the rates on this
// 2-core machine swing with its disk's fdatasync latency (0.1-4 ms), so fixed iteration counts
// would make the run take anywhere from 20 s to 10 minutes.
constexpr double kMinSeconds = 5.0;
BENCHMARK(BM_Distinct)
    ->ArgName("alerts_per_post")
    ->Arg(1)
    ->Threads(1)
    ->Threads(4)
    ->Threads(16)
    ->MinTime(kMinSeconds)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Distinct)
    ->ArgName("alerts_per_post")
    ->Arg(100)
    ->Threads(4)
    ->MinTime(kMinSeconds)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Duplicate)
    ->Threads(4)
    ->MinTime(kMinSeconds)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WrongToken)
    ->Threads(4)
    ->MinTime(kMinSeconds)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OneSource)
    ->Threads(4)
    ->MinTime(kMinSeconds)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Not timed: TLS sessions, the controller's caches and SQLite pages warm, and the duplicate
// alert decided once for every source (so every BM_Duplicate POST is deduplicated).
bool warmUp() {
  IntakeClient client(g_target);
  std::string error, answer;
  if (!client.connect(&error)) {
    std::fprintf(stderr, "warm-up: %s\n", error.c_str());
    return false;
  }
  const std::string starts = rfc3339Now();
  const std::string duplicate = duplicateAlert();
  unsigned retry_after = 0;
  for (std::size_t i = 0; i < g_target.tokens.size(); ++i) {
    const std::string& token = g_target.tokens[i];
    for (const std::string& body : {distinctAlerts(10, starts), duplicate}) {
      const unsigned status = client.post(token, body, &answer, &retry_after, &error);
      if (status != 200) {
        std::fprintf(stderr, "warm-up: HTTP %u: %s\n", status,
                     status == 0 ? error.c_str() : answer.c_str());
        return false;
      }
    }
  }
  return true;
}

bool parseFlags(int argc, char** argv) {
  std::string intake, tokens;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&](std::string_view name, std::string* out) {
      if (a.substr(0, name.size()) != name) return false;
      *out = std::string(a.substr(name.size()));
      return true;
    };
    std::string pid;
    if (value("--intake=", &intake) || value("--ca=", &g_target.ca_file) ||
        value("--tokens=", &tokens) || value("--host=", &g_target.host)) {
      continue;
    }
    if (value("--controller-pid=", &pid)) {
      g_target.controller_pid = std::atol(pid.c_str());
      continue;
    }
    std::fprintf(stderr, "bench_alerts: unknown argument %s\n", argv[i]);
    return false;
  }
  const std::size_t colon = intake.rfind(':');
  if (colon == std::string::npos || g_target.ca_file.empty() || tokens.empty() ||
      g_target.host.empty()) {
    std::fprintf(stderr,
                 "usage: bench_alerts [benchmark flags] --intake=ADDR:PORT --ca=FILE "
                 "--tokens=FILE --host=HOST [--controller-pid=PID]\n");
    return false;
  }
  g_target.address = intake.substr(0, colon);
  g_target.port = static_cast<std::uint16_t>(std::atoi(intake.c_str() + colon + 1));
  std::ifstream in(tokens);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) g_target.tokens.push_back(line);
  }
  if (g_target.tokens.empty()) {
    std::fprintf(stderr, "bench_alerts: no tokens in %s\n", tokens.c_str());
    return false;
  }
  std::random_device rd;
  g_target.run_id = std::to_string(rd()) + std::to_string(rd());
  return true;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (!warden::parseFlags(argc, argv)) return 2;
  if (!warden::warmUp()) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
