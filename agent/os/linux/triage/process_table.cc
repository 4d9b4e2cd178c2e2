// commands/processes.json: one object per /proc/PID, by pid: ids, login uid, audit session,
// tty, start time, state, exe and its SHA-256, argv, cwd and root. Kernel threads are marked
// and have no exe, argv or cwd. start_time is boot time plus field 22 of /proc/PID/stat.
// Parsed with the agent's one procfs parser (agent/os/linux/procfs.h) from what was read of each
// process at once, before anything was parsed (live_links.cc).
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

// loginuid and sessionid: null when unset.
Json auditId(std::int64_t id) { return id < 0 ? Json(nullptr) : Json(id); }

// The record of one process, from what was read of it (live_links.cc); null when it was gone.
Json processRecord(pid_t pid, absl::Time boot_time, const ProcessLinks& links, std::int64_t ticks) {
  if (links.unread) {
    Json r;
    r["pid"] = pid;
    r["error"] = "not read: the collection's budget for the process table was used up";
    return r;
  }
  ProcStat parsed;
  if (links.stat.empty() || !parseProcStat(links.stat, &parsed)) return nullptr;
  const ProcStat* st = &parsed;
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
  if (!links.status.empty()) {
    const ProcIds ids = parseProcIds(links.status);
    if (ids.uid) {
      r["uid"] = ids.uid->real;
      r["euid"] = ids.uid->effective;
    }
    if (ids.gid) {
      r["gid"] = ids.gid->real;
      r["egid"] = ids.gid->effective;
    }
  }
  r["loginuid"] = auditId(links.loginuid.empty() ? -1 : parseAuditId(links.loginuid));
  r["sessionid"] = auditId(links.sessionid.empty() ? -1 : parseAuditId(links.sessionid));
  if (kthread) return r;

  if (links.exe_err != 0) {
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
  if (links.cmdline) {
    std::string cmdline = *links.cmdline;
    const bool cut = cmdline.size() > kMaxArgvBytes;
    if (cut) cmdline.resize(kMaxArgvBytes);
    const std::vector<std::string> argv = splitCmdline(cmdline);
    if (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
    r["cmdline"] = textArray(argv);
    if (!validUtf8(cmdline)) r["cmdline_hex"] = textArray(argv, true);
    r["cmdline_truncated"] = cut;
  }
  if (links.cwd_err == 0) putText(r, "cwd", links.cwd);
  if (links.root_err == 0) putText(r, "root", links.root);
  return r;
}

}  // namespace

absl::Status addProcesses(Bundle& bundle, const LiveLinks& links) {
  if (!links.proc_error.empty()) {
    if (bundle.admit("commands/processes.json")) {
      bundle.listUncollected(bundle.outputMember("commands/processes.json", "/proc"),
                             links.proc_error);
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
          const Json record = processRecord(pid, bundle.bootTime(), links.processes.at(pid), ticks);
          if (record.is_null()) continue;  // gone meanwhile
          ++all;
          add(record);
        }
        return all;
      }));
  const TriageLimits& limits = bundle.limits();
  if (links.unread > 0) {
    bundle.noteLimit(
        absl::StrFormat("%d processes not read: what was read of the others passed %d bytes in all",
                        links.unread, kMaxLiveBytes));
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
