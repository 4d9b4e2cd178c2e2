// Small readings of procfs shared by the process table (processes_linux.cc) and the triage
// bundle (triage.cc).
#pragma once

#include <string>

namespace warden {

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

}  // namespace warden
