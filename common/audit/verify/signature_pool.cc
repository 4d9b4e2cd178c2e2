#include "common/audit/verify/signature_pool.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_format.h"
#include "common/crypto/ed25519.h"

namespace warden::audit_verify {
namespace {

// Signature checks a thread takes at a time from a batch.
constexpr std::size_t kJobChunk = 32;

}  // namespace

void Batch::reset(std::uint64_t first) {
  first_index = first;
  entries.clear();
  lines.clear();
  jobs.clear();
  next_job.store(0);
  bad_slot = std::numeric_limits<std::uint32_t>::max();
  bad_reason.clear();
}

void Batch::work() {
  for (;;) {
    const std::size_t start = next_job.fetch_add(kJobChunk);
    if (start >= jobs.size()) return;
    const std::size_t stop = std::min(jobs.size(), start + kJobChunk);
    for (std::size_t j = start; j < stop; ++j) {
      const SignatureJob& job = jobs[j];
      const LogEntry& e = entries[job.slot];
      const absl::Status s = crypto::ed25519Verify(
          std::string_view(job.public_key.data(), job.public_key.size()), e.body, e.signature);
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (job.slot < bad_slot) {
          bad_slot = job.slot;
          bad_reason = s.code() == absl::StatusCode::kPermissionDenied
                           ? ""
                           : absl::StrFormat(" (%s)", s.message());
        }
      }
    }
  }
}

SignaturePool::SignaturePool(unsigned workers) {
  for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
}

SignaturePool::~SignaturePool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void SignaturePool::publish(Batch* batch) {
  {
    std::lock_guard lock(mu_);
    current_ = batch;
    ++generation_;
  }
  work_cv_.notify_all();
}

void SignaturePool::finish(Batch* batch) {
  batch->work();
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return busy_ == 0; });
  if (current_ == batch) current_ = nullptr;
}

void SignaturePool::run() {
  std::uint64_t seen = 0;
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || (current_ != nullptr && generation_ != seen); });
    if (stop_) return;
    seen = generation_;
    Batch* batch = current_;
    ++busy_;
    lock.unlock();
    batch->work();
    lock.lock();
    if (--busy_ == 0) idle_cv_.notify_all();
  }
}

}  // namespace warden::audit_verify
