// End to end: bad input and unauthorised callers are refused with a clear message and
// nothing is dispatched; commands for an offline host wait in the queue.
#include <signal.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/profile.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

class RefusalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto d = WardenDeployment::create(absl::StrFormat("ref%d", getpid() % 100000),
                                      {{"host-41", 41}, {"host-42", 42}});
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    ASSERT_TRUE(d_->enroll("host-42").ok());
    ASSERT_TRUE(d_->startAgent("host-42").ok());
  }

  RunResult warden(const std::vector<std::string>& args) { return d_->cliResult(args); }
  int actionCount() {
    RunResult r = warden({"actions", "--json"});
    int n = 0;
    for (auto pos = r.out.find("\"id\":"); pos != std::string::npos;
         pos = r.out.find("\"id\":", pos + 1)) {
      ++n;
    }
    return n;
  }
  bool isolated() {
    auto t = d_->host("host-42").exec({"nft", "list", "tables"});
    return t.ok() && t->out.find("inet warden") != std::string::npos;
  }

  std::unique_ptr<WardenDeployment> d_;
};

TEST_F(RefusalTest, UnknownHostAndMalformedAddressesAreRejectedBeforeDispatch) {
  RunResult unknown = warden({"isolate", "host-99"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown host 'host-99'"), std::string::npos) << unknown.err;
  // One bad host in a list: nothing is dispatched to the good one either.
  RunResult mixed = warden({"isolate", "host-42", "host-99"});
  EXPECT_EQ(mixed.exit_code, 2);
  for (const char* bad : {"198.18.0.0/33", "198.18.0.7/24", "300.1.1.1", "2001:db8::/129",
                          "198.18.0.1:0", "198.18.0.1:70000", "[2001:db8::1", "host-41"}) {
    RunResult r = warden({"isolate", "host-42", "--allow", bad});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("invalid"), std::string::npos) << bad << ": " << r.err;
  }
  RunResult missing = warden({"isolate"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(actionCount(), 0);
  EXPECT_FALSE(isolated());
}

TEST_F(RefusalTest, JoinTokensWorkOnceAndExpire) {
  RunResult t = warden({"token", "create", "--ttl", "10m"});
  ASSERT_EQ(t.exit_code, 0);
  std::string token = t.out.substr(0, t.out.find('\n'));
  TestHost& h = d_->host("host-41");
  const std::string agent = wardenBinary("warden-agent");
  auto first = h.exec({agent, "enroll", "--controller", d_->controllerAddress(), "--token", token,
                       "--state-dir", h.dir() + "/a1", "--host-id", "host-41"});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->exit_code, 0) << first->err;
  auto again = h.exec({agent, "enroll", "--controller", d_->controllerAddress(), "--token", token,
                       "--state-dir", h.dir() + "/a2", "--host-id", "host-41b"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 3);
  EXPECT_NE(again->err.find("already used"), std::string::npos) << again->err;

  RunResult t2 = warden({"token", "create", "--ttl", "1s"});
  ASSERT_EQ(t2.exit_code, 0);
  absl::SleepFor(absl::Milliseconds(1500));
  auto expired = h.exec({agent, "enroll", "--controller", d_->controllerAddress(), "--token",
                         t2.out.substr(0, t2.out.find('\n')), "--state-dir", h.dir() + "/a3",
                         "--host-id", "host-41c"});
  ASSERT_TRUE(expired.ok());
  EXPECT_EQ(expired->exit_code, 3);
  EXPECT_NE(expired->err.find("expired"), std::string::npos) << expired->err;

  // An ordinary token cannot take over an enrolled host id (that would replace its keys).
  RunResult t3 = warden({"token", "create"});
  ASSERT_EQ(t3.exit_code, 0);
  auto takeover = h.exec({agent, "enroll", "--controller", d_->controllerAddress(), "--token",
                          t3.out.substr(0, t3.out.find('\n')), "--state-dir", h.dir() + "/a5",
                          "--host-id", "host-42"});
  ASSERT_TRUE(takeover.ok());
  EXPECT_EQ(takeover->exit_code, 2);
  EXPECT_NE(takeover->err.find("already enrolled"), std::string::npos) << takeover->err;

  auto garbage = h.exec({agent, "enroll", "--controller", d_->controllerAddress(), "--token",
                         "wdn1.nonsense", "--state-dir", h.dir() + "/a4"});
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage->exit_code, 2);
  EXPECT_NE(garbage->err.find("malformed join token"), std::string::npos) << garbage->err;
}

TEST_F(RefusalTest, ForeignCertificatesAndAnonymousClientsAreRefused) {
  // A second controller's CA issues a perfectly good operator certificate — for the wrong CA.
  TestHost& c = d_->controllerHost();
  const std::string other = c.dir() + "/other-controller";
  auto init = c.exec({wardenBinary("warden-controller"), "init", "--data-dir", other, "--listen",
                      "198.18.0.1:7444"});
  ASSERT_TRUE(init.ok() && init->exit_code == 0);
  auto ours = loadProfile(d_->profile());
  auto theirs = loadProfile(other + "/admin.profile");
  ASSERT_TRUE(ours.ok() && theirs.ok());

  OperatorProfile foreign = *theirs;
  foreign.controller = ours->controller;
  foreign.ca_pem = ours->ca_pem;  // trusts our controller, presents the other CA's cert
  ASSERT_TRUE(saveProfile(c.dir() + "/foreign.profile", foreign).ok());
  auto r = d_->cliWithProfile(c.dir() + "/foreign.profile", {"isolate", "host-42"});
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->exit_code, 0);
  EXPECT_NE(r->err, "");

  OperatorProfile anonymous = *ours;
  anonymous.cert_pem.clear();
  anonymous.key_pem.clear();
  ASSERT_TRUE(saveProfile(c.dir() + "/anon.profile", anonymous).ok());
  auto a = d_->cliWithProfile(c.dir() + "/anon.profile", {"isolate", "host-42"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->exit_code, 3) << a->err;
  EXPECT_NE(a->err.find("client certificate"), std::string::npos) << a->err;

  EXPECT_EQ(actionCount(), 0);
  EXPECT_FALSE(isolated());
}

TEST_F(RefusalTest, OfflineHostGetsTheCommandWhenItConnects) {
  ASSERT_TRUE(d_->killAgent("host-42", SIGTERM).ok());
  ASSERT_TRUE(d_->waitConnected("host-42", false).ok());
  RunResult r = warden({"isolate", "host-42", "--timeout", "1s"});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_NE(r.out.find("queued"), std::string::npos) << r.out;
  EXPECT_FALSE(isolated());
  ASSERT_TRUE(d_->startAgent("host-42").ok());
  bool done = false;
  for (int i = 0; i < 100 && !done; ++i) {
    RunResult a = warden({"actions", "--host", "host-42", "--json"});
    done = a.out.find("\"state\": \"succeeded\"") != std::string::npos;
    if (!done) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(done) << d_->agentLog("host-42");
  EXPECT_TRUE(isolated());
}

}  // namespace
}  // namespace warden::testing

namespace warden::testing {
namespace {

// Roles: an auditor reads but cannot contain; a responder contains but cannot enroll hosts
// or add operators. Every refusal is logged by the controller.
TEST(RoleTest, AuditorsReadRespondersContainOnlyAdminsAdminister) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("rol%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(d.startAgent("host-42").ok());
  const std::string dir = d.controllerHost().dir();
  for (const char* role : {"auditor", "responder"}) {
    auto r = d.cli({"operator", "add", std::string("op-") + role, "--role", role, "--out",
                    dir + "/" + role + ".profile"});
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->exit_code, 0) << r->err;
  }
  auto again =
      d.cli({"operator", "add", "op-auditor", "--role", "admin", "--out", dir + "/again.profile"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->exit_code, 2) << again->err;

  const std::string auditor = dir + "/auditor.profile";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"hosts"},
           {"actions"},
           {"blocks"},
           {"audit", "show"},
           {"audit", "checkpoint"},
           {"audit", "prove", "0", "--json"},
           {"audit", "export", "--out", dir + "/auditor.export"}}) {
    auto r = d.cliWithProfile(auditor, args);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0) << args[0] << ": " << r->err;
  }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"isolate", "host-42"},
           {"release", "host-42"},
           {"block", "198.18.0.66", "--all"},
           {"token", "create"},
           {"kill-sessions", "host-42", "--user", "mallory"},
           {"shutdown", "host-42", "--now", "--yes"},
           {"operator", "add", "x", "--role", "admin", "--out", dir + "/x.profile"}}) {
    auto r = d.cliWithProfile(auditor, args);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 3) << args[0] << ": " << r->out << r->err;
    EXPECT_NE(r->err.find("auditor"), std::string::npos) << r->err;
  }

  const std::string responder = dir + "/responder.profile";
  auto iso = d.cliWithProfile(responder, {"isolate", "host-42"});
  ASSERT_TRUE(iso.ok());
  EXPECT_EQ(iso->exit_code, 0) << iso->err;
  auto rel = d.cliWithProfile(responder, {"release", "host-42"});
  ASSERT_TRUE(rel.ok());
  EXPECT_EQ(rel->exit_code, 0) << rel->err;
  auto tok = d.cliWithProfile(responder, {"token", "create"});
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(tok->exit_code, 3) << tok->err;

  // Who did what: the actions name the responder; the refusals are in the controller's log.
  auto actions = d.cli({"actions", "--json"});
  ASSERT_TRUE(actions.ok());
  EXPECT_NE(actions->out.find("\"requested_by\": \"op-responder\""), std::string::npos);
  EXPECT_EQ(actions->out.find("\"requested_by\": \"op-auditor\""), std::string::npos);
  EXPECT_NE(d.controllerLog().find("by operator op-auditor (auditor) refused"), std::string::npos);
  // A revoked operator is refused from the next call on; the last admin cannot be revoked.
  auto revoke = d.cli({"operator", "revoke", "op-responder", "--reason", "laptop stolen"});
  ASSERT_TRUE(revoke.ok());
  EXPECT_EQ(revoke->exit_code, 0) << revoke->err;
  auto after = d.cliWithProfile(responder, {"isolate", "host-42"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->exit_code, 3) << after->out << after->err;
  auto twice = d.cli({"operator", "revoke", "op-responder"});
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->exit_code, 2) << twice->err;
  auto last_admin = d.cli({"operator", "revoke", "admin"});
  ASSERT_TRUE(last_admin.ok());
  EXPECT_EQ(last_admin->exit_code, 2) << last_admin->err;
  EXPECT_NE(last_admin->err.find("last admin"), std::string::npos) << last_admin->err;

  // ... and in the signed action log, which the auditor can check offline.
  auto timeline = d.cliWithProfile(auditor, {"audit", "show", "--last", "0"});
  ASSERT_TRUE(timeline.ok());
  EXPECT_NE(timeline->out.find("Submit refused: operator op-auditor has role auditor"),
            std::string::npos)
      << timeline->out;
  EXPECT_NE(timeline->out.find("CreateToken refused: operator op-responder has role responder"),
            std::string::npos)
      << timeline->out;
  EXPECT_NE(timeline->out.find("operator key op-responder (responder)"), std::string::npos)
      << timeline->out;
  EXPECT_NE(timeline->out.find("op-responder (responder) revoked by admin: laptop stolen"),
            std::string::npos)
      << timeline->out;
  auto exported = d.cliWithProfile(auditor, {"audit", "export", "--out", dir + "/final.export"});
  ASSERT_TRUE(exported.ok());
  ASSERT_EQ(exported->exit_code, 0) << exported->err;
  auto verified = d.cliWithProfile(
      auditor, {"audit", "verify", dir + "/final.export", "--vkey", d.dataDir() + "/log.vkey"});
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified->exit_code, 0) << verified->out << verified->err;
}

}  // namespace
}  // namespace warden::testing
