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
// where the time goes.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kHost[] = "host-42";
constexpr int kAttempts = 3;  // per measured run, when other work disturbs it
constexpr std::size_t kWriteBlock = 4 << 20;

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

std::string readAll(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// xoshiro256** (Blackman and Vigna): fast, and its output does not compress.
class Xoshiro256 {
 public:
  explicit Xoshiro256(std::uint64_t seed) {
    for (auto& s : s_) {  // splitmix64 expands the seed
      seed += 0x9E3779B97F4A7C15ull;
      std::uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      s = z ^ (z >> 31);
    }
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// Writes `size` random bytes to `path`, syncs them and drops them from the page cache.
// Returns their SHA-256 (hex).
absl::StatusOr<std::string> writeRandomFile(const std::string& path, std::uint64_t size,
                                            std::uint64_t seed) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return errnoStatus(errno, "create " + path);
  Xoshiro256 rng(seed);
  crypto::Sha256 hash;
  std::vector<std::uint64_t> block(kWriteBlock / 8);
  absl::Status status;
  for (std::uint64_t done = 0; done < size && status.ok();) {
    for (auto& w : block) w = rng.next();
    const std::size_t n =
        static_cast<std::size_t>(std::min<std::uint64_t>(kWriteBlock, size - done));
    const char* p = reinterpret_cast<const char*>(block.data());
    hash.update(std::string_view(p, n));
    for (std::size_t at = 0; at < n;) {
      const ssize_t w = ::write(fd, p + at, n - at);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        status = errnoStatus(errno, "write " + path);
        break;
      }
      at += static_cast<std::size_t>(w);
    }
    done += n;
  }
  if (status.ok() && ::fdatasync(fd) != 0) status = errnoStatus(errno, "sync " + path);
  if (status.ok()) (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (!status.ok()) return status;
  return crypto::hex(hash.finish());
}

// A read-only loop device over a file. Right after attaching, the bench opens it and asks
// `losetup -d` to detach it: the device is busy, so the kernel only sets LO_FLAGS_AUTOCLEAR and
// detaches it when the last opener closes it (loop(4)). That opener is this object, so the
// device goes away with it on every exit path, a crash or SIGKILL of the bench included.
class LoopDevice {
 public:
  static absl::StatusOr<std::unique_ptr<LoopDevice>> attach(const std::string& backing) {
    auto a = run({"losetup", "--find", "--show", "--read-only", "--direct-io=on", backing});
    if (!a.ok()) return a.status();
    if (a->exit_code != 0) {
      return absl::InternalError("losetup " + backing + ": " + a->err);
    }
    std::unique_ptr<LoopDevice> d(new LoopDevice());
    d->name_ = std::string(absl::StripAsciiWhitespace(a->out));
    d->fd_ = ::open(d->name_.c_str(), O_RDONLY | O_CLOEXEC);
    if (d->fd_ < 0) {
      const int err = errno;
      (void)run({"losetup", "-d", d->name_});
      return errnoStatus(err, "open " + d->name_);
    }
    auto detach = run({"losetup", "-d", d->name_});
    if (!detach.ok() || detach->exit_code != 0) {
      return absl::InternalError("losetup -d " + d->name_ + " (autoclear) failed");
    }
    auto dio = run({"losetup", "--noheadings", "--output", "DIO", d->name_});
    d->direct_io_ = dio.ok() && absl::StripAsciiWhitespace(dio->out) == "1";
    return d;
  }
  ~LoopDevice() {
    if (fd_ >= 0) ::close(fd_);
  }
  const std::string& name() const { return name_; }
  bool directIo() const { return direct_io_; }

 private:
  LoopDevice() = default;
  std::string name_;
  int fd_ = -1;
  bool direct_io_ = false;
};

// Lifts FS_IMMUTABLE_FL from the evidence store on destruction, so the deployment's scratch
// directory can be removed after it.
struct EvidenceUnlock {
  std::string dir;
  ~EvidenceUnlock() {
    if (std::filesystem::exists(dir)) (void)run({"chattr", "-R", "-i", dir});
  }
};

// Busy and I/O-wait CPU seconds of the whole machine so far (/proc/stat, proc(5)).
struct MachineCpu {
  double busy = 0;
  double iowait = 0;
  static MachineCpu now() {
    std::ifstream f("/proc/stat");
    std::string cpu;
    std::uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0,
                  steal = 0;
    f >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));
    return {static_cast<double>(user + nice + system + irq + softirq + steal) / hz,
            static_cast<double>(iowait) / hz};
  }
};

// Waits (at most kQuietWait) until the machine is idle for a second: on 2 cores a compiler or
// a test suite running next to the bench would halve either side. Returns false if it never
// was.
constexpr double kQuietBusy = 0.1;  // CPU seconds per second, all cores together
constexpr auto kQuietWait = std::chrono::minutes(10);
bool waitQuiet() {
  const auto until = std::chrono::steady_clock::now() + kQuietWait;
  bool said = false;
  while (!g_stop) {
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

// Nothing of an earlier run in the page cache, nothing of it still being written back, and
// nothing else running.
bool coldStart(const std::string& device) {
  ::sync();
  (void)run({"blockdev", "--flushbufs", device});
  std::ofstream("/proc/sys/vm/drop_caches") << "1\n";
  return waitQuiet();
}

double childrenCpu() {
  struct rusage ru {};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(ru.ru_utime) + s(ru.ru_stime);
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

  void start() {
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
  // CPU time since start(). Threads that ended between two samples count under
  // "LABEL/(ended)".
  CpuUse stop() {
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

 private:
  struct Counter {
    std::string label;
    std::string comm;
    std::int64_t first = 0;
    std::int64_t last = 0;
  };

  void sample(bool baseline) {
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

  const std::map<std::string, std::string> binaries_;
  const std::set<ino_t> namespaces_;
  std::map<std::pair<pid_t, pid_t>, Counter> threads_;
  std::map<pid_t, Counter> processes_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The value of the first JSON string member named KEY or ending in ".KEY" (the receipt's
// details are "EVIDENCE_ID.controller_sha256": "..."), or "".
std::string jsonValue(const std::string& json, const std::string& key) {
  for (const std::string& pattern : {"\"" + key + "\": \"", "." + key + "\": \""}) {
    const std::size_t at = json.find(pattern);
    if (at == std::string::npos) continue;
    const std::size_t begin = at + pattern.size();
    const std::size_t end = json.find('"', begin);
    if (end != std::string::npos) return json.substr(begin, end - begin);
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
  const bool quiet = coldStart(device);
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
  const bool quiet = coldStart(device);
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
  EvidenceUnlock unlock{d.dataDir() + "/evidence"};
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
