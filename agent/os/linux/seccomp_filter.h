// A libseccomp filter under construction, for the agent's two filters: its own deny list
// (syscall_filter.cc) and the triage collector's allowlist (triage/collector_sandbox.cc).
// no_new_privs is required when it loads; a system call this architecture lacks is skipped.
#pragma once

#include <seccomp.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace warden::linux_os {

class SeccompFilter {
 public:
  // A filter whose action for every call not added is `default_action` (SCMP_ACT_*).
  static absl::StatusOr<SeccompFilter> create(std::uint32_t default_action);

  // `action` for `name` when all of `args` hold (none: always).
  absl::Status add(std::uint32_t action, const std::string& name,
                   std::initializer_list<scmp_arg_cmp> args = {});
  // Loads it into the calling thread (and the threads it starts later).
  absl::Status load();
  scmp_filter_ctx context() const { return ctx_.get(); }

 private:
  struct Release {
    void operator()(void* ctx) const { seccomp_release(ctx); }
  };
  explicit SeccompFilter(scmp_filter_ctx ctx) : ctx_(ctx) {}
  std::unique_ptr<void, Release> ctx_;
};

}  // namespace warden::linux_os
