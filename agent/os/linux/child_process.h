// The agent's one child-process runner (iptables-restore and -save, systemctl, and the triage
// bundle's nft, iptables-save and journalctl), on posix_spawn(3): argv only, never a shell.
// The child gets descriptors 0-2 and no other (posix_spawn_file_actions_addclosefrom_np, so a
// descriptor some other thread opened without O_CLOEXEC never leaks into it), the fixed
// environment below, its own process group, and a deadline after which it and its group are
// killed. What it writes is captured up to a cap. See docs/decisions.md for why this and not
// Boost.Process.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::linux_os {

// The whole environment of every child: a daemon's own may hold anything (or nothing), and a
// tool must behave the same on every host (C locale, no pager).
std::vector<std::string> childEnvironment();

struct ChildSpec {
  std::vector<std::string> argv;  // argv[0] an absolute path
  // Written to the child's stdin, then end of file; empty: stdin is /dev/null.
  std::string input;
  absl::Duration timeout = absl::Seconds(30);
  std::size_t max_stdout = 64u << 20;  // bytes of stdout captured
  std::size_t max_stderr = 1u << 20;   // bytes of stderr captured
  // What a stream past its cap does to the run: kKill ends it (the child is killed and
  // ChildRun::killed says why); kCut drops the rest but reads on, counting stdout to its end.
  enum class Overflow { kKill, kCut };
  Overflow overflow = Overflow::kKill;
  // When set, captured stdout is handed here piece by piece instead of being kept in
  // ChildRun::out; returning false ends the run (the child is killed).
  std::function<bool(std::string_view)> on_stdout;
};

struct ChildRun {
  int exit_code = -1;      // 128 + signal when a signal ended it
  bool timed_out = false;  // killed, with its process group, at the deadline
  // Why the runner killed it ("TOOL did not finish within 30s", "TOOL wrote more than N
  // bytes"); "" when it ended on its own.
  std::string killed;
  std::uint64_t stdout_bytes = 0;  // all it wrote to stdout, captured or not
  bool stdout_cut = false;         // stdout_bytes is more than was captured
  bool stderr_cut = false;
  std::string out;  // captured stdout (empty when ChildSpec::on_stdout took it)
  std::string err;  // captured stderr
};

// Starts `argv` with `in`, `out` and `err` as its descriptors 0-2 and no other, the fixed
// environment, default signal handling, in a process group of its own, for a caller that talks
// to it and reaps it itself (the triage collector).
absl::StatusOr<pid_t> spawnChild(const std::vector<std::string>& argv, int in, int out, int err);

// Runs `spec.argv`. An error only when it cannot be started or waited for; a child that was
// killed is a ChildRun saying so.
absl::StatusOr<ChildRun> runChild(const ChildSpec& spec);

// The tool's absolute path, looked up in /usr/sbin, /sbin, /usr/bin, /bin rather than in
// PATH, which a daemon's environment may not have.
absl::StatusOr<std::string> findTool(const std::string& name);

struct ToolResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// runChild with `input` on stdin, stdout captured up to 64 MiB and stderr up to 1 MiB. A child
// that outlives `timeout` or writes more than that is killed: DeadlineExceeded, saying which.
absl::StatusOr<ToolResult> runTool(const std::vector<std::string>& argv, const std::string& input,
                                   absl::Duration timeout);

}  // namespace warden::linux_os
