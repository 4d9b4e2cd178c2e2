// scripts/bench-image: disk imaging throughput. A read-only loop device over 2 GiB of random
// data is read, in one run, by
//   (a) `dd if=DEV bs=4M iflag=direct status=none | sha256sum` on the machine itself, and
//   (b) `warden image host-42 DEV --json` end to end: CLI start to signed receipt, the agent on
//       host-42 reading with O_DIRECT and hashing, the chunks crossing mutual TLS, the
//       controller hashing, writing and fdatasyncing them into its evidence store.
// The two alternate (dd first in odd runs, warden first in even ones), each after `sync`,
// `blockdev --flushbufs DEV`, dropping the page cache and waiting for the machine to be idle; a
// run during which something else used the CPU is done again. The loop device reads its backing
// file with O_DIRECT too (losetup --direct-io=on), so every read reaches the disk, as it would
// on a real one. Both results are checked against the SHA-256 computed while the data was
// written: a run that hashes wrong fails the benchmark instead of being timed.
//
//   bench_image [--size-mib N] [--runs R]
//
// A plain main, not Google Benchmark: one repetition is two different commands of several
// seconds each, interleaved, and the result is a ratio of medians; Benchmark's iteration loop
// would time only one of them and add nothing but parsing. Prints a human summary, then
// "key=value" lines for the script. 1 MB = 10^6 bytes.
//
// While `warden image` runs, a sampler reads the CPU time of every thread of the deployment's
// warden-agent, warden-controller and warden processes (10 Hz, from /proc, only processes in
// the fleet's PID namespaces, so other test fleets on the machine are not counted), to say
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/json.h"
#include "tests/bench/machine_load.h"
#include "tests/bench/random_loop_device.h"
#include "tests/support/fleet.h"
#include "tests/support/json_lookup.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kHost[] = "host-42";
constexpr int kAttempts = 3;  // per measured run, when other work disturbs it

std::atomic<bool> g_stop{false};  // SIGINT/SIGTERM: finish the command in flight, clean up

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The value of the first JSON string member named KEY or ending in ".KEY" (the receipt's
// details are "EVIDENCE_ID.controller_sha256": "..."), or "".
std::string jsonValue(const std::string& json, const std::string& key) {
  const Json doc = parseOrNull(json);
  for (const auto& matches : {std::function<bool(const std::string&)>(
                                  [&](const std::string& name) { return name == key; }),
                              std::function<bool(const std::string&)>([&](const std::string& name) {
                                return absl::EndsWith(name, "." + key);
                              })}) {
    const Json* v = firstMember(doc, [&](const std::string& name, const Json& value) {
      return value.is_string() && matches(name);
    });
    if (v != nullptr) return v->get<std::string>();
  }
  return "";
}

struct Run {
  double seconds = 0;
  double mbps = 0;
  double machine_busy_s = 0;  // all CPUs, all processes
  double machine_iowait_s = 0;
  bool quiet = true;     // the machine was idle just before
  double own_cpu_s = 0;  // dd + sha256sum, or the sampled warden processes
  CpuUse cpu;            // warden runs
  // CPU that neither the command nor the kernel working for it (loop, block and network
  // softirq work: ~0.1 s per second of a warden run) can account for: something else ran.
  bool disturbed() const {
    return !quiet || machine_busy_s - own_cpu_s > kDisturbedShare * seconds;
  }
  static constexpr double kDisturbedShare = 0.25;

  // A run of `size` bytes that took t0..t1, the machine's CPU counters sampled around it.
  static Run timed(bool quiet, std::uint64_t size, std::chrono::steady_clock::time_point t0,
                   std::chrono::steady_clock::time_point t1, const MachineCpu& m0,
                   const MachineCpu& m1) {
    Run out;
    out.quiet = quiet;
    out.seconds = ::warden::testing::seconds(t1 - t0);
    out.mbps = static_cast<double>(size) / out.seconds / 1e6;
    out.machine_busy_s = m1.busy - m0.busy;
    out.machine_iowait_s = m1.iowait - m0.iowait;
    return out;
  }
};

struct Options {
  std::uint64_t size = std::uint64_t{2048} << 20;
  int runs = 3;
};

absl::StatusOr<Run> ddRun(const std::string& device, std::uint64_t size,
                          const std::string& expected) {
  const bool quiet = coldStart(device, g_stop);
  const MachineCpu m0 = MachineCpu::now();
  const double c0 = childrenCpu();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run({"bash", "-c",
                absl::StrFormat("set -o pipefail; dd if=%s bs=4M iflag=direct status=none | "
                                "sha256sum",
                                device)},
               absl::Minutes(30));
  const auto t1 = std::chrono::steady_clock::now();
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) return absl::InternalError("dd | sha256sum failed: " + r->err);
  const std::string got = r->out.substr(0, 64);
  if (got != expected) {
    return absl::DataLossError(
        absl::StrFormat("dd | sha256sum gave %s, expected %s", got, expected));
  }
  Run out = Run::timed(quiet, size, t0, t1, m0, MachineCpu::now());
  out.own_cpu_s = childrenCpu() - c0;
  return out;
}

