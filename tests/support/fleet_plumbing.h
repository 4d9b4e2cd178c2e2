// The kernel objects of a test fleet (fleet.h): network namespaces made and deleted with
// ip(8), and the processes inside them, found through /proc and killed through pidfds (so
// never a recycled pid). Internal to tests/support.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace warden::testing {

inline constexpr char kNetnsDir[] = "/run/netns";
// How long a SIGKILLed process (or a host's init with its PID namespace) may take to end.
inline constexpr absl::Duration kDeathTimeout = absl::Seconds(10);

// `ip ARGS...` with `input` on stdin; its stderr in the error.
absl::Status ip(const std::vector<std::string>& args, const std::string& input = "");
// Whether `pid` is still the process that started at `start` (processStartTime()).
bool alive(pid_t pid, unsigned long long start);
// A pidfd for pid if it is still the process that started at `start` (0: any); -1 if not.
int openVerified(pid_t pid, unsigned long long start);
// Processes whose network namespace is the one bound at `netns_path`.
std::vector<pid_t> pidsInNetns(const std::string& netns_path);
// SIGKILLs every pidfd, waits for each to end and closes them; `what` names them in the error.
absl::Status killAll(std::vector<int>& pidfds, const std::string& what);
// Keeps the first error of several cleanup steps.
void keepFirst(absl::Status& into, const absl::Status& s);

}  // namespace warden::testing
