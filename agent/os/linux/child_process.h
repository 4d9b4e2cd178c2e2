// Child processes for the agent (iptables-restore, systemctl): argv only, never a shell, a
// fixed environment, bounded output and a time limit (posix_spawn(3)).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::linux_os {

struct ToolResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// The tool's absolute path, looked up in /usr/sbin, /sbin, /usr/bin, /bin rather than in
// PATH, which a daemon's environment may not have.
absl::StatusOr<std::string> findTool(const std::string& name);

// Runs `argv` (argv[0] an absolute path) with `input` on stdin and collects stdout (up to
// 64 MiB) and stderr (up to 1 MiB). The child is killed when it outlives `timeout` or writes
// more than that.
absl::StatusOr<ToolResult> runTool(const std::vector<std::string>& argv, const std::string& input,
                                   absl::Duration timeout);

}  // namespace warden::linux_os
