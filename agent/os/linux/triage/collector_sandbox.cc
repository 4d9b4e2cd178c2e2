#include "agent/os/linux/triage/collector_sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/os/linux/seccomp_filter.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden::triage {
namespace {

// Landlock rights newer than Debian 12's <linux/landlock.h> (ABI 2).
constexpr std::uint64_t kFsTruncate = 1ull << 14;  // ABI 3
constexpr std::uint64_t kFsIoctlDev = 1ull << 15;  // ABI 5
constexpr std::uint64_t kNetBindTcp = 1ull << 0;   // ABI 4
constexpr std::uint64_t kNetConnectTcp = 1ull << 1;
constexpr std::uint64_t kScopeAbstractUnixSocket = 1ull << 0;  // ABI 6
constexpr std::uint64_t kScopeSignal = 1ull << 1;

// struct landlock_ruleset_attr as of ABI 6; the size passed tells the kernel which fields
// there are.
struct RulesetAttr {
  std::uint64_t handled_access_fs = 0;
  std::uint64_t handled_access_net = 0;
  std::uint64_t scoped = 0;
};

constexpr std::size_t kMaxRules = 8192;

// CAP_DAC_READ_SEARCH (read every file) and, until restrictCollectorReads, CAP_SYS_PTRACE
// (/proc/PID/exe, cwd and fd of every process).
absl::Status keepCapabilities(bool ptrace) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  data[0].effective = data[0].permitted = 1u << CAP_DAC_READ_SEARCH;
  if (ptrace) data[0].effective = data[0].permitted |= 1u << CAP_SYS_PTRACE;
  if (::syscall(SYS_capset, &header, data) != 0) return errnoStatus(errno, "capset failed");
  return absl::OkStatus();
}

absl::Status limit(int resource, rlim_t value, const char* name) {
  const rlimit r{value, value};
  if (::setrlimit(resource, &r) != 0) {
    return errnoStatus(errno, absl::StrCat("setrlimit(", name, ") failed"));
  }
  return absl::OkStatus();
}

absl::Status setLimits(const TriageLimits& limits) {
  WARDEN_RETURN_IF_ERROR(limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC"));
  WARDEN_RETURN_IF_ERROR(limit(RLIMIT_CORE, 0, "RLIMIT_CORE"));
  WARDEN_RETURN_IF_ERROR(limit(RLIMIT_MEMLOCK, 0, "RLIMIT_MEMLOCK"));
  WARDEN_RETURN_IF_ERROR(limit(RLIMIT_MSGQUEUE, 0, "RLIMIT_MSGQUEUE"));
  WARDEN_RETURN_IF_ERROR(limit(RLIMIT_NOFILE, 256, "RLIMIT_NOFILE"));
  // The spools (memfds) hold one member each, at most max_member_bytes.
  WARDEN_RETURN_IF_ERROR(limit(RLIMIT_FSIZE, limits.max_member_bytes + (1u << 20), "RLIMIT_FSIZE"));
  WARDEN_RETURN_IF_ERROR(limit(RLIMIT_CPU, 900, "RLIMIT_CPU"));
#if !defined(__SANITIZE_ADDRESS__)
  // (AddressSanitizer reserves terabytes of shadow address space: not under ASan.)
  WARDEN_RETURN_IF_ERROR(limit(RLIMIT_AS, rlim_t{4} << 30, "RLIMIT_AS"));
#endif
  return absl::OkStatus();
}

// The allowlist; the default is to kill the whole process.
absl::Status installAllowlist(bool refuse_openat2) {
  WARDEN_ASSIGN_OR_RETURN(linux_os::SeccompFilter filter,
                          linux_os::SeccompFilter::create(SCMP_ACT_KILL_PROCESS));
  for (const std::string& name : collectorAllowedSyscalls()) {
    if (name == "openat" || name == "open" || name == "mmap" || name == "mprotect" ||
        name == "prlimit64" || (name == "openat2" && refuse_openat2)) {
      continue;  // below, with their arguments
    }
    WARDEN_RETURN_IF_ERROR(filter.add(SCMP_ACT_ALLOW, name));
  }
  if (refuse_openat2) {
    WARDEN_RETURN_IF_ERROR(filter.add(SCMP_ACT_ERRNO(ENOSYS), "openat2"));
  }
  // Opening for reading only: nothing written, created, truncated or appended to.
  // (glibc's __O_TMPFILE includes O_DIRECTORY; the kernel's own O_TMPFILE bit is this one.)
  constexpr scmp_datum_t kTmpfileBit = 020000000;
  constexpr scmp_datum_t kWriting = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | kTmpfileBit;
  WARDEN_RETURN_IF_ERROR(
      filter.add(SCMP_ACT_ALLOW, "openat", {SCMP_A2(SCMP_CMP_MASKED_EQ, kWriting, 0)}));
  WARDEN_RETURN_IF_ERROR(
      filter.add(SCMP_ACT_ALLOW, "open", {SCMP_A1(SCMP_CMP_MASKED_EQ, kWriting, 0)}));
  // No new executable memory.
  for (const char* call : {"mmap", "mprotect"}) {
    WARDEN_RETURN_IF_ERROR(
        filter.add(SCMP_ACT_ALLOW, call, {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}));
  }
  // getrlimit only: no new limit.
  WARDEN_RETURN_IF_ERROR(filter.add(SCMP_ACT_ALLOW, "prlimit64", {SCMP_A2(SCMP_CMP_EQ, 0)}));
  return filter.load();
}

int landlockAbi(std::string* why) {
  const long abi =
      ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi >= 1) return static_cast<int>(abi);
  const int err = errno;
  *why = err == ENOSYS || err == EOPNOTSUPP
             ? "this kernel has no Landlock (or it is disabled at boot)"
             : absl::StrCat("Landlock is refused here (", std::strerror(err),
                            "; a service manager's system call filter?)");
  return 0;
}

