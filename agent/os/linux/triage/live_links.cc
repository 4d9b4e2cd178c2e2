// The live links (collectors.h, readLiveLinks): what only CAP_SYS_PTRACE shows of another
// user's process. This is the one part of the collection that runs with that capability in the
// sandboxed collector, so it parses nothing the host wrote: /proc's directory names are pids
// the kernel made, files and link targets are kept as opaque bytes, a descriptor's
// "socket:[INODE]" is the kernel's text (a path always begins with '/'), and an executable is
// only hashed.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "agent/os/linux/procfs.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/processes.h"
#include "common/unique_fd.h"

namespace warden::triage {
namespace {

constexpr std::size_t kMaxFdsScanned = 1 << 22;
// Distinct sockets whose holders are remembered; the socket tables hold at most 2^17 rows each.
constexpr std::size_t kMaxSocketsOwned = 1 << 20;

// The sockets `pid` holds a descriptor for, into `links`; false once kMaxFdsScanned descriptors
// or kMaxSocketsOwned sockets were seen.
bool readSocketHolders(int proc_fd, pid_t pid, std::size_t& seen, LiveLinks& links) {
  UniqueFd fd_dir(
      ::openat(proc_fd, absl::StrCat(pid, "/fd").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* fds = fd_dir.ok() ? ::fdopendir(fd_dir.get()) : nullptr;
  if (fds == nullptr) return true;
  fd_dir.release();  // closedir() closes it
  bool complete = true;
  while (dirent* f = ::readdir(fds)) {
    if (f->d_name[0] == '.') continue;
    if (++seen > kMaxFdsScanned) {
      complete = false;
      break;
    }
    int err = 0;
    const std::string target = readLinkAt(::dirfd(fds), f->d_name, &err);
    unsigned long long inode = 0;
    if (err != 0 || std::sscanf(target.c_str(), "socket:[%llu]", &inode) != 1) continue;
    auto it = links.socket_holders.find(inode);
    if (it == links.socket_holders.end()) {
      if (links.socket_holders.size() >= kMaxSocketsOwned) {
        complete = false;
        break;
      }
      it = links.socket_holders.emplace(inode, std::vector<pid_t>{}).first;
    }
    if (it->second.empty() || it->second.back() != pid) it->second.push_back(pid);
  }
  ::closedir(fds);
  return complete;
}

}  // namespace

LiveLinks readLiveLinks(const TriageLimits& limits) {
  LiveLinks links;
  const UniqueFd proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc.ok()) {
    links.proc_error = std::string(errnoStatus(errno, "open /proc").message());
    return links;
  }
  // A /proc that cannot be listed is an empty table, as one with no processes would be.
  links.pids =
      listPids(proc.get(), kMaxProcessesScanned, &links.more_pids).value_or(std::vector<pid_t>{});
  std::sort(links.pids.begin(), links.pids.end());
  ExeHasher hasher({.per_exe = limits.max_member_bytes,
                    .total = limits.max_total_bytes,
                    .whole_only = false,
                    .max_cached = kMaxProcessesScanned});
  std::size_t bytes = 0;
  std::size_t fds_seen = 0;
  bool scanning = true;  // for sockets, until a bound stops it
  for (const pid_t pid : links.pids) {
    ProcessLinks& p = links.processes[pid];
    // 65,536 processes with 32 KiB command lines and three 4 KiB paths each would hold 2.8 GiB.
    if (bytes > kMaxLiveBytes) {
      p.unread = true;
      ++links.unread;
      continue;
    }
    const auto file = [&](const char* name, std::string& out, std::size_t max) {
      return readProcFile(proc.get(), absl::StrCat(pid, "/", name).c_str(), out, max);
    };
    if (!file("stat", p.stat, 4096)) {
      p.stat.clear();  // gone
      continue;
    }
    file("status", p.status, 16384);
    file("loginuid", p.loginuid, 32);
    file("sessionid", p.sessionid, 32);
    if (std::string argv; file("cmdline", argv, kMaxArgvBytes + 1)) p.cmdline = std::move(argv);
    // A kernel thread has none of these: its exe link is ENOENT, and it holds no descriptor.
    const std::string exe_link = absl::StrCat(pid, "/exe");
    p.exe = readLinkAt(proc.get(), exe_link.c_str(), &p.exe_err);
    if (p.exe_err == 0) p.exe_facts = hasher.hash(proc.get(), exe_link);
    p.cwd = readLinkAt(proc.get(), absl::StrCat(pid, "/cwd").c_str(), &p.cwd_err);
    p.root = readLinkAt(proc.get(), absl::StrCat(pid, "/root").c_str(), &p.root_err);
    bytes += p.stat.size() + p.status.size() + p.loginuid.size() + p.sessionid.size() +
             (p.cmdline ? p.cmdline->size() : 0) + p.exe.size() + p.cwd.size() + p.root.size();
    if (scanning) scanning = readSocketHolders(proc.get(), pid, fds_seen, links);
  }
  // Past the first kMaxProcessesScanned, no process's sockets were looked for either.
  links.fds_complete = scanning && !links.more_pids;
  links.hashes_partial = hasher.partial();
  links.hashes_skipped = hasher.unhashed();
  return links;
}

}  // namespace warden::triage
