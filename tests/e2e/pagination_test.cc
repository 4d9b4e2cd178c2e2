// End to end: `warden actions` lists every action however large the list (DESIGN.md "The
// hostile host": everything a host can make the controller send is bounded). A receipt may be
// 2 MiB (a kill lists each process it found), and the one answer ListActions used to be failed
// with RESOURCE_EXHAUSTED past gRPC's 4 MiB message limit after a few large kills. Now the list
// comes a page at a time, each page under 2 MiB, and the CLI prints it as the one table or JSON
// document it always was.
//
// Large receipts, cheaply and for real: mallory runs 1,000 processes with 4 KiB command lines
// (as in receipt_limits_test.cc), and `kill-sessions --dry-run` lists them all without killing
// any, so each of several dry runs is a ~1 MiB signed receipt of the same processes.
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

constexpr char kHost[] = "host-42";
constexpr int kProcesses = 1000;
constexpr int kCmdlineBytes = 4096;
constexpr int kBigReceipts = 5;  // ~1 MiB each: together past the 4 MiB message limit

class PaginationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto created =
        WardenDeployment::create(absl::StrFormat("pag%d", getpid() % 100000), {{kHost, 42}});
    ASSERT_TRUE(created.ok()) << created.status();
    d_ = std::move(*created);
    TestHost& h = d_->host(kHost);
    for (const auto& [file, lines] : std::vector<std::pair<std::string, std::string>>{
             {"/etc/passwd", "mallory:x:1002:1002::/tmp:/bin/bash\n"},
             {"/etc/group", "mallory:x:1002:\n"},
             {"/etc/shadow", "mallory:!:20000::::::\n"}}) {
      auto old = h.readFile(file);
      ASSERT_TRUE(old.ok()) << old.status();
      ASSERT_TRUE(h.writeFile(file, *old + lines).ok());
    }
    ASSERT_TRUE(d_->enroll(kHost).ok());
    ASSERT_TRUE(d_->startAgent(kHost).ok()) << d_->agentLog(kHost);
  }

  int malloryProcesses() {
    auto n = d_->host(kHost).exec({"pgrep", "-c", "-U", "1002"});
    return n.ok() ? std::atoi(n->out.c_str()) : -1;
  }

  // `warden ARGS`, timed (printed, for docs/benchmarks-style figures in the test log).
  RunResult timed(const std::vector<std::string>& args) {
    const absl::Time t0 = absl::Now();
    RunResult r = d_->cliResult(args, absl::Seconds(120));
    std::printf("warden %s: %.0f ms, %zu bytes out\n", absl::StrJoin(args, " ").c_str(),
                absl::ToDoubleMilliseconds(absl::Now() - t0), r.out.size());
    return r;
  }

  std::unique_ptr<WardenDeployment> d_;
};

std::vector<std::string> idsOf(const Json& doc) {
  std::vector<std::string> out;
  if (!doc.is_object() || !doc.contains("actions")) return out;
  for (const Json& a : doc["actions"]) out.push_back(a.value("id", ""));
  return out;
}

