// controller/dispatch/request_policy.h: what a request may ask for, and the exact lists that
// are dispatched, against a real data directory and registry.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "controller/data_dir.h"
#include "controller/dispatch/request_policy.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::warden::testing::TempDir;

class RequestPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    InitOptions o;
    o.data_dir = tmp_.file("controller");
    o.advertise = "198.18.0.1:7443";
    ASSERT_TRUE(initDataDir(o).ok());
    auto keys = loadDataDir(o.data_dir);
    ASSERT_TRUE(keys.ok()) << keys.status();
    keys_.emplace(std::move(*keys));
    for (const char* h : {"host-41", "host-42"}) {
      HostRecord host;
      host.host_id = h;
      host.cert_fingerprint = std::string("fp-") + h;
      host.receipt_public_key = std::string(32, 'k');
      ASSERT_TRUE(keys_->registry->addHost(host, false).ok());
    }
  }

  Request request(const std::string& kind, std::vector<std::string> hosts) {
    Request r;
    r.kind = kind;
    r.hosts = std::move(hosts);
    return r;
  }

  TempDir tmp_;
  std::optional<ControllerKeys> keys_;  // no default: set up by SetUp()
};

TEST_F(RequestPolicyTest, AllowListAndAddressesAreNormalised) {
  RequestPolicy policy(*keys_);
  Request isolate = request("isolate", {"host-42"});
  isolate.allow = {"198.51.100.9", "[2001:db8:0::1]:22", "203.0.113.0/24:443"};
  auto plan = policy.plan(isolate);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->allow, ElementsAre("198.51.100.9", "[2001:db8::1]:22", "203.0.113.0/24:443"));
  EXPECT_THAT(plan->hosts, ElementsAre("host-42"));

  Request block = request("block", {"host-41", "host-42"});
  block.addresses = {"198.51.100.0/24", "2001:db8:0::7", "198.51.100.0/24"};
  plan = policy.plan(block);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->addresses, ElementsAre("198.51.100.0/24", "2001:db8::7"));
}

TEST_F(RequestPolicyTest, BadInputIsRefusedBeforeAnythingIsDispatched) {
  RequestPolicy policy(*keys_);
  Request isolate = request("isolate", {"host-42"});
  isolate.allow = {"198.51.100.9:70000"};
  auto plan = policy.plan(isolate);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  // The wording refusals of bad allow entries have always had in the log.
  EXPECT_THAT(plan.status().message(), HasSubstr("invalid address '198.51.100.9:70000'"));

  Request block = request("block", {"host-42"});
  block.addresses = {"198.18.0.0/16"};
  plan = policy.plan(block);
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(),
              HasSubstr("refusing to block 198.18.0.0/16: it covers the controller's address"));

  plan = policy.plan(request("isolate", {"host-42", "host-99"}));
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kNotFound);
  plan = policy.plan(request("kill-sessions", {"host-42"}));
  EXPECT_THAT(plan.status().message(), HasSubstr("needs at least one selector"));
  plan = policy.plan(request("no-such-action", {"host-42"}));
  EXPECT_THAT(plan.status().message(), HasSubstr("unknown action"));
}

TEST_F(RequestPolicyTest, FleetWideBlocksNameEveryEnrolledHost) {
  RequestPolicy policy(*keys_);
  Request block = request("block", {});
  block.all_hosts = true;
  block.addresses = {"203.0.113.5"};
  auto plan = policy.plan(block);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->hosts, ElementsAre("host-41", "host-42"));
  block.kind = "isolate";
  EXPECT_EQ(policy.plan(block).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HostActionArgsTest, EachActionTakesItsOwnArguments) {
  EXPECT_TRUE(validateHostActionArgs("kill-sessions", {"user=mallory", "dry_run=1"}).ok());
  EXPECT_FALSE(validateHostActionArgs("kill-sessions", {"mode=reboot", "user=mallory"}).ok());
  EXPECT_TRUE(validateHostActionArgs("image", {"device=/dev/sda", "compress=zstd"}).ok());
  EXPECT_FALSE(validateHostActionArgs("image", {"device=sda"}).ok());
  EXPECT_FALSE(validateHostActionArgs("lock-accounts", {"user=a", "all=1"}).ok());
  EXPECT_FALSE(validateHostActionArgs("sessions", {"user=a"}).ok());
  EXPECT_TRUE(validateHostActionArgs("sessions", {}).ok());
}

}  // namespace
}  // namespace warden

namespace warden {
namespace {

// The controller's own check of the incident a request names (the CLI checks first, but the
// request may be signed by another client, or the incident closed in between).
TEST_F(RequestPolicyTest, TheIncidentMustBeOpen) {
  RequestPolicy policy(*keys_);
  IncidentRecord open;
  open.id = "i-00000000000000a1";
  open.codename = "quiet-harbor";
  open.severity = 2;
  open.opened_by = "admin";
  ASSERT_TRUE(keys_->registry->addIncident(open).ok());
  IncidentRecord closed = open;
  closed.id = "i-00000000000000a2";
  closed.codename = "amber-otter";
  ASSERT_TRUE(keys_->registry->addIncident(closed).ok());
  ASSERT_TRUE(keys_->registry->closeIncident(closed.id, "admin", 1).ok());

  Request r = request("isolate", {"host-42"});
  r.incident = open.id;
  auto plan = policy.plan(r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->incident, open.id);
  for (const auto& [incident, error] : std::vector<std::pair<std::string, std::string>>{
           {closed.id, "incident amber-otter (i-00000000000000a2) is closed"},
           {"i-00000000000000ff", "unknown incident i-00000000000000ff"},
           {"quiet-harbor", "invalid incident id 'quiet-harbor'"},
       }) {
    r.incident = incident;
    plan = policy.plan(r);
    ASSERT_FALSE(plan.ok()) << incident;
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(plan.status().message(), HasSubstr(error));
  }
}

TEST_F(RequestPolicyTest, AnIsolationMayHaveADuration) {
  RequestPolicy policy(*keys_);
  Request r = request("isolate", {"host-42"});
  r.args = {"for_ms=3000"};
  auto plan = policy.plan(r);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->args, ElementsAre("for_ms=3000"));
  for (const auto& args : std::vector<std::vector<std::string>>{{"for_ms=0"},
                                                                {"for_ms=-5"},
                                                                {"for_ms=999"},
                                                                {"for_ms=2592000001"},
                                                                {"for_ms=3s"},
                                                                {"for_ms=3000", "for_ms=4000"},
                                                                {"user=root"}}) {
    r.args = args;
    EXPECT_FALSE(policy.plan(r).ok()) << args[0];
  }
  Request release = request("release", {"host-42"});
  release.args = {"for_ms=3000"};
  EXPECT_FALSE(policy.plan(release).ok());
}

}  // namespace
}  // namespace warden
