// The audit verifier against a dishonest controller, who signs a log holding entries that break
// the chain rules: dispatches that do not carry what their request asked for, commands to hosts
// that never enrolled, fleet-wide blocks not in force, operators and enrollments the genesis
// did not allow. The first bad entry and the reason are checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tests/unit/standard_audit_log.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

TEST_F(AuditVerifyTest, ChainRules) {
  struct Case {
    std::string name;
    std::function<void(LogBuilder&)> extra;
    std::string error;
  };
  const Keys& k = keys();
  const std::vector<Case> cases = {
      {"auditor's request dispatched",
       [&](LogBuilder& b) {
         b.request("carol", k.carol, "r-00000000000000c1", "isolate", {"host-2"});
         b.dispatch(b.command("a-0000000000000011", "host-2", "isolate", "carol"),
                    "r-00000000000000c1");
       },
       "operator carol (role auditor) may not have commands dispatched"},
      {"host not in the request",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000012", "host-2", "isolate", "alice"),
                    "r-1a2b3c4d5e6f7081");
       },
       "request r-1a2b3c4d5e6f7081 does not name host host-2"},
      {"kind differs from the request",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000013", "host-1", "release", "alice"),
                    "r-1a2b3c4d5e6f7081");
       },
       "command kind 'release', but request r-1a2b3c4d5e6f7081 asked for 'isolate'"},
      {"command id reused",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000001", "host-1", "isolate", "alice"),
                    "r-1a2b3c4d5e6f7081");
       },
       "command id a-0000000000000001 was already dispatched"},
      {"second receipt",
       [&](LogBuilder& b) { b.receipt("a-0000000000000002", "host-2", "block", k.host2); },
       "command a-0000000000000002 already has a receipt"},
      {"receipt from the wrong host",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000014", "host-1", "block", "controller"), "");
         b.receipt("a-0000000000000014", "host-2", "block", k.host2);
       },
       "command a-0000000000000014 was dispatched to host-1, not host-2"},
      {"receipt for another kind",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000017", "host-1", "block", "controller"), "");
         b.receipt("a-0000000000000017", "host-1", "unblock", k.host1);
       },
       "the signed receipt is for kind 'unblock', but command a-0000000000000017 was dispatched as "
       "'block'"},
      {"request id reused",
       [&](LogBuilder& b) { b.request("bob", k.bob, "r-1a2b3c4d5e6f7081", "isolate", {"host-1"}); },
       "request id r-1a2b3c4d5e6f7081 was already used"},
      {"request by an unknown operator",
       [&](LogBuilder& b) { b.request("eve", k.stranger, "r-6e", "isolate", {"host-1"}); },
       "'eve' is not a logged operator"},
      {"request signed by someone else",
       [&](LogBuilder& b) { b.request("bob", k.alice, "r-7f", "isolate", {"host-1"}); },
       "signature does not verify under operator bob's key"},
      {"dispatch not signed by the command key",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000015", "host-1", "block", "controller"), "", &k.log);
       },
       "signature does not verify under the controller's command key"},
      {"operator added by a responder",
       [&](LogBuilder& b) { b.op("mallory", "admin", k.stranger, "operator:bob"); },
       "'bob' is not a logged admin, so may not add operators"},
      {"controller command to a host that never enrolled",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000016", "host-9", "block", "controller"), "");
       },
       "host host-9 has not enrolled"},
      {"refusal without a reason", [&](LogBuilder& b) { b.refusal("operator:bob", ""); },
       "a refusal entry must say what happened (empty detail)"},
      {"unknown type",
       [&](LogBuilder& b) { b.add(makeEntry("note", "controller", "", "", "", "", "x")); },
       "unknown entry type 'note'"},
      {"another log key",
       [&](LogBuilder& b) {
         b.key("log", *note::formatVerifierKey(kOrigin, k.stranger.publicKey()));
       },
       "but the log is signed with"},
      {"time going backwards",
       [&](LogBuilder& b) {
         LogEntry e = makeEntry(entry_type::kEvent, "controller", "", "", "", "", "clock back");
         e.logged_unix_ms = b.now_ - 1;
         b.add(e);
       },
       "time went backwards"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const AuditReport r = verifyBuilt(c.extra);
    EXPECT_FALSE(r.ok);
    EXPECT_GE(r.bad_index, 28);
    EXPECT_THAT(r.error, HasSubstr(c.error));
  }
}