constexpr std::uint64_t kRead = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

// A ruleset that handles every right this kernel's Landlock knows (`abi`), so that whatever no
// rule grants is denied: writing, making, removing, truncating, device ioctls, TCP bind and
// connect, signals and abstract sockets outside.
absl::StatusOr<UniqueFd> createRuleset(int abi) {
  RulesetAttr attr;
  attr.handled_access_fs = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1: bits 0-12
  if (abi >= 2) attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) attr.handled_access_fs |= kFsTruncate;
  if (abi >= 5) attr.handled_access_fs |= kFsIoctlDev;
  std::size_t size = sizeof(std::uint64_t);
  if (abi >= 4) {
    attr.handled_access_net = kNetBindTcp | kNetConnectTcp;
    size = 2 * sizeof(std::uint64_t);
  }
  if (abi >= 6) {
    attr.scoped = kScopeAbstractUnixSocket | kScopeSignal;
    size = sizeof(RulesetAttr);
  }
  UniqueFd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0)));
  if (!ruleset.ok()) return errnoStatus(errno, "landlock_create_ruleset failed");
  return ruleset;
}

absl::Status addReadRule(int ruleset, int fd, std::uint64_t access, const std::string& path) {
  landlock_path_beneath_attr rule{};
  rule.allowed_access = access;
  rule.parent_fd = fd;
  if (::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
    return errnoStatus(errno, absl::StrCat("landlock_add_rule failed for ", path));
  }
  return absl::OkStatus();
}

