// scripts/bench-kill: `warden kill-sessions --user mallory` on a connected test host, against
// (a) a session of 1,000 processes (a shell and 999 children) and (b) a running fork loop.
// Measures the agent's time from the start of the kill to the last selected process gone
// (elapsed_us in the signed receipt: the kill loop only ends when a scan finds nothing selected
// alive) and the operator's time from CLI invocation to its exit, and checks after every kill,
// from outside the host, that none of mallory's processes is left.
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "tests/bench/agent_args.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kHost[] = "host-42";
constexpr int kSessionSize = 1000;

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

// "" when it cannot be read. With read(2), not an ifstream: a /proc file of a process that
// exits meanwhile fails with ESRCH, and libstdc++'s filebuf throws on that.
std::string readAll(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

// Live processes with login uid 1002 in the PID namespace of `host` (read from outside).
int countMallory(const TestHost& host) {
  struct stat ns_of_host {};
  if (::stat(absl::StrFormat("/proc/%d/ns/pid", host.initPid()).c_str(), &ns_of_host) != 0) {
    return -1;
  }
  int n = 0;
  DIR* dir = ::opendir("/proc");
  while (dirent* e = dir ? ::readdir(dir) : nullptr) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    const std::string base = std::string("/proc/") + e->d_name;
    struct stat ns {};
    if (::stat((base + "/ns/pid").c_str(), &ns) != 0 || ns.st_ino != ns_of_host.st_ino) continue;
    if (readAll(base + "/loginuid") != "1002") continue;
    const std::string stat = readAll(base + "/stat");
    const std::size_t close = stat.rfind(')');
    if (close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z') continue;
    ++n;
  }
  if (dir) ::closedir(dir);
  return n;
}

std::unique_ptr<WardenDeployment> deployment(benchmark::State& state) {
  auto d = WardenDeployment::create(absl::StrFormat("bk%d", getpid() % 100000), {{kHost, 42}});
  if (!d.ok()) {
    state.SkipWithError(std::string(d.status().message()).c_str());
    return nullptr;
  }
  TestHost& h = (*d)->host(kHost);
  auto passwd = h.readFile("/etc/passwd");
  if (!passwd.ok() ||
      !h.writeFile("/etc/passwd", *passwd + "mallory:x:1002:1002::/tmp:/bin/bash\n").ok() ||
      !(*d)->enroll(kHost).ok() || !(*d)->startAgent(kHost, benchAgentArgs()).ok()) {
    state.SkipWithError("agent did not start");
    return nullptr;
  }
  return std::move(*d);
}

std::vector<std::string> asMallory(const std::string& script) {
  return {"sh", "-c",
          "echo 1002 > /proc/self/loginuid && exec setpriv --reuid=1002 --regid=1002 "
          "--clear-groups -- bash -c '" +
              script + "'"};
}

// Kills mallory's processes; records agent and CLI times. False (and the state is marked)
// on failure.
bool killAndMeasure(benchmark::State& state, WardenDeployment& d, std::vector<double>& agent_ms,
                    std::vector<double>& cli_ms) {
  const absl::Time t0 = absl::Now();
  auto r = d.cli({"kill-sessions", kHost, "--user", "mallory", "--json"});
  const absl::Time t1 = absl::Now();
  if (!r.ok() || r->exit_code != 0) {
    state.SkipWithError("kill-sessions failed");
    if (r.ok()) std::fprintf(stderr, "%s%s\n", r->out.c_str(), r->err.c_str());
    return false;
  }
  const int left = countMallory(d.host(kHost));
  if (left != 0) {
    state.SkipWithError(absl::StrFormat("%d processes outlived kill-sessions", left).c_str());
    return false;
  }
  const std::size_t at = r->out.find("\"elapsed_us\": \"");
  if (at == std::string::npos) {
    state.SkipWithError("no elapsed_us in the receipt");
    return false;
  }
  agent_ms.push_back(std::atof(r->out.c_str() + at + 15) / 1000.0);
  cli_ms.push_back(absl::ToDoubleMilliseconds(t1 - t0));
  state.SetIterationTime(absl::ToDoubleSeconds(t1 - t0));
  return true;
}

void report(benchmark::State& state, const std::vector<double>& agent_ms,
            const std::vector<double>& cli_ms) {
  state.counters["agent_median_ms"] = percentile(agent_ms, 0.5);
  state.counters["agent_max_ms"] = percentile(agent_ms, 1.0);
  state.counters["cli_median_ms"] = percentile(cli_ms, 0.5);
  state.counters["cli_max_ms"] = percentile(cli_ms, 1.0);
  state.counters["runs"] = static_cast<double>(agent_ms.size());
}

void BM_KillSession1000(benchmark::State& state) {
  auto d = deployment(state);
  if (!d) return;
  TestHost& h = d->host(kHost);
  std::vector<double> agent_ms, cli_ms;
  for (auto _ : state) {
    auto p = h.spawn(asMallory(
        absl::StrFormat("for i in $(seq %d); do sleep 1000 & done; wait", kSessionSize - 1)));
    const absl::Time end = absl::Now() + absl::Seconds(60);
    while (countMallory(h) < kSessionSize && absl::Now() < end) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    if (!p.ok() || countMallory(h) != kSessionSize) {
      state.SkipWithError("could not start the session");
      return;
    }
    if (!killAndMeasure(state, *d, agent_ms, cli_ms)) return;
  }
  report(state, agent_ms, cli_ms);
}

void BM_KillForkLoop(benchmark::State& state) {
  auto d = deployment(state);
  if (!d) return;
  TestHost& h = d->host(kHost);
  std::vector<double> agent_ms, cli_ms;
  for (auto _ : state) {
    auto p = h.spawn(asMallory("while :; do sleep 1000 & done"));
    const absl::Time end = absl::Now() + absl::Seconds(10);
    while (countMallory(h) < 100 && absl::Now() < end) absl::SleepFor(absl::Milliseconds(5));
    if (!p.ok() || countMallory(h) < 100) {
      state.SkipWithError("the fork loop did not start");
      return;
    }
    if (!killAndMeasure(state, *d, agent_ms, cli_ms)) return;
  }
  report(state, agent_ms, cli_ms);
}

BENCHMARK(BM_KillSession1000)->Iterations(15)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_KillForkLoop)->Iterations(15)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace warden::testing

BENCHMARK_MAIN();
