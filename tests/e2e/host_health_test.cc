// End to end: the controller compares the ruleset digest in each signed heartbeat with the
// digest the host's last containment receipt reported. Rules that the agent repairs after a
// flush stay as receipted (healthy); an agent whose memory of the isolation was wiped behind
// the controller's back comes back with no rules, and the host shows `tampered` until the
// next containment command is receipted.
#include <signal.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

bool waitHealth(WardenDeployment& d, const std::string& host, const std::string& want,
                absl::Duration timeout, std::string* last) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto j = d.hostJson(host);
    if (j.ok()) {
      *last = *j;
      if (jsonString(*j, "health") == want) return true;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  return false;
}

// The action id in `warden isolate --json`'s output.
std::string actionId(const std::string& json) { return jsonString(json, "id"); }

TEST(HostHealthTest, RulesNotAsReceiptedShowAsTamperedUntilTheNextReceipt) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("hh%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  ASSERT_TRUE(d.enroll("host-42").ok());
  const std::vector<std::string> fast = {"--heartbeat-interval", "1"};
  ASSERT_TRUE(d.startAgent("host-42", fast).ok()) << d.agentLog("host-42");
  TestHost& host = d.host("host-42");

  RunResult iso = d.cliResult({"isolate", "host-42", "--json"});
  ASSERT_EQ(iso.exit_code, 0) << iso.out << iso.err << d.agentLog("host-42");
  const std::string isolate_id = actionId(iso.out);
  ASSERT_FALSE(isolate_id.empty()) << iso.out;
  std::string last;
  ASSERT_TRUE(waitHealth(d, "host-42", "healthy", absl::Seconds(10), &last)) << last;
  // Wait until a heartbeat taken after the receipt was judged against it.
  bool matched = false;
  for (int i = 0; i < 40 && !matched; ++i) {
    auto j = d.hostJson("host-42");
    matched = j.ok() && absl::StrContains(jsonString(*j, "health_detail"), isolate_id);
    if (!matched) absl::SleepFor(absl::Milliseconds(250));
  }
  ASSERT_TRUE(matched) << last;

  // Root flushes the ruleset: the agent puts its rules back as they were, so the digest in
  // its heartbeats is the receipt's again and the host stays healthy.
  auto flush = host.exec({"nft", "flush", "ruleset"});
  ASSERT_TRUE(flush.ok());
  ASSERT_EQ(flush->exit_code, 0) << flush->err;
  EXPECT_FALSE(waitHealth(d, "host-42", "tampered", absl::Seconds(5), &last))
      << "a repaired table is as receipted: " << last << d.agentLog("host-42");

  // The attacker kills the agent, wipes its memory of the isolation and starts it again:
  // it comes back without rules, and its signed heartbeats say so.
  ASSERT_TRUE(d.killAgent("host-42", SIGKILL).ok());
  auto wipe =
      host.exec({"sqlite3", d.agentStateDir("host-42") + "/agent.db", "DELETE FROM containment;"});
  ASSERT_TRUE(wipe.ok());
  ASSERT_EQ(wipe->exit_code, 0) << wipe->err;
  ASSERT_TRUE(d.startAgent("host-42", fast).ok()) << d.agentLog("host-42");
  ASSERT_TRUE(waitHealth(d, "host-42", "tampered", absl::Seconds(15), &last))
      << last << d.agentLog("host-42");
  EXPECT_TRUE(absl::StrContains(jsonString(last, "health_detail"), isolate_id)) << last;
  // The watcher that logs changes looks twice a second.
  bool logged = false;
  for (int i = 0; i < 50 && !logged; ++i) {
    logged = absl::StrContains(d.controllerLog(), "host host-42: health healthy -> tampered");
    if (!logged) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(logged) << d.controllerLog();

  // A new containment receipt is the new expectation: healthy again.
  RunResult again = d.cliResult({"isolate", "host-42", "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  ASSERT_TRUE(waitHealth(d, "host-42", "healthy", absl::Seconds(15), &last)) << last;
  EXPECT_TRUE(absl::StrContains(jsonString(last, "health_detail"), actionId(again.out))) << last;
}

}  // namespace
}  // namespace warden::testing
