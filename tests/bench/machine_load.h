// How busy the machine is, and how much CPU the deployment's own processes use, while
// bench_image times a command: a run during which something else used the CPU is done again.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>

namespace warden::testing {

// Busy and I/O-wait CPU seconds of the whole machine so far (/proc/stat, proc(5)).
struct MachineCpu {
  double busy = 0;
  double iowait = 0;
  static MachineCpu now();
};

// Waits (at most 10 minutes, or until `stop`) until the machine is idle for a second: on 2
// cores a compiler or a test suite running next to the bench would halve either side. Returns
// false if it never was.
bool waitQuiet(const std::atomic<bool>& stop);

// Nothing of an earlier run in the page cache, nothing of it still being written back, and
// nothing else running (waitQuiet).
bool coldStart(const std::string& device, const std::atomic<bool>& stop);

// CPU seconds (user + system) of this process's waited-for children so far.
double childrenCpu();

// CPU seconds used during one command.
struct CpuUse {
  // "agent", "controller", "cli" (whole processes, threads that ended included) and
  // "LABEL/THREAD NAME" (summed over the threads of that name, e.g. gRPC's pool).
  std::map<std::string, double> seconds;
  std::map<std::string, int> threads;  // how many threads (that used CPU) behind each name
  std::string busiest;                 // the one thread that used the most, "LABEL/NAME"
  double busiest_s = 0;
  double of(const std::string& key) const {
    auto it = seconds.find(key);
    return it == seconds.end() ? 0 : it->second;
  }
};

// Per-thread CPU time of the deployment's warden processes while a command runs.
class CpuSampler {
 public:
  // `binaries`: executable path -> label; `pid_namespaces`: inodes of the fleet's PID
  // namespaces.
  CpuSampler(std::map<std::string, std::string> binaries, std::set<ino_t> pid_namespaces)
      : binaries_(std::move(binaries)), namespaces_(std::move(pid_namespaces)) {}
  void start();
  // CPU time since start(). Threads that ended between two samples count under
  // "LABEL/(ended)".
  CpuUse stop();

 private:
  struct Counter {
    std::string label;
    std::string comm;
    std::int64_t first = 0;
    std::int64_t last = 0;
  };
  void sample(bool baseline);

  const std::map<std::string, std::string> binaries_;
  const std::set<ino_t> namespaces_;
  std::map<std::pair<pid_t, pid_t>, Counter> threads_;
  std::map<pid_t, Counter> processes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace warden::testing
