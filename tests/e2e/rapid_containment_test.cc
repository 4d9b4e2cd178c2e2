// Isolating and releasing a host as fast as the CLI goes: every isolate must stand. Each one
// makes the agent probe the controller through the new rules, and the controller rate-limits a
// stream's probes; a probe that was dropped used to leave the agent waiting out its rollback
// window and rolling the isolation back. Now the bucket is wide enough for this and the agent
// probes again each second, so none of 60 cycles is rolled back.
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

TEST(RapidContainmentTest, SixtyIsolateReleaseCyclesAllStand) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("rap%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(d.startAgent("host-42").ok()) << d.agentLog("host-42");
  for (int i = 0; i < 60; ++i) {
    RunResult isolate = d.cliResult({"isolate", "host-42"});
    ASSERT_EQ(isolate.exit_code, 0) << "cycle " << i << ": " << isolate.out << isolate.err;
    RunResult release = d.cliResult({"release", "host-42"});
    ASSERT_EQ(release.exit_code, 0) << "cycle " << i << ": " << release.out << release.err;
  }
  EXPECT_FALSE(absl::StrContains(d.agentLog("host-42"), "rolled back")) << d.agentLog("host-42");
}

}  // namespace
}  // namespace warden::testing
