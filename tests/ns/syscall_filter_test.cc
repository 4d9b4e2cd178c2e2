// The agent's own seccomp filter against the real kernel: a denied call fails with EPERM and
// a log line naming it and the caller — from the filtered process, another of its threads
// and an exec'd child (which inherits the filter and no_new_privs) — and nothing is killed.
#include "agent/os/linux/syscall_filter.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace warden::testing {
namespace {

TEST(SyscallFilter, DeniedCallsGetEpermAndALogLineNeverAKill) {
  auto r = run({absl::StrCat(WARDEN_BIN_DIR, "/warden-test-syscall-filter")}, absl::Seconds(20));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err;
  for (const char* who : {"agent", "thread", "child"}) {
    SCOPED_TRACE(who);
    EXPECT_TRUE(absl::StrContains(r->out, absl::StrCat(who, " bpf: EPERM"))) << r->out;
    EXPECT_TRUE(absl::StrContains(r->out, absl::StrCat(who, " init_module: EPERM"))) << r->out;
    EXPECT_TRUE(absl::StrContains(r->out, absl::StrCat(who, " getpid: allowed"))) << r->out;
  }
  EXPECT_TRUE(absl::StrContains(r->out, "child no_new_privs: 1")) << r->out;
  EXPECT_TRUE(absl::StrContains(r->out, "child exit: 0")) << r->out;
  EXPECT_TRUE(absl::StrContains(r->out, "denied: 6")) << r->out;
  EXPECT_TRUE(absl::StrContains(r->err, "seccomp: denied bpf")) << r->err;
  EXPECT_TRUE(absl::StrContains(r->err, "seccomp: denied init_module")) << r->err;
  EXPECT_TRUE(absl::StrContains(r->err, "EPERM")) << r->err;
}

TEST(SyscallFilter, TheDenyListCoversWhatTheIssueNames) {
  const auto& denied = linux_os::agentDeniedSyscalls();
  for (const char* name : {"init_module", "finit_module", "kexec_load", "bpf", "userfaultfd",
                           "ptrace", "mount", "io_uring_setup", "process_vm_writev"}) {
    EXPECT_NE(std::find(denied.begin(), denied.end(), name), denied.end()) << name;
  }
  // What the agent's actions need stays allowed: shutdown, killing, reading /proc.
  for (const char* needed : {"reboot", "kill", "pidfd_open", "pidfd_send_signal", "openat"}) {
    EXPECT_EQ(std::find(denied.begin(), denied.end(), needed), denied.end()) << needed;
  }
}

}  // namespace
}  // namespace warden::testing
