// The agent's own seccomp filter (DESIGN "The hostile host", the second ring): a deny list of
// what an agent never needs — loading kernel modules, kexec, bpf, userfaultfd, perf events,
// io_uring (which would bypass the filter), ptrace and cross-process memory access, mounts,
// swap, keyrings, clock changes. A denied call fails with EPERM and is logged with the
// process that made it; nothing is ever killed, because a killed agent stops guarding its
// isolation. Children inherit the filter and get the same answer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace warden::linux_os {

// The names of the denied system calls (those the running kernel's architecture lacks are
// skipped when installing).
const std::vector<std::string>& agentDeniedSyscalls();

// Sets no_new_privs and loads the filter into the calling process; call it before any other
// thread exists (filters are per thread and inherited by threads made later). Denied calls
// are sent to a supervisor thread (SECCOMP_RET_USER_NOTIF) that logs them (rate-limited) and
// answers EPERM; it runs for the rest of the process's life.
absl::Status installAgentSyscallFilter();

// How many calls the filter has denied since it was installed.
std::uint64_t deniedSyscallCount();

}  // namespace warden::linux_os
