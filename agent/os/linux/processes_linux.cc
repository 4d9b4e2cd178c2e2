// HostProcesses on Linux: procfs for the process table, /run/utmp (utmp(5)), pidfds for
// signals, SIGSTOP for freezing. And makeSessionActions, which wires it to the selection logic.
//
// Why SIGSTOP and not the cgroup freezer: on the project's kernel only the cgroup v1 freezer
// is mounted, and moving processes into a frozen v1 cgroup costs ~50 us per process and
// thawing 300 killed processes ~50 ms (measured 2026-11-20), against ~1.5 us per SIGSTOP; a
// v1-frozen process also ignores SIGKILL until thawed. A SIGSTOP sweep, repeated until a scan
// finds nothing new, stops fork loops just as well (a stopped process cannot fork).
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <utmp.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/actions/session_selector.h"
#include "agent/actions/sessions.h"
#include "agent/os/linux/bounded_reads.h"
#include "agent/os/linux/exe_hasher.h"
#include "agent/os/linux/procfs.h"
#include "agent/os/linux/utmp_records.h"
#include "agent/os/processes.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden::linux_os {
namespace {

constexpr std::size_t kMaxExeBytes = std::size_t{1} << 30;
// Reading a kill's evidence (bounded_reads.h): on this many threads; a read taking longer than
// this is taken to hang; all of one batch within this.
constexpr std::size_t kEvidenceReaders = 4;
constexpr absl::Duration kEvidenceStuckAfter = absl::Seconds(2);
constexpr absl::Duration kEvidenceDeadline = absl::Seconds(3);
constexpr std::size_t kMaxHashCache = 4096;
constexpr char kUtmpPath[] = "/run/utmp";

int pidfdOpen(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// A process table at least this large is read by several threads, at most this many.
constexpr std::size_t kParallelScanMin = 256;
constexpr std::size_t kMaxScanThreads = 4;

// Parses /proc/PID/stat into `p`; false if the process is gone.
bool readStat(int proc_fd, pid_t pid, ProcessRecord& p) {
  const std::optional<ProcStat> st = readProcStat(proc_fd, pid);
  if (!st) return false;
  p.pid = pid;
  p.ppid = st->ppid;
  p.state = st->state;
  p.posix_session = st->session;
  p.tty = ttyName(static_cast<unsigned>(st->tty_nr));
  p.start_time = st->start_ticks;
  p.kernel_thread = (st->flags & kPfKthread) != 0 || st->ppid == 2 || pid == 2;
  return true;
}

// Reads the ids of /proc/PID/status, loginuid and sessionid into `p`.
bool readIds(int proc_fd, pid_t pid, ProcessRecord& p) {
  if (p.kernel_thread) return true;
  ProcIds ids;
  if (!readProcIds(proc_fd, pid, 8192, &ids) || !ids.uid) return false;
  p.uid = ids.uid->real;
  p.euid = ids.uid->effective;
  p.loginuid = readAuditId(proc_fd, pid, "loginuid");
  p.audit_session = readAuditId(proc_fd, pid, "sessionid");
  return true;
}

// The parts of a process's evidence that may block for ever on a hostile process
// (bounded_reads.h): its command line (the target's mmap lock) and its executable's hash (the
// file's own file system). Its exe link never blocks: the caller reads it.
std::string readCmdline(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
  std::string cmd;
  return readProcFile(AT_FDCWD, path, cmd, kMaxCmdlineBytes) ? joinedCmdline(cmd) : "";
}

ExeHasher::Facts hashExe(pid_t pid, ExeHasher& hasher) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/exe", pid);
  return hasher.hash(AT_FDCWD, path);
}

class LinuxProcesses : public HostProcesses {
 public:
  LinuxProcesses() {
    // A kill keeps one pidfd per selected process (up to kMaxProcessesScanned).
    rlimit nofile{};
    if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
      nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, kMaxProcessesScanned + 1024);
      (void)::setrlimit(RLIMIT_NOFILE, &nofile);
    }
    const long hz = ::sysconf(_SC_CLK_TCK);
    ticks_per_second_ = hz > 0 ? hz : 100;
    timespec real{}, boot{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    boot_unix_ms_ = (real.tv_sec - boot.tv_sec) * 1000 + (real.tv_nsec - boot.tv_nsec) / 1000000;
  }

  absl::StatusOr<std::vector<ProcessRecord>> scan() override { return rescan({}); }