// A dispatch carries exactly what its request asked for, as the controller normalizes it.
TEST_F(AuditVerifyTest, DispatchCarriesWhatItsRequestAskedFor) {
  const Keys& k = keys();
  constexpr char kId[] = "r-00000000000000d1";
  // Alice's request with `edit` applied, then its dispatch to host-2 with `forge` applied.
  const auto requestAndDispatch = [&](const std::string& kind, std::function<void(Request&)> edit,
                                      std::function<void(Command&)> forge) {
    return [=](LogBuilder& b) {
      Request q = LogBuilder::makeRequest("alice", kId, kind, {"host-2"});
      edit(q);
      b.request(k.alice, q);
      Command c = b.command("a-00000000000000d1", "host-2", kind, "alice");
      forge(c);
      b.dispatch(c, kId);
    };
  };
  const auto same = [](auto&) {};
  const std::vector<RuleCase> cases = {
      {"normalized as the controller does",
       requestAndDispatch(
           "block",
           [](Request& q) {
             q.addresses = {"192.0.2.0/24", "2001:0DB8::1/128", "192.0.2.0/24", "2001:db8::1"};
           },
           [](Command& c) {
             c.addresses = {"192.0.2.0/24", "2001:db8::1"};
           }),
       ""},
      {"arguments", requestAndDispatch("kill-sessions", same, same), ""},
      {"no allow list",
       requestAndDispatch(
           "isolate", [](Request& q) { q.allow.clear(); }, [](Command& c) { c.allow.clear(); }),
       ""},
      {"incident added",
       requestAndDispatch("isolate", same, [](Command& c) { c.incident = "i-0000000000000001"; }),
       "command incident (version 1: reason) differs from request r-00000000000000d1's"},
      {"reason sent to the host in a version 1 command",
       requestAndDispatch("isolate", same,
                          [](Command& c) {
                            c.version = 1;
                            c.reason = "routine maintenance";
                          }),
       "command incident (version 1: reason) differs from request r-00000000000000d1's"},
      {"a version 1 command without a reason (no incident)",
       requestAndDispatch("isolate", same, [](Command& c) { c.version = 1; }), ""},
      {"a log from before incidents: version 1 request and command, the reason in both",
       requestAndDispatch(
           "isolate", [](Request& q) { q.version = 1; },
           [](Command& c) {
             c.version = 1;
             c.reason = kReason;
           }),
       ""},
      {"before incidents, the reason rewritten",
       requestAndDispatch(
           "isolate", [](Request& q) { q.version = 1; },
           [](Command& c) {
             c.version = 1;
             c.reason = "routine maintenance";
           }),
       "command incident (version 1: reason) differs from request r-00000000000000d1's"},
      {"arguments rewritten",
       requestAndDispatch("kill-sessions", same, [](Command& c) { c.args = {"user=root"}; }),
       "command argument list differs from request r-00000000000000d1's"},
      {"allow list widened",
       requestAndDispatch("isolate", same, [](Command& c) { c.allow.push_back("0.0.0.0/0"); }),
       "command allow list differs from request r-00000000000000d1's"},
      {"allow list dropped",
       requestAndDispatch("isolate", same, [](Command& c) { c.allow.clear(); }),
       "command allow list differs from request r-00000000000000d1's"},
      {"allow list as typed, not normalized",
       requestAndDispatch("isolate", same, [](Command& c) { c.allow = kRequestAllow; }),
       "command allow list differs from request r-00000000000000d1's"},
      {"address added",
       requestAndDispatch("block", same, [](Command& c) { c.addresses.push_back("0.0.0.0/0"); }),
       "command address list differs from request r-00000000000000d1's"},
      {"duplicate address kept",
       requestAndDispatch("block", same,
                          [](Command& c) { c.addresses.push_back(c.addresses.front()); }),
       "command address list differs from request r-00000000000000d1's"},
      {"addresses reordered",
       requestAndDispatch("block", same,
                          [](Command& c) { std::swap(c.addresses[0], c.addresses[1]); }),
       "command address list differs from request r-00000000000000d1's"},
      {"allow entry the controller refuses",
       requestAndDispatch(
           "isolate",
           [](Request& q) {
             q.allow = {"10.0.0.5:22", "tcp:10.0.0.5:22"};
           },
           [](Command& c) {
             c.allow = {"10.0.0.5:22", "tcp:10.0.0.5:22"};
           }),
       "request r-00000000000000d1 has allow entry 'tcp:10.0.0.5:22', which does not parse: the "
       "controller refuses it, so nothing may be dispatched for it"},
      {"address the controller refuses",
       requestAndDispatch(
           "block", [](Request& q) { q.addresses = {"10.0.0.1/8"}; },
           [](Command& c) { c.addresses = {"10.0.0.1/8"}; }),
       "request r-00000000000000d1 has address '10.0.0.1/8', which does not parse"},
  };
  checkCases(cases, [&](const auto& extra) { return verifyBuilt(extra); });

  // The whole message names the entry and the request.
  const AuditReport r = verifyBuilt(
      requestAndDispatch("isolate", same, [](Command& c) { c.allow.push_back("0.0.0.0/0"); }));
  EXPECT_EQ(r.bad_index, 29);
  EXPECT_EQ(r.error,
            "entry 29 (dispatch by controller, command a-00000000000000d1, for request "
            "r-00000000000000d1): command allow list differs from request r-00000000000000d1's");
}

