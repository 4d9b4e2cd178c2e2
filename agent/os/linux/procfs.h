// Small readings of procfs shared by the process table (processes_linux.cc) and the triage
// bundle (triage.cc).
#pragma once

#include <string>

namespace warden {

// The terminal name of a /proc/PID/stat tty_nr ("pts/3", "tty1", "ttyS0"; "" for none), from
// the kernel's devices.txt: 4 = tty (0-63 ttyN, 64-255 ttySN), 136-143 = pts. Others are
// named "dev-MAJOR:MINOR".
std::string ttyName(unsigned long tty_nr);

}  // namespace warden
