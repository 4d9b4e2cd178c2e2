#include "agent/os/linux/syscall_filter.h"

#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/os/linux/seccomp_filter.h"
#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden::linux_os {
namespace {

std::atomic<std::uint64_t> denied_count{0};

// /proc/PID/comm of the caller (16 bytes at most, escaped: the name is the process's to set).
std::string commOf(std::uint32_t pid) {
  UniqueFd fd(::open(absl::StrCat("/proc/", pid, "/comm").c_str(), O_RDONLY | O_CLOEXEC));
  char buf[32] = {};
  const ssize_t n = fd.ok() ? ::read(fd.get(), buf, sizeof(buf) - 1) : -1;
  if (n <= 0) return "?";
  std::string comm(buf, static_cast<std::size_t>(n));
  while (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return absl::CHexEscape(comm);
}

// Answers every notification EPERM. At most kLinesPerSecond log lines a second; the rest are
// counted into the next line, so a flood of denied calls cannot flood the journal.
void supervise(int fd) {
  constexpr int kLinesPerSecond = 10;
  seccomp_notif* req = nullptr;
  seccomp_notif_resp* resp = nullptr;
  if (seccomp_notify_alloc(&req, &resp) != 0) {
    logError("seccomp: cannot allocate notification buffers; denied calls will hang");
    return;
  }
  absl::Time window = absl::Now();
  int lines = 0;
  std::uint64_t suppressed = 0;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, -1) < 0) {
      if (errno == EINTR) continue;
      logError("seccomp: supervisor poll failed: %s", std::strerror(errno));
      return;
    }
    std::memset(req, 0, sizeof(*req));
    if (seccomp_notify_receive(fd, req) != 0) continue;  // the caller went away meanwhile
    std::memset(resp, 0, sizeof(*resp));
    resp->id = req->id;
    resp->error = -EPERM;
    denied_count.fetch_add(1, std::memory_order_relaxed);
    (void)seccomp_notify_respond(fd, resp);

    const absl::Time now = absl::Now();
    if (now - window >= absl::Seconds(1)) {
      window = now;
      lines = 0;
    }
    if (lines >= kLinesPerSecond) {
      ++suppressed;
      continue;
    }
    ++lines;
    char* name = seccomp_syscall_resolve_num_arch(req->data.arch, req->data.nr);
    logWarning("seccomp: denied %s (syscall %d) to pid %u (%s): EPERM%s", name ? name : "?",
               req->data.nr, req->pid, commOf(req->pid),
               suppressed ? absl::StrCat("; ", suppressed, " more denied calls not logged") : "");
    std::free(name);
    suppressed = 0;
  }
}

}  // namespace

const std::vector<std::string>& agentDeniedSyscalls() {
  static const auto* names = new std::vector<std::string>{
      // kernel code and its extension points
      "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "bpf",
      "perf_event_open", "userfaultfd", "iopl", "ioperm", "uselib",
      // io_uring operations are not seen by seccomp at all
      "io_uring_setup", "io_uring_enter", "io_uring_register",
      // other processes' memory; the agent reads /proc, it never attaches
      "ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
      // the mount table and swap (the agent mounts nothing)
      "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsmount", "fsconfig",
      "fspick", "mount_setattr", "swapon", "swapoff", "open_by_handle_at",
      // keyrings, accounting, the clock
      "add_key", "request_key", "keyctl", "acct", "settimeofday", "clock_settime", "adjtimex",
      "clock_adjtime", "quotactl", "vhangup", "lookup_dcookie", "nfsservctl"};
  return *names;
}

absl::Status installAgentSyscallFilter() {
  WARDEN_ASSIGN_OR_RETURN(SeccompFilter filter, SeccompFilter::create(SCMP_ACT_ALLOW));
  for (const std::string& name : agentDeniedSyscalls()) {
    WARDEN_RETURN_IF_ERROR(filter.add(SCMP_ACT_NOTIFY, name));
  }
  WARDEN_RETURN_IF_ERROR(filter.load());
  scmp_filter_ctx ctx = filter.context();
  const int fd = seccomp_notify_fd(ctx);
  if (fd < 0) return absl::InternalError("seccomp: no notification descriptor");
  // The descriptor outlives the context (seccomp_release does not close it). Close-on-exec:
  // no child may answer for the agent.
  (void)::fcntl(fd, F_SETFD, FD_CLOEXEC);
  std::thread(supervise, fd).detach();
  return absl::OkStatus();
}

std::uint64_t deniedSyscallCount() { return denied_count.load(std::memory_order_relaxed); }

}  // namespace warden::linux_os
