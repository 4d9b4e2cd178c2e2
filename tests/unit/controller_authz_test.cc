// controller/authz.h: the role table covers every operator RPC, and says what each role may do.
#include <gtest/gtest.h>

#include <string>

#include "controller/authz.h"
#include "warden/v1/operator.pb.h"

namespace warden {
namespace {

TEST(RoleTableTest, EveryOperatorRpcHasARowAdminsMayCall) {
  const auto* service = v1::SubmitRequest::descriptor()->file()->FindServiceByName("Operator");
  ASSERT_NE(service, nullptr);
  ASSERT_GT(service->method_count(), 0);
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string rpc(service->method(i)->name());
    EXPECT_TRUE(roleMayCall("admin", rpc)) << rpc;
  }
}

TEST(RoleTableTest, RespondersActAuditorsReadOnlyAdminsChangeWhoMayAct) {
  EXPECT_TRUE(roleMayCall("responder", "Submit"));
  EXPECT_TRUE(roleMayCall("responder", "ListHosts"));
  EXPECT_FALSE(roleMayCall("responder", "CreateToken"));
  EXPECT_FALSE(roleMayCall("responder", "AddOperator"));
  EXPECT_FALSE(roleMayCall("responder", "RevokeOperator"));
  EXPECT_FALSE(roleMayCall("auditor", "Submit"));
  for (const char* rpc :
       {"ListHosts", "ListActions", "GetAction", "ListBlocks", "ReadLog", "GetCheckpoint",
        "ProveEntry", "ListEvidence", "ShowEvidence", "GetEvidence", "VerifyEvidence"}) {
    EXPECT_TRUE(roleMayCall("auditor", rpc)) << rpc;
  }
}

TEST(RoleTableTest, UnknownRolesAndRpcsAreRefused) {
  EXPECT_FALSE(roleMayCall("revoked", "ListHosts"));
  EXPECT_FALSE(roleMayCall("", "ListHosts"));
  EXPECT_FALSE(roleMayCall("admin", "NoSuchRpc"));
}

TEST(IdentityTest, AgentHostIdComesFromAnAgentCertificateOnly) {
  EXPECT_EQ(agentHostId(PeerIdentity{"agent:host-42", "fp", ""}), "host-42");
  EXPECT_EQ(agentHostId(PeerIdentity{"operator:alice", "fp", ""}), std::nullopt);
  EXPECT_TRUE(validHostId("host-42"));
  EXPECT_FALSE(validHostId("-host"));
  EXPECT_FALSE(validHostId(std::string(64, 'a')));
}

}  // namespace
}  // namespace warden