// The controller's own commands: fleet-wide blocks in force, to enrolled hosts. The standard
// log's bob put kCommandAddresses in force (entry 11).
TEST_F(AuditVerifyTest, ControllerDispatchesOnlyFleetWideBlocksInForce) {
  const Keys& k = keys();
  const auto fleetBlock = [](LogBuilder& b, const std::string& id, const std::string& host,
                             std::vector<std::string> addresses) {
    Command c = b.command(id, host, "block", "controller");
    c.addresses = std::move(addresses);
    b.dispatch(c, "");
  };
  const auto fleetRequest = [&](LogBuilder& b, const std::string& id, const std::string& kind,
                                std::vector<std::string> addresses,
                                const std::string& name = "alice") {
    Request q = LogBuilder::makeRequest(name, id, kind, {}, true);
    q.addresses = std::move(addresses);
    b.request(name == "alice" ? k.alice : name == "bob" ? k.bob : k.carol, q);
  };
  const std::vector<RuleCase> cases = {
      {"some of the blocks in force",
       [&](LogBuilder& b) { fleetBlock(b, "a-00000000000000e1", "host-2", {"2001:db8::bad"}); },
       ""},
      {"an --all block with no host enrolled yet, then a host enrolls",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"});
         b.enroll("host-3", k.stranger, "t-00000000000000e1");
         fleetBlock(b, "a-00000000000000e1", "host-3", {"203.0.113.7", "192.0.2.66"});
       },
       ""},
      {"refused after its first dispatch: the block stays",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"});
         Command c = b.command("a-00000000000000e1", "host-1", "block", "alice");
         c.addresses = {"192.0.2.66"};
         b.dispatch(c, "r-00000000000000e1");
         b.refusal("operator:alice", "request r-00000000000000e1 (block) refused: disk full",
                   "r-00000000000000e1");
         fleetBlock(b, "a-00000000000000e2", "host-2", {"192.0.2.66"});
       },
       ""},
      {"an agent's refusal naming the request does not refuse it",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"});
         b.add(makeEntry(entry_type::kRefusal, "agent:host-1", "host-1", "r-00000000000000e1", "",
                         "", "refusal: whatever the agent says"));
         fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"});
       },
       ""},
      {"a refused --all unblock leaves the blocks in force",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "unblock", kRequestAddresses);
         b.refusal("operator:alice", "request r-00000000000000e1 (unblock) refused",
                   "r-00000000000000e1");
         fleetBlock(b, "a-00000000000000e1", "host-2", kCommandAddresses);
       },
       ""},
      {"an address never blocked fleet-wide",
       [&](LogBuilder& b) { fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"}); },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"an address blocked on named hosts only",
       [&](LogBuilder& b) {
         Request q = LogBuilder::makeRequest("alice", "r-00000000000000e1", "block", {"host-1"});
         q.addresses = {"192.0.2.66"};
         b.request(k.alice, q);
         Command c = b.command("a-00000000000000e1", "host-1", "block", "alice");
         c.addresses = {"192.0.2.66"};
         b.dispatch(c, "r-00000000000000e1");
         fleetBlock(b, "a-00000000000000e2", "host-2", {"192.0.2.66"});
       },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"after an --all unblock",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "unblock", {"2001:db8::bad"});
         fleetBlock(b, "a-00000000000000e1", "host-2", kCommandAddresses);
       },
       "address '2001:db8::bad' is not blocked fleet-wide at this point"},
      {"an --all block refused before any dispatch",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"});
         b.refusal("operator:alice",
                   "request r-00000000000000e1 (block) refused: it covers the controller",
                   "r-00000000000000e1");
         fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"});
       },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"an auditor's --all block",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"}, "carol");
         fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"});
       },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"an --all block the controller refuses (address does not parse)",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66", "192.0.2.0/8"});
         fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"});
       },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"not a block",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-00000000000000e1", "host-2", "isolate", "controller"), "");
       },
       "the controller's own commands are fleet-wide blocks, not 'isolate'"},
      {"a block with an allow list",
       [&](LogBuilder& b) {
         Command c = b.command("a-00000000000000e1", "host-2", "block", "controller");
         c.allow = {"0.0.0.0/0"};
         b.dispatch(c, "");
       },
       "a fleet-wide block carries no allow list or arguments"},
      {"a block without addresses",
       [&](LogBuilder& b) { fleetBlock(b, "a-00000000000000e1", "host-2", {}); },
       "a fleet-wide block without addresses"},
      {"a refused request dispatched anyway",
       [&](LogBuilder& b) {
         b.request("bob", k.bob, "r-00000000000000e1", "isolate", {"host-2"});
         b.refusal("operator:bob", "request r-00000000000000e1 (isolate) refused",
                   "r-00000000000000e1");
         b.dispatch(b.command("a-00000000000000e1", "host-2", "isolate", "bob"),
                    "r-00000000000000e1");
       },
       "request r-00000000000000e1 was refused before it"},
  };
  checkCases(cases, [&](const auto& extra) { return verifyBuilt(extra); });
}

