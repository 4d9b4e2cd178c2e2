// The verifier's Ed25519 checks, run in batches on all threads: the driver reads and checks a
// batch of entries in log order, then hands its signature checks to the pool and goes on with
// the next batch meanwhile.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/audit/log_entry.h"
#include "common/audit/verify/public_key.h"

namespace warden::audit_verify {

// One Ed25519 check, with the key the log had recorded for the signer when the entry came.
struct SignatureJob {
  std::uint32_t slot = 0;  // the entry within its batch
  PublicKey public_key{};
};

// A run of consecutive entries and their signature checks. After work() the first entry (in
// log order) whose signature failed is `bad_slot`.
struct Batch {
  std::uint64_t first_index = 0;
  std::vector<LogEntry> entries;
  std::vector<std::uint64_t> lines;
  std::vector<SignatureJob> jobs;
  std::atomic<std::size_t> next_job{0};
  std::mutex mu;
  std::uint32_t bad_slot = std::numeric_limits<std::uint32_t>::max();  // guarded by mu
  std::string bad_reason;                                              // guarded by mu

  void reset(std::uint64_t first);
  // Checks jobs until none are left; several threads may run this on one batch.
  void work();
};

// Threads that help with the signature checks of one published batch at a time.
class SignaturePool {
 public:
  explicit SignaturePool(unsigned workers);
  ~SignaturePool();
  SignaturePool(const SignaturePool&) = delete;
  SignaturePool& operator=(const SignaturePool&) = delete;

  void publish(Batch* batch);
  // Works on `batch` too, then waits until no thread is still on it.
  void finish(Batch* batch);

 private:
  void run();

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  Batch* current_ = nullptr;
  std::uint64_t generation_ = 0;
  unsigned busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace warden::audit_verify