absl::StatusOr<Run> wardenRun(WardenDeployment& d, CpuSampler& sampler, const std::string& device,
                              std::uint64_t size, const std::string& expected, bool show_json) {
  const bool quiet = coldStart(device, g_stop);
  const MachineCpu m0 = MachineCpu::now();
  sampler.start();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = d.cli({"image", kHost, device, "--json"}, absl::Minutes(30));
  const auto t1 = std::chrono::steady_clock::now();
  CpuUse cpu = sampler.stop();
  const MachineCpu m1 = MachineCpu::now();
  if (!r.ok()) return r.status();
  if (show_json) absl::FPrintF(stderr, "first receipt:\n%s\n", r->out.c_str());
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrFormat("warden image exited %d: %s%s\n%s", r->exit_code,
                                               r->out, r->err, d.controllerLog()));
  }
  const std::string agent_sha = jsonValue(r->out, "sha256");
  const std::string controller_sha = jsonValue(r->out, "controller_sha256");
  if (controller_sha != expected || agent_sha != expected) {
    return absl::DataLossError(
        absl::StrFormat("warden image: agent sha256 %s, controller_sha256 %s, expected %s",
                        agent_sha, controller_sha, expected));
  }
  // The stored copy: the full size. Then it goes (each run is a new action and a new item).
  const std::string store = d.dataDir() + "/evidence";
  (void)run({"chattr", "-R", "-i", store});
  int images = 0;
  for (const auto& e : std::filesystem::directory_iterator(store)) {
    if (e.path().extension() != ".img") continue;
    ++images;
    if (e.file_size() != size) {
      return absl::DataLossError(absl::StrFormat("%s holds %d bytes, expected %d",
                                                 e.path().string(), e.file_size(), size));
    }
    std::filesystem::remove(e.path());
  }
  if (images != 1) {
    return absl::InternalError(
        absl::StrFormat("%d stored images in %s, expected 1", images, store));
  }
  Run out = Run::timed(quiet, size, t0, t1, m0, m1);
  for (const char* p : {"agent", "controller", "cli"}) out.own_cpu_s += cpu.of(p);
  out.cpu = std::move(cpu);
  return out;
}