// Operators: the controller logs those it has in the genesis; later only admins add them, each
// name once. Hosts enrolled before the log are in the genesis too, without a join token.
TEST_F(AuditVerifyTest, OperatorsAndEnrollmentsAfterTheGenesis) {
  const Keys& k = keys();
  const std::vector<RuleCase> cases = {
      {"an admin adds an operator",
       [&](LogBuilder& b) { b.op("erin", "auditor", k.stranger, "operator:alice"); }, ""},
      {"a host enrolls with a token",
       [&](LogBuilder& b) { b.enroll("host-3", k.stranger, "t-00000000000000f1"); }, ""},
      {"the controller adds an operator after the genesis",
       [&](LogBuilder& b) { b.op("mallory", "admin", k.stranger, "controller"); },
       "the controller adds operators only in the log's genesis"},
      {"an operator added again",
       [&](LogBuilder& b) { b.op("bob", "admin", k.stranger, "operator:alice"); },
       "operator bob is already logged"},
      {"an operator added by one who is not",
       [&](LogBuilder& b) { b.op("mallory", "admin", k.stranger, "operator:mallory"); },
       "'mallory' is not a logged admin, so may not add operators"},
      {"a host 'enrolled before the log' after the genesis",
       [&](LogBuilder& b) { b.enroll("host-3", k.stranger); },
       "an enrollment after the log's genesis must name its join token (ref)"},
      {"an admin revokes an operator",
       [&](LogBuilder& b) { b.op("bob", "revoked", k.bob, "operator:alice"); }, ""},
      {"an operator revoked twice",
       [&](LogBuilder& b) {
         b.op("bob", "revoked", k.bob, "operator:alice");
         b.op("bob", "revoked", k.bob, "operator:alice");
       },
       "operator bob is already revoked"},
      {"a revocation by one who is not an admin",
       [&](LogBuilder& b) { b.op("bob", "revoked", k.bob, "operator:bob"); },
       "is not a logged admin"},
      {"a request after its operator was revoked",
       [&](LogBuilder& b) {
         b.op("bob", "revoked", k.bob, "operator:alice");
         b.request("bob", k.bob, "r-00000000000000e1", "isolate", {"host-2"});
       },
       "operator bob was revoked before this request"},
  };
  checkCases(cases, [&](const auto& extra) { return verifyBuilt(extra); });

  // The genesis is the leading run of key, operator and enrollment entries: operators the
  // controller logs after hosts enrolled before the log are still in it, a second entry for
  // one name is not.
  const auto genesisOnly = [&](const std::function<void(LogBuilder&)>& extra) {
    LogBuilder b(keys());
    b.key("log", keys().vkey);
    b.key("command", keys().command.publicKey());
    b.enroll("host-1", keys().host1);
    b.op("alice", "admin", keys().alice, "controller");
    b.enroll("host-2", keys().host2);
    b.op("bob", "responder", keys().bob, "controller");
    extra(b);
    b.request("bob", keys().bob, "r-00000000000000f1", "isolate", {"host-2"});
    b.dispatch(b.command("a-00000000000000f1", "host-2", "isolate", "bob"), "r-00000000000000f1");
    b.receipt("a-00000000000000f1", "host-2", "isolate", keys().host2);
    b.checkpoint();
    EXPECT_TRUE(b.write(variant_).ok());
    return verify(variant_);
  };
  AuditReport r = genesisOnly([](LogBuilder&) {});
  EXPECT_TRUE(r.ok) << r.error;
  r = genesisOnly([](LogBuilder& b) { b.op("alice", "admin", keys().stranger, "controller"); });
  EXPECT_EQ(r.bad_index, 6);
  EXPECT_THAT(r.error, HasSubstr("operator alice is already logged"));
  r = genesisOnly([](LogBuilder& b) {
    b.event("host-1", "agent connected");
    b.op("carol", "auditor", keys().carol, "controller");
  });
  EXPECT_EQ(r.bad_index, 7);
  EXPECT_THAT(r.error, HasSubstr("the controller adds operators only in the log's genesis"));
}

}  // namespace
}  // namespace warden::testing
