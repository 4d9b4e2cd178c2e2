// Session listing and selection, written against HostProcesses (agent/os/processes.h) so it
// runs on a fake process table in unit tests. linux_os::makeSessionActions wires the Linux
// process table into makeSessionActionsOn.
//
// A login session is the audit session (/proc/PID/sessionid, set with the login uid by
// pam_loginuid) where the login uid is set, otherwise the POSIX session ("sid-<sid>") whose
// user is its leader's real uid. Without auditing, a POSIX session counts as a login session
// when it has a terminal, a utmp record, or a non-root leader.
//
// kill-sessions selects a process when it matches ANY selector:
//   user=NAME  its real, effective or login uid is NAME's, or its session's user is NAME
//              (so a root shell gained with sudo/su inside mallory's session is mallory's);
//   session=ID its session id ("42" audit, "sid-1234" POSIX);
//   tty=TTY    its controlling terminal ("pts/0" or "/dev/pts/0");
//   from=CIDR  its session's utmp remote address lies in CIDR;
//   pid=PID    that process;
// and every descendant of a selected process is selected too (a setsid'd child does not
// escape). Never selected: PID 1, kernel threads, the agent and its descendants, zombies, and
// processes whose user (login uid, else real uid) is an except=USER.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>

#include "agent/actions/sessions.h"
#include "agent/os/processes.h"

namespace warden {

struct SessionKillLimits {
  std::int64_t budget_us = 5'000'000;  // the whole kill, all rounds
  int max_freeze_sweeps = 64;          // scan/freeze passes per round
};

std::unique_ptr<SessionActions> makeSessionActionsOn(std::unique_ptr<HostProcesses> host,
                                                     pid_t agent_pid,
                                                     SessionKillLimits limits = {});

}  // namespace warden
