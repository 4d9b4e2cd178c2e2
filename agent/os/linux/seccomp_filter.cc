#include "agent/os/linux/seccomp_filter.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace warden::linux_os {

absl::StatusOr<SeccompFilter> SeccompFilter::create(std::uint32_t default_action) {
  scmp_filter_ctx ctx = seccomp_init(default_action);
  if (ctx == nullptr) return absl::InternalError("seccomp_init failed");
  SeccompFilter filter(ctx);
  // libseccomp sets no_new_privs when loading (SCMP_FLTATR_CTL_NNP, on by default); say so.
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) != 0) {
    return absl::InternalError("seccomp: cannot require no_new_privs");
  }
  return filter;
}

absl::Status SeccompFilter::add(std::uint32_t action, const std::string& name,
                                std::initializer_list<scmp_arg_cmp> args) {
  const int nr = seccomp_syscall_resolve_name(name.c_str());
  if (nr == __NR_SCMP_ERROR) return absl::OkStatus();  // not on this architecture
  const std::vector<scmp_arg_cmp> conditions(args);
  const int rc =
      seccomp_rule_add_array(ctx_.get(), action, nr, static_cast<unsigned>(conditions.size()),
                             conditions.empty() ? nullptr : conditions.data());
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("seccomp: cannot add a rule for ", name, ": ", std::strerror(-rc)));
  }
  return absl::OkStatus();
}

absl::Status SeccompFilter::load() {
  if (const int rc = seccomp_load(ctx_.get()); rc != 0) {
    return absl::InternalError(
        absl::StrCat("seccomp: loading the filter failed: ", std::strerror(-rc)));
  }
  return absl::OkStatus();
}

}  // namespace warden::linux_os
