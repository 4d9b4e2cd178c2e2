#include "tests/bench/machine_load.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "tests/support/process.h"

namespace warden::testing {
namespace {

constexpr double kQuietBusy = 0.1;  // CPU seconds per second, all cores together
constexpr auto kQuietWait = std::chrono::minutes(10);

std::string readAll(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// utime + stime (clock ticks) from a /proc/.../stat line; -1 if unreadable.
std::int64_t statTicks(const std::string& path) {
  const std::string s = readAll(path);
  const std::size_t close = s.rfind(')');
  if (close == std::string::npos) return -1;
  std::vector<std::string> f = absl::StrSplit(s.substr(close + 2), ' ');
  // After the comm: state is field 3, utime 14 and stime 15 (proc(5)).
  std::int64_t utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &utime) || !absl::SimpleAtoi(f[12], &stime)) {
    return -1;
  }
  return utime + stime;
}

}  // namespace

MachineCpu MachineCpu::now() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                steal = 0;
  f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  return {static_cast<double>(user + nice + system + irq + softirq + steal) / hz,
          static_cast<double>(iowait) / hz};
}

bool waitQuiet(const std::atomic<bool>& stop) {
  const auto until = std::chrono::steady_clock::now() + kQuietWait;
  bool said = false;
  while (!stop) {
    const MachineCpu a = MachineCpu::now();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const double busy = MachineCpu::now().busy - a.busy;
    if (busy < kQuietBusy) return true;
    if (std::chrono::steady_clock::now() >= until) {
      absl::FPrintF(stderr,
                    "bench_image: the machine stayed busy (%.0f%% of a core); measuring "
                    "anyway\n",
                    busy * 100);
      return false;
    }
    if (!said) {
      absl::FPrintF(stderr,
                    "bench_image: waiting for the machine to be quiet (%.0f%% of a core "
                    "busy)\n",
                    busy * 100);
      said = true;
    }
  }
  return false;
}

bool coldStart(const std::string& device, const std::atomic<bool>& stop) {
  ::sync();
  (void)run({"blockdev", "--flushbufs", device});
  std::ofstream("/proc/sys/vm/drop_caches") << "1\n";
  return waitQuiet(stop);
}

double childrenCpu() {
  struct rusage ru {};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

void CpuSampler::start() {
  threads_.clear();
  processes_.clear();
  sample(/*baseline=*/true);
  stop_ = false;
  thread_ = std::thread([this] {
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      sample(false);
    }
  });
}

CpuUse CpuSampler::stop() {
  stop_ = true;
  thread_.join();
  sample(false);
  const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
  CpuUse out;
  std::map<pid_t, double> seen_by_process;
  for (const auto& [key, t] : threads_) {
    const double s = static_cast<double>(t.last - t.first) / hz;
    if (s <= 0) continue;
    const std::string name = t.label + "/" + t.comm;
    out.seconds[name] += s;
    ++out.threads[name];
    seen_by_process[key.first] += s;
    if (s > out.busiest_s) {
      out.busiest = name;
      out.busiest_s = s;
    }
  }
  for (const auto& [pid, p] : processes_) {
    const double total = static_cast<double>(p.last - p.first) / hz;
    out.seconds[p.label] += total;
    const double ended = total - seen_by_process[pid];
    if (ended > 0.005) out.seconds[p.label + "/(ended)"] += ended;
  }
  return out;
}

void CpuSampler::sample(bool baseline) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    pid_t pid = 0;
    if (!absl::SimpleAtoi(name, &pid)) continue;
    const std::string base = "/proc/" + name;
    std::error_code lec;
    std::string exe = std::filesystem::read_symlink(base + "/exe", lec).string();
    if (lec) continue;
    // A binary rebuilt while the deployment runs shows as "PATH (deleted)" (proc(5)).
    constexpr std::string_view kDeleted = " (deleted)";
    if (exe.ends_with(kDeleted)) exe.resize(exe.size() - kDeleted.size());
    auto b = binaries_.find(exe);
    if (b == binaries_.end()) continue;
    struct stat ns {};
    if (::stat((base + "/ns/pid").c_str(), &ns) != 0 || namespaces_.count(ns.st_ino) == 0) {
      continue;
    }
    const std::int64_t total = statTicks(base + "/stat");
    if (total < 0) continue;
    auto [p, fresh] = processes_.try_emplace(pid, Counter{b->second, "", total, total});
    if (!fresh || !baseline) p->second.last = total;
    if (fresh && !baseline) p->second.first = 0;  // started after start(): all of it counts
    std::error_code tec;
    for (const auto& t : std::filesystem::directory_iterator(base + "/task", tec)) {
      pid_t tid = 0;
      if (!absl::SimpleAtoi(t.path().filename().string(), &tid)) continue;
      const std::int64_t ticks = statTicks(t.path().string() + "/stat");
      if (ticks < 0) continue;
      std::string comm(absl::StripTrailingAsciiWhitespace(readAll(t.path().string() + "/comm")));
      auto [c, new_thread] =
          threads_.try_emplace({pid, tid}, Counter{b->second, comm, ticks, ticks});
      if (new_thread && !baseline) c->second.first = 0;
      c->second.last = std::max(c->second.last, ticks);
    }
  }
}

}  // namespace warden::testing
