// Reads of another process's /proc files and executable that may never return, done where the
// caller does not have to wait for them. Reading /proc/PID/cmdline waits for the target's
// mmap lock, which a process can keep taken (a page fault on a FUSE file that never answers
// holds it), and hashing an executable served by such a file system blocks in read(2): in both
// the thread sleeps in the kernel and no signal can wake it. A kill records every process it
// kills, so one hostile process could hold the kill (and every command after it) for ever.
//
// BoundedReaders runs a batch of jobs on a few reader threads and returns by the batch's
// deadline whatever happened. A job still running after `stuck_after` has its reader
// replaced so the rest of the batch goes on; a reader stuck in the kernel is left behind (it
// is detached and owns only its share of the batch). At most kMaxStuckReaders are ever left
// behind at once; past that no new reader is started and jobs are reported not run. Each job
// writes only its own slot of state it shares with the batch, so a job that finishes late
// touches nothing of the caller's.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace warden::linux_os {

inline constexpr std::size_t kMaxStuckReaders = 32;

struct BoundedRun {
  // Per job: "" when it finished, else why not ("did not finish within 2s", "not started: ...").
  std::vector<std::string> unfinished;
  std::size_t left_behind = 0;  // readers of this batch left stuck in the kernel
};

// Runs job(i) for every i in [0, n) on up to `readers` threads. `job` must only write state
// that outlives the call (capture shared_ptrs), and only for its own i.
BoundedRun runBounded(std::size_t n, const std::function<void(std::size_t)>& job,
                      std::size_t readers, absl::Duration stuck_after, absl::Duration deadline);

// Readers left stuck in the kernel by earlier batches that have not come back yet.
std::size_t stuckReaders();

}  // namespace warden::linux_os
