// What the host can tell about and do to its processes: read the process table and utmp,
// resolve user names, hash executables, freeze and kill. The Linux implementation
// (agent/os/linux/processes_linux.cc) is the only code that touches procfs, utmp, cgroups and
// pidfds; session selection (agent/actions/sessions.cc) is written against this interface so
// that tests can run it on a fake table.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden {

// Bounds on what one scan may allocate (systemd's rule: bound what a peer can make us hold).
inline constexpr std::size_t kMaxProcessesScanned = 1u << 16;
inline constexpr std::size_t kMaxCmdlineBytes = 4096;
inline constexpr std::size_t kMaxUtmpEntries = 4096;

// One process as /proc describes it. Pid plus start_time names it without pid-reuse races.
struct ProcessRecord {
  pid_t pid = 0;
  pid_t ppid = 0;
  uid_t uid = 0;                    // real
  uid_t euid = 0;                   // effective
  std::int64_t loginuid = -1;       // -1: unset (4294967295 in procfs)
  std::int64_t audit_session = -1;  // -1: unset
  pid_t posix_session = 0;          // /proc/PID/stat field 6
  std::string tty;                  // "pts/3", "tty1"; "" without a controlling terminal
  std::uint64_t start_time = 0;     // clock ticks since boot (field 22)
  char state = '?';                 // field 3: R, S, D, T, Z, ...
  bool kernel_thread = false;       // PF_KTHREAD, or a child of kthreadd
};

// One USER_PROCESS record of utmp (utmp(5)).
struct UtmpEntry {
  std::string user;
  std::string line;  // tty without "/dev/", e.g. "pts/0"
  std::string host;  // remote host or address as login(1)/sshd wrote it; "" when local
  pid_t pid = 0;     // the login process (often the session leader)
  pid_t session = 0;
  std::int64_t login_unix_ms = 0;
};

// Evidence about one process, read just before it is killed.
struct ProcessEvidence {
  std::string exe;         // readlink of /proc/PID/exe; "" if unreadable
  std::string exe_sha256;  // lower-case hex; "" if the file could not be read
  std::string cmdline;     // argv joined with spaces, at most kMaxCmdlineBytes
  // Why the exe, its hash or the command line are missing ("not read: did not finish within
  // 1s", "not hashed: larger than ..."); "" when nothing is.
  std::string unread;
};

class HostProcesses {
 public:
  virtual ~HostProcesses() = default;

  // Every process (kernel threads included, marked), at most kMaxProcessesScanned.
  virtual absl::StatusOr<std::vector<ProcessRecord>> scan() = 0;
  // The same, cheaper, for the repeated scans of a kill: for a process already in `known`
  // (same pid and start time) only /proc/PID/stat is read again; ids come from `known`.
  virtual absl::StatusOr<std::vector<ProcessRecord>> rescan(
      const std::vector<ProcessRecord>& known) = 0;
  // USER_PROCESS records of utmp, at most kMaxUtmpEntries. A missing utmp is an empty list.
  virtual absl::StatusOr<std::vector<UtmpEntry>> utmp() = 0;
  virtual std::optional<uid_t> uidOf(const std::string& user_name) = 0;
  // The passwd name, or the number as text when there is none.
  virtual std::string nameOf(uid_t uid) = 0;
  // What a kill records of each of `processes` (its exe, the exe's SHA-256, its command line),
  // in order. Bounded in time: reads that hang (a hostile process can make them) are given up,
  // and the entry's `unread` says so; the call itself always returns within a few seconds.
  virtual std::vector<ProcessEvidence> evidence(const std::vector<ProcessRecord>& processes) = 0;

  // Freezing. begin() picks the method and returns its name ("cgroup-freezer" or "sigstop");
  // freeze() stops one process so it can no longer fork; end() undoes what is left (thaws,
  // which lets processes already sent SIGKILL die, and removes the freezer cgroup).
  virtual std::string beginFreeze() = 0;
  virtual absl::Status freeze(const ProcessRecord& process) = 0;
  virtual void endFreeze() = 0;
  // A frozen process that was sent SIGKILL must be let go for the signal to take effect
  // (cgroup v1 freezer); a no-op for SIGSTOP, since SIGKILL ends a stopped process.
  virtual void releaseKilled() = 0;

  // Waits at most `timeout_us` for the processes sent SIGKILL so far to end (a pidfd turns
  // readable when its process exits, see pidfd_open(2)).
  virtual void awaitExit(std::int64_t timeout_us) = 0;

  // SIGKILL through a pidfd (pidfd_send_signal(2)), after checking that the pidfd names the
  // process with this start time. NotFound when it is already gone.
  virtual absl::Status kill(const ProcessRecord& process) = 0;

  // When the process started, in milliseconds since the epoch (boot time plus start_time).
  virtual std::int64_t startUnixMs(const ProcessRecord& process) = 0;

  // Monotonic clock in microseconds, and a short pause between kill rounds.
  virtual std::int64_t nowUs() = 0;
  virtual void pauseUs(std::int64_t us) = 0;
};

}  // namespace warden