int runBench(const Options& o) {
  auto created =
      WardenDeployment::create(absl::StrFormat("bimg%d", getpid() % 10000), {{kHost, 42}});
  if (!created.ok()) {
    absl::FPrintF(stderr, "bench_image: deployment: %s\n", created.status().ToString().c_str());
    return 1;
  }
  WardenDeployment& d = **created;
  LiftImmutable unlock{d.dataDir() + "/evidence"};
  if (auto s = d.enroll(kHost); !s.ok()) {
    absl::FPrintF(stderr, "bench_image: enroll: %s\n", s.ToString().c_str());
    return 1;
  }
  if (auto s = d.startAgent(kHost); !s.ok()) {
    absl::FPrintF(stderr, "bench_image: agent: %s\n%s\n", s.ToString().c_str(),
                  d.agentLog(kHost).c_str());
    return 1;
  }

  const std::string backing = d.controllerHost().dir() + "/disk.img";
  const std::uint64_t seed = std::random_device{}();
  const auto g0 = std::chrono::steady_clock::now();
  auto expected = writeRandomFile(backing, o.size, seed);
  if (!expected.ok()) {
    absl::FPrintF(stderr, "bench_image: %s\n", expected.status().ToString().c_str());
    return 1;
  }
  absl::PrintF("wrote %d MiB of random data (seed %d) in %.1f s, sha256 %s\n", o.size >> 20, seed,
               seconds(std::chrono::steady_clock::now() - g0), expected->c_str());
  auto loop = LoopDevice::attach(backing);
  if (!loop.ok()) {
    absl::FPrintF(stderr, "bench_image: %s\n", loop.status().ToString().c_str());
    return 1;
  }
  const std::string& device = (*loop)->name();
  absl::PrintF("device %s (read-only, loop direct I/O %s, detached when the bench ends)\n",
               device.c_str(), (*loop)->directIo() ? "on" : "off");

  std::set<ino_t> namespaces;
  for (TestHost* h : {&d.controllerHost(), &d.host(kHost)}) {
    struct stat ns {};
    if (::stat(absl::StrFormat("/proc/%d/ns/pid", h->initPid()).c_str(), &ns) == 0) {
      namespaces.insert(ns.st_ino);
    }
  }
  CpuSampler sampler({{wardenBinary("warden-agent"), "agent"},
                      {wardenBinary("warden-controller"), "controller"},
                      {wardenBinary("warden"), "cli"}},
                     namespaces);

  std::vector<Run> dd, wd;
  int disturbed = 0;  // runs kept although something else ran during them
  for (int i = 0; i < o.runs && !g_stop; ++i) {
    // Alternate the order, so that neither always runs right after the other.
    for (int k = 0; k < 2 && !g_stop; ++k) {
      const bool dd_now = (i % 2 == 0) == (k == 0);
      // A run that other work disturbed is done again (twice at most), so that the medians
      // come from runs that had the machine to themselves.
      for (int attempt = 1; attempt <= kAttempts && !g_stop; ++attempt) {
        auto r = dd_now ? ddRun(device, o.size, *expected)
                        : wardenRun(d, sampler, device, o.size, *expected, wd.empty());
        if (!r.ok()) {
          absl::FPrintF(stderr, "bench_image: run %d: %s\n", i + 1, r.status().ToString());
          return 1;
        }
        const bool again = r->disturbed() && attempt < kAttempts;
        const std::string note = !r->disturbed() ? ""
                                 : again         ? "  [disturbed by other work: not counted, again]"
                                                 : "  [disturbed by other work]";
        if (dd_now) {
          absl::PrintF(
              "run %d  dd | sha256sum  %7.2f s  %7.1f MB/s  (dd + sha256sum CPU %.2f s; "
              "machine busy %.2f s, iowait %.2f s)%s\n",
              i + 1, r->seconds, r->mbps, r->own_cpu_s, r->machine_busy_s, r->machine_iowait_s,
              note);
        } else {
          absl::PrintF(
              "run %d  warden image   %7.2f s  %7.1f MB/s  (agent %.2f s, controller %.2f "
              "s, CLI %.2f s CPU; machine busy %.2f s, iowait %.2f s)%s\n",
              i + 1, r->seconds, r->mbps, r->cpu.of("agent"), r->cpu.of("controller"),
              r->cpu.of("cli"), r->machine_busy_s, r->machine_iowait_s, note);
        }
        std::fflush(stdout);
        if (again) continue;
        if (r->disturbed()) ++disturbed;
        (dd_now ? dd : wd).push_back(*r);
        break;
      }
    }
  }
  if (g_stop || dd.empty() || wd.empty()) {
    absl::FPrintF(stderr, "bench_image: interrupted\n");
    return 1;
  }

  auto rates = [](const std::vector<Run>& runs) {
    std::vector<double> v;
    for (const Run& r : runs) v.push_back(r.mbps);
    return v;
  };
  auto list = [](const std::vector<double>& v) {
    return absl::StrJoin(v, ",",
                         [](std::string* out, double x) { absl::StrAppendFormat(out, "%.1f", x); });
  };
  const double dd_median = median(rates(dd));
  const double wd_median = median(rates(wd));
  // CPU of the warden run closest to the median, per thread, largest first.
  const Run* typical = &wd[0];
  for (const Run& r : wd) {
    if (std::abs(r.mbps - wd_median) < std::abs(typical->mbps - wd_median)) typical = &r;
  }
  std::vector<std::pair<double, std::string>> threads;
  for (const auto& [k, v] : typical->cpu.seconds) {
    if (k.find('/') == std::string::npos || v < 0.01) continue;
    auto n = typical->cpu.threads.find(k);
    threads.emplace_back(v, n != typical->cpu.threads.end() && n->second > 1
                                ? absl::StrFormat("%s (%d threads)", k, n->second)
                                : k);
  }
  std::sort(threads.rbegin(), threads.rend());
  std::vector<double> dd_cpu;
  for (const Run& r : dd) dd_cpu.push_back(r.own_cpu_s);

  absl::PrintF(
      "\nmedian of %d runs (1 MB = 10^6 bytes): dd | sha256sum %.1f MB/s, warden image "
      "%.1f MB/s, warden/dd %.2f\n",
      static_cast<int>(wd.size()), dd_median, wd_median, wd_median / dd_median);
  absl::PrintF("CPU seconds of the median warden run (%.2f s wall, %d cores):\n", typical->seconds,
               static_cast<int>(std::thread::hardware_concurrency()));
  for (const auto& [v, k] : threads) absl::PrintF("  %-44s %6.2f\n", k, v);
  absl::PrintF("  busiest single thread: %s, %.2f s\n", typical->cpu.busiest,
               typical->cpu.busiest_s);

  absl::PrintF("\nsize_bytes=%d\n", o.size);
  absl::PrintF("runs=%d\n", static_cast<int>(wd.size()));
  absl::PrintF("busy_runs=%d\n", disturbed);
  absl::PrintF("loop_direct_io=%d\n", (*loop)->directIo() ? 1 : 0);
  absl::PrintF("dd_mbps=%s\n", list(rates(dd)).c_str());
  absl::PrintF("warden_mbps=%s\n", list(rates(wd)).c_str());
  absl::PrintF("dd_median_mbps=%.1f\n", dd_median);
  absl::PrintF("warden_median_mbps=%.1f\n", wd_median);
  absl::PrintF("ratio=%.3f\n", wd_median / dd_median);
  absl::PrintF("dd_cpu_s=%.2f\n", median(dd_cpu));
  absl::PrintF("warden_seconds=%.2f\n", typical->seconds);
  absl::PrintF("warden_cpu_agent_s=%.2f\n", typical->cpu.of("agent"));
  absl::PrintF("warden_cpu_controller_s=%.2f\n", typical->cpu.of("controller"));
  absl::PrintF("warden_cpu_cli_s=%.2f\n", typical->cpu.of("cli"));
  absl::PrintF("warden_busiest_thread=%s:%.2f\n", typical->cpu.busiest, typical->cpu.busiest_s);
  absl::PrintF("warden_machine_busy_s=%.2f\n", typical->machine_busy_s);
  absl::PrintF("warden_threads=%s\n",
               absl::StrJoin(threads, ";", [](std::string* out, const auto& t) {
                 absl::StrAppendFormat(out, "%s:%.2f", t.second, t.first);
               }).c_str());
  return 0;
}

}  // namespace
}  // namespace warden::testing

int main(int argc, char** argv) {
  warden::testing::Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::uint64_t v = 0;
    if (a == "--size-mib" && i + 1 < argc && absl::SimpleAtoi(argv[++i], &v) && v > 0) {
      o.size = v << 20;
    } else if (a == "--runs" && i + 1 < argc && absl::SimpleAtoi(argv[++i], &v) && v > 0) {
      o.runs = static_cast<int>(v);
    } else {
      absl::FPrintF(stderr, "usage: bench_image [--size-mib N] [--runs R]\n");
      return 2;
    }
  }
  if (::geteuid() != 0) {
    absl::FPrintF(stderr, "bench_image: needs root (loop devices, namespaces, drop_caches)\n");
    return 2;
  }
  // Finish the command in flight and clean up (the fleet, the loop device, the immutable
  // evidence) rather than dying half way.
  struct sigaction sa {};
  sa.sa_handler = [](int) { warden::testing::g_stop = true; };
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  return warden::testing::runBench(o);
}
