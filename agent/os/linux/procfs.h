// The one procfs reader, shared by the process table of a kill (processes_linux.cc) and the
// triage bundle's commands/processes.json (triage/process_table.cc): listing /proc, reading a
// /proc/PID file, parsing stat and status, the audit ids (proc_pid_stat(5), proc_pid_status(5)).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

inline constexpr unsigned kPfKthread = 0x00200000;  // include/linux/sched.h

// The fields of /proc/PID/stat both readers use (proc_pid_stat(5)).
struct ProcStat {
  std::string comm;  // without the parentheses; may hold spaces and ')'
  char state = '?';
  int ppid = 0;
  int pgrp = 0;
  int session = 0;
  int tty_nr = 0;
  int tpgid = 0;
  unsigned flags = 0;                  // PF_* (PF_KTHREAD: 0x00200000)
  unsigned long long start_ticks = 0;  // since boot, in clock ticks
};

// Parses the text of /proc/PID/stat; false when it does not parse.
bool parseProcStat(const std::string& stat, ProcStat* out);

// The terminal name of a /proc/PID/stat tty_nr ("pts/3", "tty1", "ttyS0"; "" for none), from
// the kernel's devices.txt: 4 = tty (0-63 ttyN, 64-255 ttySN), 136-143 = pts. Others are
// named "dev-MAJOR:MINOR".
std::string ttyName(unsigned long tty_nr);

// Reads at most `max` bytes of `path` (relative to `dirfd`) into `out`: procfs files have no
// size until read. False when it cannot be opened or a read fails (the process is gone).
bool readProcFile(int dirfd, const char* path, std::string& out, std::size_t max = 4096);

// The process ids among the entries of an open /proc, in directory order, at most `max`;
// `more` (when given) tells whether there were more. An error when /proc cannot be listed.
absl::StatusOr<std::vector<pid_t>> listPids(int proc_fd, std::size_t max, bool* more = nullptr);

// /proc/PID/stat of an open /proc, parsed; nullopt when the process is gone.
std::optional<ProcStat> readProcStat(int proc_fd, pid_t pid);

// The real and effective ids of the "Uid:" and "Gid:" lines of /proc/PID/status; a line that
// is missing or does not parse is nullopt.
struct ProcIds {
  struct RealEffective {
    unsigned real = 0;
    unsigned effective = 0;
  };
  std::optional<RealEffective> uid;
  std::optional<RealEffective> gid;
};
// The ids of the text of /proc/PID/status.
ProcIds parseProcIds(const std::string& status);
// False when /proc/PID/status cannot be read; at most `max` bytes of it are.
bool readProcIds(int proc_fd, pid_t pid, std::size_t max, ProcIds* out);

// The arguments in the text of /proc/PID/cmdline: NUL-separated, the last one NUL-terminated
// (a process may have rewritten it: then the final NUL may be missing). Empty for no arguments.
std::vector<std::string> splitCmdline(std::string_view cmdline);
// The same as one line for a log or a receipt: trailing NULs dropped, the others as spaces.
std::string joinedCmdline(std::string_view cmdline);

// /proc/PID/loginuid or /proc/PID/sessionid (`file`): the number, or -1 when it is unset
// (4294967295, (uid_t)-1) or cannot be read.
std::int64_t readAuditId(int proc_fd, pid_t pid, const char* file);
// The same from the file's text.
std::int64_t parseAuditId(const std::string& text);

}  // namespace warden