  absl::StatusOr<std::vector<ProcessRecord>> rescan(
      const std::vector<ProcessRecord>& known) override {
    std::map<pid_t, const ProcessRecord*> by_pid;
    for (const ProcessRecord& k : known) by_pid.emplace(k.pid, &k);
    const UniqueFd proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!proc.ok()) return errnoStatus(errno, "Failed to open /proc");
    const int proc_fd = proc.get();
    WARDEN_ASSIGN_OR_RETURN(const std::vector<pid_t> pids, listPids(proc_fd, kMaxProcessesScanned));
    // Reads pids[from, to) into `out`.
    auto readRange = [&](std::size_t from, std::size_t to, std::vector<ProcessRecord>& out) {
      for (std::size_t i = from; i < to; ++i) {
        const pid_t pid = pids[i];
        ProcessRecord p;
        if (!readStat(proc_fd, pid, p)) continue;
        auto k = by_pid.find(pid);
        if (k != by_pid.end() && k->second->start_time == p.start_time) {
          p.uid = k->second->uid;
          p.euid = k->second->euid;
          p.loginuid = k->second->loginuid;
          p.audit_session = k->second->audit_session;
        } else if (!readIds(proc_fd, pid, p)) {
          continue;
        }
        out.push_back(std::move(p));
      }
    };
    // procfs reads are CPU work in the kernel (~40 us a process for a full read): a large table
    // is split over the CPUs, each part read by its own thread, the parts joined in order.
    const std::size_t parts =
        pids.size() < kParallelScanMin
            ? 1
            : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, kMaxScanThreads);
    std::vector<std::vector<ProcessRecord>> found(parts);
    {
      std::vector<std::thread> helpers;
      const std::size_t step = (pids.size() + parts - 1) / parts;
      std::size_t own_end = std::min(step, pids.size());
      for (std::size_t t = 1; t < parts; ++t) {
        try {
          helpers.emplace_back(readRange, std::min(t * step, pids.size()),
                               std::min((t + 1) * step, pids.size()), std::ref(found[t]));
        } catch (const std::system_error&) {
          // No thread to be had (a fork bomb may have taken them all): this thread reads the
          // parts that have none.
          own_end = pids.size();
          break;
        }
      }
      readRange(0, std::min(step, pids.size()), found[0]);
      const std::size_t started = helpers.size();
      if (own_end > step) {
        readRange(std::min((started + 1) * step, pids.size()), own_end, found[started + 1]);
      }
      for (std::thread& h : helpers) h.join();
    }
    std::vector<ProcessRecord> out = std::move(found[0]);
    for (std::size_t t = 1; t < parts; ++t) {
      std::move(found[t].begin(), found[t].end(), std::back_inserter(out));
    }
    return out;
  }

  absl::StatusOr<std::vector<UtmpEntry>> utmp() override {
    const UniqueFd fd(::open(kUtmpPath, O_RDONLY | O_CLOEXEC));
    if (!fd.ok()) {
      if (errno == ENOENT) return std::vector<UtmpEntry>{};
      return errnoStatus(errno, absl::StrFormat("Failed to open %s", kUtmpPath));
    }
    std::vector<UtmpEntry> out;
    struct utmp u;
    while (out.size() < kMaxUtmpEntries) {
      const ssize_t n = ::read(fd.get(), &u, sizeof(u));
      if (n < 0 && errno == EINTR) continue;
      if (n != static_cast<ssize_t>(sizeof(u))) break;
      if (auto e = utmpEntryOf(u)) out.push_back(std::move(*e));
    }
    return out;
  }

  std::optional<uid_t> uidOf(const std::string& name) override {
    if (name.empty()) return std::nullopt;
    passwd pw{}, *result = nullptr;
    std::vector<char> buf(16384);
    if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &result) != 0 || !result) {
      return std::nullopt;
    }
    return pw.pw_uid;
  }

  std::string nameOf(uid_t uid) override {
    passwd pw{}, *result = nullptr;
    std::vector<char> buf(16384);
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) != 0 || !result) {
      return absl::StrFormat("%d", uid);
    }
    return pw.pw_name;
  }

  // The command lines and hashes are read on kEvidenceReaders threads (bounded_reads.h),
  // which also spreads the hashing over the CPUs: a read that hangs is given up after
  // kEvidenceStuckAfter, all of them after kEvidenceDeadline.
  std::vector<ProcessEvidence> evidence(const std::vector<ProcessRecord>& procs) override {
    const std::size_t n = procs.size();
    std::vector<ProcessEvidence> out(n);
    std::vector<pid_t> pids;
    for (std::size_t i = 0; i < n; ++i) {
      pids.push_back(procs[i].pid);
      char path[64];
      std::snprintf(path, sizeof(path), "/proc/%d/exe", procs[i].pid);
      char target[4096];
      const ssize_t len = ::readlink(path, target, sizeof(target));
      if (len > 0) out[i].exe.assign(target, static_cast<std::size_t>(len));
    }
    // Jobs [0, n) read command lines, [n, 2n) hash executables; each writes only its own slot.
    auto cmdlines = std::make_shared<std::vector<std::string>>(n);
    auto hashes = std::make_shared<std::vector<ExeHasher::Facts>>(n);
    const BoundedRun run = runBounded(
        2 * n,
        [cmdlines, hashes, pids, hasher = hasher_, n](std::size_t job) {
          if (job < n) {
            (*cmdlines)[job] = readCmdline(pids[job]);
          } else {
            (*hashes)[job - n] = hashExe(pids[job - n], *hasher);
          }
        },
        kEvidenceReaders, kEvidenceStuckAfter, kEvidenceDeadline);
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<std::string> unread;
      if (run.unfinished[i].empty()) {
        out[i].cmdline = (*cmdlines)[i];
      } else {
        unread.push_back("command line " + run.unfinished[i]);
      }
      if (!run.unfinished[n + i].empty()) {
        unread.push_back("executable " + run.unfinished[n + i]);
      } else if (const ExeHasher::Facts& f = (*hashes)[i]; !out[i].exe.empty()) {
        // (a kernel thread or a gone process has no executable to say so of)
        out[i].exe_sha256 = f.sha256;
        if (!f.error.empty()) unread.push_back("executable " + f.error);
      }
      out[i].unread = absl::StrJoin(unread, "; ");
    }
    return out;
  }

  ~LinuxProcesses() override { endFreeze(); }

  std::string beginFreeze() override {
    endFreeze();
    return "sigstop";
  }

  absl::Status freeze(const ProcessRecord& p) override {
    absl::StatusOr<int> pidfd = pidfdFor(p);
    if (!pidfd.ok()) return pidfd.status();
    return sendSignal(*pidfd, p, SIGSTOP);
  }

  // Closes the pidfds kept since beginFreeze(). Stopped processes that were not killed (none
  // unless the time ran out) are continued rather than left stopped.
  void endFreeze() override {
    for (auto& [key, fd] : pidfds_) {
      if (!killed_.contains(key)) (void)pidfdSendSignal(fd, SIGCONT);
      ::close(fd);
    }
    pidfds_.clear();
    killed_.clear();
  }
  void releaseKilled() override {}

  absl::Status kill(const ProcessRecord& p) override {
    absl::StatusOr<int> pidfd = pidfdFor(p);
    if (!pidfd.ok()) return pidfd.status();
    absl::Status st = sendSignal(*pidfd, p, SIGKILL);
    if (st.ok()) killed_.insert({p.pid, p.start_time});
    return st;
  }

  // One epoll set for all the pidfds, each reported once when its process ends: poll(2) over
  // the remaining ones after every wake-up would re-arm all of them each time, quadratic in a
  // session of thousands.
  void awaitExit(std::int64_t timeout_us) override {
    const std::int64_t end = nowUs() + timeout_us;
    const UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll.ok()) return awaitExitByPoll(end);  // out of descriptors: poll needs none
    const int ep = epoll.get();
    std::size_t waiting = 0;
    for (const auto& key : killed_) {
      auto it = pidfds_.find(key);
      if (it == pidfds_.end()) continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = it->second;
      if (::epoll_ctl(ep, EPOLL_CTL_ADD, it->second, &ev) == 0) ++waiting;
    }
    std::vector<epoll_event> ready(256);
    while (waiting > 0) {
      const std::int64_t left_ms = (end - nowUs() + 999) / 1000;
      if (left_ms <= 0) break;
      const int n =
          ::epoll_wait(ep, ready.data(), static_cast<int>(ready.size()), static_cast<int>(left_ms));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      for (int i = 0; i < n; ++i) (void)::epoll_ctl(ep, EPOLL_CTL_DEL, ready[i].data.fd, nullptr);
      waiting -= static_cast<std::size_t>(n);
    }
  }

  // awaitExit's fallback: poll(2) over the remaining pidfds until `end` (monotonic us).
  void awaitExitByPoll(std::int64_t end) {
    std::vector<pollfd> fds;
    for (const auto& key : killed_) {
      auto it = pidfds_.find(key);
      if (it != pidfds_.end()) fds.push_back(pollfd{it->second, POLLIN, 0});
    }
    while (!fds.empty()) {
      const std::int64_t left_ms = (end - nowUs() + 999) / 1000;
      if (left_ms <= 0) break;
      const int n = ::poll(fds.data(), fds.size(), static_cast<int>(left_ms));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::erase_if(fds, [](const pollfd& f) { return f.revents != 0; });
      for (pollfd& f : fds) f.revents = 0;
    }
  }

  std::int64_t startUnixMs(const ProcessRecord& p) override {
    return boot_unix_ms_ + static_cast<std::int64_t>(p.start_time) * 1000 / ticks_per_second_;
  }

  std::int64_t nowUs() override {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  }

  void pauseUs(std::int64_t us) override { ::usleep(static_cast<useconds_t>(us)); }

 private:
  // see pidfd_open(2): the pidfd pins the process; checking its start time after opening it
  // makes sure it is the one we scanned, not a new process that reused the pid. Kept until
  // endFreeze(), so the kill and the wait for its exit use the same, verified pidfd.
  absl::StatusOr<int> pidfdFor(const ProcessRecord& p) {
    const std::pair<pid_t, std::uint64_t> key{p.pid, p.start_time};
    if (auto it = pidfds_.find(key); it != pidfds_.end()) return it->second;
    if (pidfds_.size() >= kMaxProcessesScanned) {
      return absl::ResourceExhaustedError("too many processes to track");
    }
    int pidfd = pidfdOpen(p.pid);
    if (pidfd < 0 && (errno == EMFILE || errno == ENFILE)) {
      // Out of descriptors: let go of those of processes already sent SIGKILL.
      for (const auto& key : killed_) {
        if (auto it = pidfds_.find(key); it != pidfds_.end()) {
          ::close(it->second);
          pidfds_.erase(it);
        }
      }
      pidfd = pidfdOpen(p.pid);
    }
    if (pidfd < 0) {
      if (errno == ESRCH) return absl::NotFoundError(absl::StrFormat("process %d is gone", p.pid));
      return errnoStatus(errno, absl::StrFormat("Failed to pidfd_open %d", p.pid));
    }
    if (startTime(p.pid) != p.start_time) {
      ::close(pidfd);
      return absl::NotFoundError(absl::StrFormat("process %d is gone", p.pid));
    }
    pidfds_.emplace(key, pidfd);
    return pidfd;
  }

  static absl::Status sendSignal(int pidfd, const ProcessRecord& p, int sig) {
    const int rc = pidfdSendSignal(pidfd, sig);
    const int err = errno;
    if (rc < 0) {
      if (err == ESRCH) return absl::NotFoundError(absl::StrFormat("process %d is gone", p.pid));
      return errnoStatus(err, absl::StrFormat("Failed to signal process %d", p.pid));
    }
    return absl::OkStatus();
  }

  // Field 22 of /proc/PID/stat, 0 if the process is gone.
  static std::uint64_t startTime(pid_t pid) {
    char path[64];
    std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    std::string buf;
    ProcStat st;
    if (!readProcFile(AT_FDCWD, path, buf) || !parseProcStat(buf, &st)) return 0;
    return st.start_ticks;
  }

  std::map<std::pair<pid_t, std::uint64_t>, int> pidfds_;
  std::set<std::pair<pid_t, std::uint64_t>> killed_;
  std::int64_t ticks_per_second_ = 100;
  std::int64_t boot_unix_ms_ = 0;
  // Whole executables only, up to 1 GiB: a kill's evidence names the file, not a prefix.
  // Shared with the readers, which may outlive a batch (and, stuck, this object).
  std::shared_ptr<ExeHasher> hasher_ =
      std::make_shared<ExeHasher>(ExeHasher::Limits{.per_exe = kMaxExeBytes,
                                                    .total = UINT64_MAX,
                                                    .whole_only = true,
                                                    .max_cached = kMaxHashCache});
};

}  // namespace

std::unique_ptr<SessionActions> makeSessionActions(pid_t agent_pid) {
  return makeSessionActionsOn(std::make_unique<LinuxProcesses>(), agent_pid);
}

}  // namespace warden::linux_os
