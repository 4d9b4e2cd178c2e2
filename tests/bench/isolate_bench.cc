// scripts/bench-isolate: isolate/release cycles of a connected host on the namespace test
// fleet, measuring (a) CLI invocation -> verified receipt (the CLI's exit) and (b) CLI
// invocation -> the first probe packet that is dropped. A UDP prober in a peer host sends a
// numbered datagram every 100 us to an echo socket on the target; the first datagram sent
// after the CLI started whose echo never comes back marks the moment isolation took hold.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tests/bench/agent_args.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr std::uint16_t kEchoPort = 9000;
constexpr std::size_t kMaxProbes = 1 << 20;

struct Prober {
  int tx = -1;
  int echo = -1;
  std::vector<std::int64_t> sent_ns = std::vector<std::int64_t>(kMaxProbes, 0);
  std::vector<std::atomic<bool>> echoed = std::vector<std::atomic<bool>>(kMaxProbes);
  std::atomic<std::uint32_t> next{0};
  std::atomic<bool> stop{false};
  std::thread sender, receiver, echoer;

  static std::int64_t now() { return absl::GetCurrentTimeNanos(); }

  void run(const std::string& target_ip) {
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(kEchoPort);
    inet_pton(AF_INET, target_ip.c_str(), &dst.sin_addr);
    connect(tx, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
    echoer = std::thread([this] {
      char buf[64];
      while (!stop) {
        pollfd p{echo, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        sockaddr_storage from{};
        socklen_t len = sizeof(from);
        const ssize_t n =
            recvfrom(echo, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n > 0) sendto(echo, buf, n, 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
    receiver = std::thread([this] {
      std::uint32_t seq = 0;
      while (!stop) {
        pollfd p{tx, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        if (recv(tx, &seq, sizeof(seq), 0) == sizeof(seq) && seq < kMaxProbes) echoed[seq] = true;
      }
    });
    sender = std::thread([this] {
      while (!stop) {
        const std::uint32_t seq = next.load();
        if (seq >= kMaxProbes) break;
        sent_ns[seq] = now();
        send(tx, &seq, sizeof(seq), MSG_DONTWAIT);
        next = seq + 1;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    });
  }
  ~Prober() {
    stop = true;
    for (auto* t : {&sender, &receiver, &echoer}) {
      if (t->joinable()) t->join();
    }
    if (tx >= 0) close(tx);
    if (echo >= 0) close(echo);
  }
  // The send time of the first probe sent at or after `from_ns` that was never echoed.
  std::int64_t firstDropAfter(std::int64_t from_ns) const {
    const std::uint32_t end = next.load();
    for (std::uint32_t i = 0; i < end; ++i) {
      if (sent_ns[i] >= from_ns && !echoed[i]) return sent_ns[i];
    }
    return -1;
  }
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t idx =
      std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[idx];
}

void BM_IsolateReleaseCycle(benchmark::State& state) {
  auto d = WardenDeployment::create(absl::StrFormat("bench%d", getpid() % 10000),
                                    {{"host-41", 41}, {"host-42", 42}});
  if (!d.ok()) {
    state.SkipWithError(std::string(d.status().message()).c_str());
    return;
  }
  if (!(*d)->enroll("host-42").ok() || !(*d)->startAgent("host-42", benchAgentArgs()).ok()) {
    state.SkipWithError("agent did not start");
    return;
  }
  TestHost& peer = (*d)->host("host-41");
  TestHost& target = (*d)->host("host-42");
  Prober prober;
  auto tx = socketInHost(peer, AF_INET, SOCK_DGRAM);
  auto echo = socketInHost(target, AF_INET, SOCK_DGRAM);
  if (!tx.ok() || !echo.ok()) {
    state.SkipWithError("sockets");
    return;
  }
  prober.tx = *tx;
  prober.echo = *echo;
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(kEchoPort);
  bind(prober.echo, reinterpret_cast<sockaddr*>(&any), sizeof(any));
  prober.run(target.ipv4());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  std::vector<double> receipt_ms, drop_ms;
  int failures = 0;
  for (auto _ : state) {
    const std::int64_t t0 = Prober::now();
    auto iso = (*d)->cli({"isolate", "host-42"});
    const std::int64_t t1 = Prober::now();
    if (!iso.ok() || iso->exit_code != 0) {
      ++failures;
      const std::string why =
          "isolate failed: " + (iso.ok() ? iso->out + iso->err : iso.status().ToString());
      state.SkipWithError(why.c_str());
      break;
    }
    // Let late echoes of probes sent before the rules took hold arrive.
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    const std::int64_t drop = prober.firstDropAfter(t0);
    receipt_ms.push_back((t1 - t0) / 1e6);
    if (drop > 0) drop_ms.push_back((drop - t0) / 1e6);
    state.SetIterationTime((t1 - t0) / 1e9);
    auto rel = (*d)->cli({"release", "host-42"});
    if (!rel.ok() || rel->exit_code != 0) {
      state.SkipWithError("release failed");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  state.counters["receipt_median_ms"] = percentile(receipt_ms, 0.5);
  state.counters["receipt_p99_ms"] = percentile(receipt_ms, 0.99);
  state.counters["drop_median_ms"] = percentile(drop_ms, 0.5);
  state.counters["drop_p99_ms"] = percentile(drop_ms, 0.99);
  state.counters["cycles"] = static_cast<double>(receipt_ms.size());
  if (const char* out = std::getenv("WARDEN_BENCH_SAMPLES"); out != nullptr) {
    std::ofstream f(out);
    f << "receipt_ms,drop_ms\n";
    for (std::size_t i = 0; i < receipt_ms.size(); ++i) {
      f << receipt_ms[i] << "," << (i < drop_ms.size() ? drop_ms[i] : -1) << "\n";
    }
  }
}
BENCHMARK(BM_IsolateReleaseCycle)->Iterations(200)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace warden::testing

BENCHMARK_MAIN();