TEST_F(PaginationTest, ActionsPastTheMessageLimitAreAllListed) {
  TestHost& h = d_->host(kHost);
  // GNU sleep sums its arguments: "sleep 1000 0 0 0 ..." is a 4 KiB command line.
  std::string zeros;
  while (zeros.size() + 11 < kCmdlineBytes) zeros += " 0";
  const std::string script = absl::StrFormat(
      "echo 1002 > /proc/self/loginuid || exit 97; exec setpriv --reuid=1002 --regid=1002 "
      "--clear-groups -- bash -c 'for i in $(seq %d); do sleep 1000%s & done; wait'",
      kProcesses, zeros);
  auto mallory = h.spawn({"sh", "-c", script});
  ASSERT_TRUE(mallory.ok()) << mallory.status();
  const absl::Time end = absl::Now() + absl::Seconds(60);
  while (malloryProcesses() < kProcesses + 1 && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(malloryProcesses(), kProcesses + 1) << (*mallory)->output();

  // A small action first, then the large ones: the list mixes both.
  RunResult sessions = d_->cliResult({"sessions", kHost});
  ASSERT_EQ(sessions.exit_code, 0) << sessions.err;
  for (int i = 0; i < kBigReceipts; ++i) {
    RunResult dry = d_->cliResult({"kill-sessions", kHost, "--user", "mallory", "--dry-run"},
                                  absl::Seconds(120));
    ASSERT_EQ(dry.exit_code, 0) << dry.out.substr(0, 2000) << dry.err << d_->agentLog(kHost);
  }
  EXPECT_EQ(malloryProcesses(), kProcesses + 1) << "dry runs kill nothing";

  // --json: one document with every action, in the order they were made, each once and with
  // its receipt's details, though together they pass the message limit.
  RunResult json = timed({"actions", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_FALSE(json.truncated);
  EXPECT_GT(json.out.size(), std::size_t{4} << 20) << "the list is larger than one message";
  const Json doc = parseOrNull(json.out);
  ASSERT_TRUE(doc.is_object()) << json.out.substr(0, 500);
  EXPECT_EQ(doc.size(), 1u) << "one member, \"actions\", as before paging";
  const std::vector<std::string> ids = idsOf(doc);
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(1 + kBigReceipts)) << json.out.substr(0, 500);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size()) << "each once";
  EXPECT_EQ(doc["actions"][0]["kind"], "sessions");
  std::int64_t created = 0;
  for (const Json& a : doc["actions"]) {
    const std::int64_t at = std::atoll(a.value("created_unix_ms", "0").c_str());
    EXPECT_GE(at, created) << "oldest first";
    created = at;
    EXPECT_EQ(a["state"], "succeeded") << a.value("id", "");
    EXPECT_TRUE(a["receipt_verified"].get<bool>()) << a.value("id", "");
  }
  for (std::size_t i = 1; i < ids.size(); ++i) {
    const Json& a = doc["actions"][i];
    EXPECT_EQ(a["kind"], "kill-sessions");
    EXPECT_GT(a["details"].value("result", "").size(), std::size_t{512} << 10)
        << "each dry run's receipt lists the processes: " << ids[i];
  }
  // The list carries each action as `warden action ID` shows it.
  RunResult one = d_->cliResult({"action", ids.back(), "--json"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const Json single = parseOrNull(one.out);
  ASSERT_TRUE(single.is_object());
  // (As plain JSON: a map's keys need not come in the same order twice.)
  EXPECT_EQ(nlohmann::json::parse(single.dump()),
            nlohmann::json::parse(doc["actions"][ids.size() - 1].dump()));

  // The table: the same actions, a row each under one header (it carries no receipt details,
  // so it is small).
  RunResult table = timed({"actions"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const std::vector<std::string> lines = absl::StrSplit(table.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1 + ids.size()) << table.out;
  EXPECT_EQ(lines[0].rfind("ACTION ", 0), 0u) << table.out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(lines[i + 1].rfind(ids[i] + " ", 0), 0u) << lines[i + 1];
  }
  EXPECT_LT(table.out.size(), std::size_t{64} << 10);

  // One host's actions, and the newest N.
  RunResult host = timed({"actions", "--host", kHost, "--json"});
  ASSERT_EQ(host.exit_code, 0) << host.err;
  EXPECT_EQ(idsOf(parseOrNull(host.out)), ids);
  RunResult newest = timed({"actions", "--limit", "2", "--json"});
  ASSERT_EQ(newest.exit_code, 0) << newest.err;
  EXPECT_EQ(idsOf(parseOrNull(newest.out)),
            (std::vector<std::string>{ids[ids.size() - 2], ids.back()}));
  RunResult newest_table = d_->cliResult({"actions", "--limit", "1"});
  ASSERT_EQ(newest_table.exit_code, 0) << newest_table.err;
  EXPECT_EQ(
      std::vector<std::string>(absl::StrSplit(newest_table.out, '\n', absl::SkipEmpty())).size(),
      2u)
      << newest_table.out;
  EXPECT_EQ(d_->cliResult({"actions", "--host", "host-nope"}).exit_code, 2);

  // Kill for real now, so the processes end with the test's own action.
  RunResult kill = d_->cliResult({"kill-sessions", kHost, "--user", "mallory"}, absl::Seconds(120));
  EXPECT_EQ(kill.exit_code, 0) << kill.err;
  EXPECT_EQ(malloryProcesses(), 0);
}

}  // namespace
}  // namespace warden::testing
