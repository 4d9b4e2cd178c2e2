// How the triage collector confines itself (DESIGN "The hostile host", the third ring). It is
// exec'd by the agent (a fresh image: nothing of the agent's memory, keys included, comes
// along), and before it reads anything it takes:
//   - its own uid and gid, no supplementary groups, not dumpable;
//   - of root's capabilities only CAP_DAC_READ_SEARCH (read any file) and CAP_SYS_PTRACE (the
//     exe, cwd and descriptors of every process in /proc); the bounding set holds nothing else;
//   - rlimits: no new processes, no core, few descriptors, bounded file size, CPU time and
//     address space;
//   - no_new_privs and a strict seccomp allowlist whose default is to kill the process
//     (SIGSYS): no sockets, no exec, no fork, no ptrace, no opening for writing, no executable
//     mappings.
// Once the live links are read (readLiveLinks: every process's /proc files as raw bytes, its
// exe, cwd, root and sockets, the executables hashed, nothing the host wrote parsed; Landlock's
// ptrace scoping would hide them from it), it drops CAP_SYS_PTRACE, which would also let it read
// the agent's memory, takes a first Landlock layer (restrictToAllBut) to parse the accounts'
// paths under, and restricts itself with Landlock to reading /proc and exactly the paths the
// files phase collects (collectorReadPaths), never a path that reaches one of the agent's (its
// state directory), and nothing else at all: no writing, no network (ABI 4), no signals or abstract
// sockets outside (ABI 6). Only then does it parse what the host wrote.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/linux/triage/root.h"
#include "agent/os/triage.h"
#include "warden/v1/collector.pb.h"

namespace warden::triage {

// The system calls the collector may make; any other kills it. (Some are allowed only with
// arguments that cannot write or execute: see collector_sandbox.cc.)
const std::vector<std::string>& collectorAllowedSyscalls();

// Everything above up to (not including) Landlock. Call it first, in a single-threaded process.
// seccomp cannot read openat2(2)'s flags, so that call could open for writing where Landlock
// does not stop it; on a kernel without Landlock, collecting the live host (`live_root`: "/",
// where RESOLVE_IN_ROOT changes nothing) it fails with ENOSYS and the root falls back to
// openat(2), whose flags are checked.
absl::Status confineCollector(std::uint32_t uid, std::uint32_t gid, const TriageLimits& limits,
                              bool live_root);

// Whether a Landlock rule on `rule` (a physical path; a tree or one file) would let the
// collector read `withheld` or anything below it.
bool reachesWithheld(const std::string& rule, bool tree, const std::string& withheld);

// Gives up CAP_SYS_PTRACE for good (CAP_DAC_READ_SEARCH stays).
absl::Status dropPtrace();

// A first Landlock layer, before the accounts' paths are parsed out of /etc/passwd and
// sshd_config: reading anything but the withheld paths and the device nodes in /dev, nothing
// else (no writing, no network). restrictCollectorReads stacks the exact rules on it. Without
// Landlock, nothing.
absl::Status restrictToAllBut(const std::vector<std::string>& withheld);

// Drops CAP_SYS_PTRACE and restricts the process with Landlock to reading /proc and `paths` (inside
// `root`; resolved as collection resolves them, the last component not followed). A path that
// would reach a withheld one is left out and listed. Without Landlock in the kernel (ABI 0)
// the result says so and nothing else is restricted; any other failure is an error.
absl::StatusOr<v1::CollectorSandbox> restrictCollectorReads(
    const TriageRoot& root, const std::vector<ReadPath>& paths,
    const std::vector<std::string>& withheld);

}  // namespace warden::triage
