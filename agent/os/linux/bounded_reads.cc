#include "agent/os/linux/bounded_reads.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden::linux_os {
namespace {

std::atomic<std::size_t> stuck_readers{0};

enum class Slot : char { kPending, kRunning, kDone, kGivenUp };

// What the caller and its readers share; the readers keep it alive after the caller returns.
struct Batch {
  std::function<void(std::size_t)> job;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Slot> slots;
  std::vector<absl::Time> started;
  std::size_t next = 0;
  std::size_t unsettled = 0;  // slots neither done nor given up
  std::size_t readers = 0;    // readers still taking jobs
};

// Takes jobs until there are none; gives up its place when the caller gave up its job.
void reader(std::shared_ptr<Batch> b) {
  std::unique_lock<std::mutex> lock(b->mu);
  while (b->next < b->slots.size()) {
    const std::size_t i = b->next++;
    if (b->slots[i] != Slot::kPending) continue;
    b->slots[i] = Slot::kRunning;
    b->started[i] = absl::Now();
    lock.unlock();
    b->job(i);
    lock.lock();
    if (b->slots[i] == Slot::kGivenUp) {
      // Left behind and replaced: it was counted as stuck; it is back, and it leaves.
      stuck_readers.fetch_sub(1);
      return;
    }
    b->slots[i] = Slot::kDone;
    --b->unsettled;
    b->cv.notify_all();
  }
  --b->readers;
  b->cv.notify_all();
}

bool startReader(const std::shared_ptr<Batch>& b) {
  try {
    std::thread(reader, b).detach();
  } catch (const std::system_error&) {
    return false;  // no thread to be had (a fork bomb may have taken them all)
  }
  ++b->readers;
  return true;
}

}  // namespace

std::size_t stuckReaders() { return stuck_readers.load(); }

BoundedRun runBounded(std::size_t n, const std::function<void(std::size_t)>& job,
                      std::size_t readers, absl::Duration stuck_after, absl::Duration deadline) {
  BoundedRun run;
  run.unfinished.assign(n, "");
  if (n == 0) return run;
  auto b = std::make_shared<Batch>();
  b->job = job;
  b->slots.assign(n, Slot::kPending);
  b->started.assign(n, absl::InfinitePast());
  b->unsettled = n;
  const absl::Time end = absl::Now() + deadline;
  std::unique_lock<std::mutex> lock(b->mu);
  std::string no_reader;
  if (stuck_readers.load() >= kMaxStuckReaders) {
    no_reader = absl::StrCat("not read: ", stuck_readers.load(),
                             " earlier reads are still stuck in the kernel");
  } else {
    for (std::size_t r = 0; r < std::max<std::size_t>(1, std::min(readers, n)); ++r) {
      if (!startReader(b)) break;
    }
    if (b->readers == 0) no_reader = "not read: no thread could be started";
  }
  while (b->unsettled > 0 && no_reader.empty()) {
    const absl::Time now = absl::Now();
    if (now >= end) break;
    // Jobs running for longer than `stuck_after`: their readers are left behind and replaced.
    for (std::size_t i = 0; i < n; ++i) {
      if (b->slots[i] != Slot::kRunning || now - b->started[i] < stuck_after) continue;
      b->slots[i] = Slot::kGivenUp;
      --b->unsettled;
      --b->readers;
      ++run.left_behind;
      run.unfinished[i] =
          absl::StrCat("not read: did not finish within ", absl::FormatDuration(stuck_after));
      stuck_readers.fetch_add(1);
      if (stuck_readers.load() < kMaxStuckReaders) startReader(b);
    }
    if (b->readers == 0 && b->unsettled > 0) {
      no_reader = absl::StrCat("not read: ", stuck_readers.load(),
                               " earlier reads are still stuck in the kernel");
      break;
    }
    const absl::Time wake = std::min(end, now + std::min(stuck_after, absl::Milliseconds(50)));
    b->cv.wait_for(lock, absl::ToChronoNanoseconds(wake - now));
  }
  // Whatever is not done by now is given up: a late job writes only into the batch.
  for (std::size_t i = 0; i < n; ++i) {
    if (b->slots[i] == Slot::kDone || b->slots[i] == Slot::kGivenUp) continue;
    if (b->slots[i] == Slot::kRunning) {
      ++run.left_behind;
      stuck_readers.fetch_add(1);
      --b->readers;
    }
    b->slots[i] = Slot::kGivenUp;
    run.unfinished[i] =
        !no_reader.empty()
            ? no_reader
            : absl::StrCat("not read: the batch's ", absl::FormatDuration(deadline), " ran out");
  }
  b->next = n;  // the readers still running take nothing more
  return run;
}

}  // namespace warden::linux_os