absl::Status restrictSelf(int ruleset) {
  if (::syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
    return errnoStatus(errno, "landlock_restrict_self failed");
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& collectorAllowedSyscalls() {
  static const auto* names = new std::vector<std::string>{
      // reading files, directories and /proc (open only for reading: see installAllowlist)
      "openat", "open", "openat2", "read", "readv", "pread64", "lseek", "close", "fstat",
      "newfstatat", "stat", "lstat", "statx", "getdents64", "getdents", "readlink", "readlinkat",
      "fcntl", "dup", "dup2", "dup3",
      // the stream to the agent, stderr, the memfd spools; pipes within itself (the
      // sanitizer runtimes probe memory through one)
      "write", "writev", "memfd_create", "pipe2", "pipe",
      // memory (no executable mappings)
      "brk", "mmap", "munmap", "mremap", "madvise", "mprotect",
      // the rest of a single-threaded program's life
      "futex", "getrandom", "clock_gettime", "clock_getres", "gettimeofday", "time", "uname",
      "sysinfo", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
      "getresuid", "getresgid", "getgroups", "prlimit64", "getrlimit", "sched_yield",
      "sched_getaffinity", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
      "exit", "exit_group",
      // giving up what it holds: CAP_SYS_PTRACE, then Landlock
      "capget", "capset", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"};
  return *names;
}

absl::Status dropPtrace() { return keepCapabilities(/*ptrace=*/false); }

absl::Status confineCollector(std::uint32_t uid, std::uint32_t gid, const TriageLimits& limits,
                              bool live_root) {
  if (uid == 0 || gid == 0) return absl::InvalidArgumentError("the collector must not be root");
  // Dies with the agent: nobody else would read what it writes.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return errnoStatus(errno, "PR_SET_PDEATHSIG");
  // While still root: nothing else can ever be gained back (by an exec, which the filter
  // forbids anyway). That takes CAP_SETPCAP; an agent whose unit withholds it skips this.
  for (int cap = 0; cap < 64; ++cap) {
    if (cap == CAP_DAC_READ_SEARCH || cap == CAP_SYS_PTRACE) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0 || errno == EINVAL) continue;
    if (errno == EPERM) break;
    return errnoStatus(errno, absl::StrCat("Failed to drop capability ", cap));
  }
  if (::setgroups(0, nullptr) != 0) return errnoStatus(errno, "setgroups failed");
  if (::setresgid(gid, gid, gid) != 0) return errnoStatus(errno, "setresgid failed");
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return errnoStatus(errno, "PR_SET_KEEPCAPS");
  if (::setresuid(uid, uid, uid) != 0) return errnoStatus(errno, "setresuid failed");
  WARDEN_RETURN_IF_ERROR(keepCapabilities(/*ptrace=*/true));
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return errnoStatus(errno, "PR_SET_KEEPCAPS");
  // Not dumpable: no process of its uid may ptrace it or open its /proc files.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return errnoStatus(errno, "PR_SET_DUMPABLE");
  WARDEN_RETURN_IF_ERROR(setLimits(limits));
  std::string no_landlock;
  return installAllowlist(live_root && landlockAbi(&no_landlock) < 1);
}

bool reachesWithheld(const std::string& rule, bool tree, const std::string& withheld) {
  if (rule == withheld) return true;
  if (absl::StartsWith(rule, withheld) && withheld != "/" && rule[withheld.size()] == '/') {
    return true;  // inside it
  }
  return tree && (rule == "/" || (absl::StartsWith(withheld, rule) &&
                                  withheld.size() > rule.size() && withheld[rule.size()] == '/'));
}

absl::Status restrictToAllBut(const std::vector<std::string>& withheld) {
  std::string why;
  const int abi = landlockAbi(&why);
  if (abi < 1) return absl::OkStatus();  // restrictCollectorReads reports it
  // Kept out: the withheld paths, and the device nodes of /dev (a raw disk, which
  // CAP_DAC_READ_SEARCH would open, holds the withheld files too). Each directory on the way to
  // one, and /dev, is opened up entry by entry: its directories and regular files, never a
  // device node (nor a symlink, which is checked where it lands).
  std::set<std::string> hidden;
  for (const std::string& w : withheld) hidden.insert(cleanPath(w));
  std::set<std::string> on_the_way = {"/", "/dev"};
  for (const std::string& h : hidden) {
    for (std::size_t slash = h.find('/'); slash != std::string::npos && slash + 1 < h.size();
         slash = h.find('/', slash + 1)) {
      on_the_way.insert(slash == 0 ? "/" : h.substr(0, slash));
    }
  }
  WARDEN_ASSIGN_OR_RETURN(const UniqueFd ruleset, createRuleset(abi));
  std::size_t rules = 0;
  for (const std::string& dir : on_the_way) {
    const UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    DIR* entries = dir_fd.ok() ? ::fdopendir(::dup(dir_fd.get())) : nullptr;
    if (entries == nullptr) continue;  // not there, or a symlink: nothing below it to open up
    while (const dirent* e = ::readdir(entries)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      const std::string path = dir == "/" ? "/" + name : dir + "/" + name;
      if (hidden.contains(path) || on_the_way.contains(path) || ++rules > kMaxRules) continue;
      const UniqueFd fd(::openat(dir_fd.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      struct stat st {};
      if (!fd.ok() || ::fstat(fd.get(), &st) != 0) continue;
      if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;  // a symlink lands elsewhere
      const absl::Status added =
          addReadRule(ruleset.get(), fd.get(),
                      S_ISDIR(st.st_mode) ? kRead : LANDLOCK_ACCESS_FS_READ_FILE, path);
      if (!added.ok()) {
        ::closedir(entries);
        return added;
      }
    }
    ::closedir(entries);
  }
  return restrictSelf(ruleset.get());
}

absl::StatusOr<v1::CollectorSandbox> restrictCollectorReads(
    const TriageRoot& root, const std::vector<ReadPath>& paths,
    const std::vector<std::string>& withheld) {
  v1::CollectorSandbox report;
  WARDEN_RETURN_IF_ERROR(dropPtrace());
  std::string why;
  const int abi = landlockAbi(&why);
  report.set_landlock_abi(static_cast<std::uint32_t>(abi));
  if (abi < 1) {
    report.set_note(absl::StrCat(
        why, ": the collector is confined by its uid, capabilities and seccomp filter only",
        root.real() == "/" ? ""
                           : " (and may open files through openat2(2), whose flags seccomp "
                             "cannot check, which a root other than / needs)"));
    return report;
  }
  WARDEN_ASSIGN_OR_RETURN(const UniqueFd ruleset, createRuleset(abi));
  // The live tables read the kernel's /proc whatever the root. Landlock's ptrace scoping still
  // closes every other process's memory, descriptors and links (and without CAP_SYS_PTRACE
  // they are closed anyway); a path through /proc/self/root is checked where it lands.
  if (const UniqueFd proc(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)); proc.ok()) {
    WARDEN_RETURN_IF_ERROR(addReadRule(ruleset.get(), proc.get(), kRead, "/proc"));
    report.add_live_read_paths("/proc");
  }
  std::size_t rules = 0, skipped = 0;
  for (const ReadPath& p : paths) {
    const UniqueFd fd(root.openPath(p.path, O_PATH | O_NOFOLLOW));
    struct stat st {};
    if (!fd.ok() || ::fstat(fd.get(), &st) != 0) continue;  // not there: nothing to read
    // A symlink is archived as one, never followed: no rule for where it points.
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
    const bool tree = S_ISDIR(st.st_mode);
    if (tree && !p.tree) continue;  // only the entry itself is collected: no reading needed
    const std::string physical = procFdPath(fd.get());
    bool hidden = physical.empty();
    for (const std::string& w : withheld) hidden = hidden || reachesWithheld(physical, tree, w);
    if (hidden) {
      report.add_withheld(p.path);
      continue;
    }
    if (rules >= kMaxRules) {
      ++skipped;
      continue;
    }
    WARDEN_RETURN_IF_ERROR(
        addReadRule(ruleset.get(), fd.get(), tree ? kRead : LANDLOCK_ACCESS_FS_READ_FILE, p.path));
    ++rules;
    report.add_read_paths(p.path);
  }
  if (skipped > 0) {
    report.set_note(absl::StrFormat("more than %d paths: %d more are unreadable to the collector",
                                    kMaxRules, skipped));
  }
  WARDEN_RETURN_IF_ERROR(restrictSelf(ruleset.get()));
  return report;
}

}  // namespace warden::triage
