// commands/processes.json: one object per /proc/PID, by pid: ids, login uid, audit session,
// tty, start time, state, exe and its SHA-256, argv, cwd and root. Kernel threads are marked
// and have no exe, argv or cwd. start_time is boot time plus field 22 of /proc/PID/stat.
// Read with the agent's one procfs reader (agent/os/linux/procfs.h); the links and the
// executables' hashes were read before (live_links.cc).
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/os/linux/procfs.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/linux/triage/json_fields.h"
#include "agent/os/processes.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr std::size_t kMaxArgvBytes = 32 << 10;  // of one /proc/PID/cmdline

// loginuid and sessionid: null when unset.
Json auditId(std::int64_t id) { return id < 0 ? Json(nullptr) : Json(id); }

// The record of one process; null when it is gone.
Json processRecord(int proc_fd, pid_t pid, absl::Time boot_time, const ProcessLinks& links,
                   std::int64_t ticks) {
  const std::optional<ProcStat> st = readProcStat(proc_fd, pid);
  if (!st) return nullptr;
  // PF_KTHREAD alone: "pid 2 or a child of it" would mark a container's ordinary processes.
  const bool kthread = (st->flags & kPfKthread) != 0;
  const absl::Time started =
      boot_time + absl::Milliseconds(static_cast<std::int64_t>(st->start_ticks) * 1000 / ticks);
  Json r;
  r["pid"] = pid;
  r["ppid"] = st->ppid;
  putText(r, "comm", st->comm);
  r["state"] = std::string(1, st->state);
  r["kernel_thread"] = kthread;
  r["pgrp"] = st->pgrp;
  r["sid"] = st->session;
  putText(r, "tty", ttyName(static_cast<unsigned>(st->tty_nr)));
  r["tty_nr"] = st->tty_nr;
  r["start_ticks"] = st->start_ticks;
  r["start_time"] = rfc3339(started);
  if (ProcIds ids; readProcIds(proc_fd, pid, 16384, &ids)) {
    if (ids.uid) {
      r["uid"] = ids.uid->real;
      r["euid"] = ids.uid->effective;
    }
    if (ids.gid) {
      r["gid"] = ids.gid->real;
      r["egid"] = ids.gid->effective;
    }
  }
  r["loginuid"] = auditId(readAuditId(proc_fd, pid, "loginuid"));
  r["sessionid"] = auditId(readAuditId(proc_fd, pid, "sessionid"));
  if (kthread) return r;

  if (links.unread) {
    r["exe_error"] = "not read: the collection's budget for links was used up";
  } else if (links.exe_err != 0) {
    putText(r, "exe_error", std::string(errnoStatus(links.exe_err, "readlink").message()));
  } else {
    putText(r, "exe", links.exe);
    const ExeHasher::Facts& f = links.exe_facts;
    r["exe_deleted"] = f.deleted;
    r["exe_dev"] = absl::StrFormat("%d:%d", major(f.dev), minor(f.dev));
    r["exe_inode"] = f.ino;
    if (f.sha256.empty()) {
      putText(r, "exe_hash_error", f.error);
    } else {
      r["exe_sha256"] = f.sha256;
      r["exe_size"] = f.size;
      r["exe_hashed_bytes"] = f.hashed;
      r["exe_hash_truncated"] = f.partial;
    }
  }
  std::string cmdline;
  if (readProcFile(proc_fd, absl::StrCat(pid, "/cmdline").c_str(), cmdline, kMaxArgvBytes + 1)) {
    const bool cut = cmdline.size() > kMaxArgvBytes;
    if (cut) cmdline.resize(kMaxArgvBytes);
    const std::vector<std::string> argv = splitCmdline(cmdline);
    if (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
    r["cmdline"] = textArray(argv);
    if (!validUtf8(cmdline)) r["cmdline_hex"] = textArray(argv, true);
    r["cmdline_truncated"] = cut;
  }
  if (!links.unread && links.cwd_err == 0) putText(r, "cwd", links.cwd);
  if (!links.unread && links.root_err == 0) putText(r, "root", links.root);
  return r;
}

}  // namespace

absl::Status addProcesses(Bundle& bundle, const LiveLinks& links) {
  const UniqueFd proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok() || !links.proc_error.empty()) {
    if (bundle.admit("commands/processes.json")) {
      bundle.listUncollected(bundle.outputMember("commands/processes.json", "/proc"),
                             links.proc_error.empty()
                                 ? std::string(errnoStatus(errno, "open /proc").message())
                                 : links.proc_error);
    }
    return absl::OkStatus();
  }
  if (links.more_pids) {
    bundle.noteLimit(absl::StrFormat("more than %d processes: only the first %d were read",
                                     kMaxProcessesScanned, kMaxProcessesScanned));
  }
  const long hz = ::sysconf(_SC_CLK_TCK);
  const std::int64_t ticks = hz > 0 ? hz : 100;
  WARDEN_RETURN_IF_ERROR(bundle.addJsonTable(
      "commands/processes.json", "/proc/PID/{stat,status,loginuid,sessionid,cmdline,exe,cwd}",
      "processes", [&](const Bundle::AddRecord& add) {
        std::size_t all = 0;
        for (pid_t pid : links.pids) {
          const Json record =
              processRecord(proc.get(), pid, bundle.bootTime(), links.processes.at(pid), ticks);
          if (record.is_null()) continue;  // gone meanwhile
          ++all;
          add(record);
        }
        return all;
      }));
  const TriageLimits& limits = bundle.limits();
  if (links.unread > 0) {
    bundle.noteLimit(absl::StrFormat(
        "%d processes: exe, cwd and root not read (the links passed %d bytes in all)", links.unread,
        kMaxLiveLinkBytes));
  }
  if (links.hashes_partial > 0) {
    bundle.noteLimit(absl::StrFormat(
        "%d executables are larger than max_member_bytes (%d): only that many bytes of each "
        "were hashed (exe_hash_truncated in commands/processes.json)",
        links.hashes_partial, limits.max_member_bytes));
  }
  if (links.hashes_skipped > 0) {
    bundle.noteLimit(absl::StrFormat(
        "%d executables were not hashed: max_total_bytes (%d) of executable hashing used up",
        links.hashes_skipped, limits.max_total_bytes));
  }
  return absl::OkStatus();
}

}  // namespace warden::triage
