#include "controller/authz.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_format.h"
#include "common/crypto/x509.h"
#include "common/log.h"
#include "controller/log_writer.h"

namespace warden {
namespace {

enum Role : unsigned { kAdmin = 1, kResponder = 2, kAuditor = 4 };

struct RpcRoles {
  std::string_view rpc;
  unsigned roles;
};

// The role table: every operator RPC and the roles that may call it. Auditors read; responders
// also contain hosts and act on them; only admins change who may act (join tokens, operators).
// A role not named here ("revoked") may call nothing. The agent channel is not in this table:
// agents are identified by their certificate (Connect, evidence uploads) or a join token
// (Enroll), see agent_channel/.
constexpr RpcRoles kRoleTable[] = {
    {"CreateToken", kAdmin},
    {"AddOperator", kAdmin},
    {"RevokeOperator", kAdmin},
    {"Submit", kAdmin | kResponder},
    {"ListHosts", kAdmin | kResponder | kAuditor},
    {"ListActions", kAdmin | kResponder | kAuditor},
    {"GetAction", kAdmin | kResponder | kAuditor},
    {"ListBlocks", kAdmin | kResponder | kAuditor},
    {"ReadLog", kAdmin | kResponder | kAuditor},
    {"GetCheckpoint", kAdmin | kResponder | kAuditor},
    {"ProveEntry", kAdmin | kResponder | kAuditor},
    {"ListEvidence", kAdmin | kResponder | kAuditor},
    {"ShowEvidence", kAdmin | kResponder | kAuditor},
    {"GetEvidence", kAdmin | kResponder | kAuditor},
    {"VerifyEvidence", kAdmin | kResponder | kAuditor},
    // Every operator keeps its own certificate current (controller/renewal/).
    {"GetRenewalChallenge", kAdmin | kResponder | kAuditor},
    {"RenewCertificate", kAdmin | kResponder | kAuditor},
    {"AddAlertSource", kAdmin},
    {"ApplyRules", kAdmin},
    {"ListAlerts", kAdmin | kResponder | kAuditor},
    {"ShowRules", kAdmin | kResponder | kAuditor},
    {"ListApprovals", kAdmin | kResponder | kAuditor},
    {"SettleApproval", kAdmin | kResponder},
    {"SetBreaker", kAdmin | kResponder},
    {"GetBreaker", kAdmin | kResponder | kAuditor},
    {"ChangeIncident", kAdmin | kResponder},
    {"ListIncidents", kAdmin | kResponder | kAuditor},
    {"GetIncident", kAdmin | kResponder | kAuditor},
    {"SetLabels", kAdmin | kResponder},
};

unsigned roleBit(std::string_view role) {
  if (role == "admin") return kAdmin;
  if (role == "responder") return kResponder;
  if (role == "auditor") return kAuditor;
  return 0;
}

}  // namespace

bool roleMayCall(std::string_view role, std::string_view rpc) {
  for (const RpcRoles& row : kRoleTable) {
    if (row.rpc == rpc) return (row.roles & roleBit(role)) != 0;
  }
  return false;
}

absl::StatusOr<std::optional<PeerIdentity>> optionalPeerIdentity(const grpc::ServerContext* ctx) {
  auto auth = ctx->auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return std::nullopt;
  PeerIdentity id;
  for (const auto& v : auth->FindPropertyValues("x509_common_name")) {
    id.common_name.assign(v.data(), v.size());
  }
  for (const auto& v : auth->FindPropertyValues("x509_pem_cert")) {
    id.cert_pem.assign(v.data(), v.size());
    auto fp = crypto::certFingerprint(id.cert_pem);
    if (fp.ok()) id.fingerprint = *fp;
  }
  if (id.common_name.empty() || id.fingerprint.empty()) {
    return absl::UnauthenticatedError("client certificate carries no usable identity");
  }
  return std::optional<PeerIdentity>(std::move(id));
}

absl::StatusOr<PeerIdentity> peerIdentity(const grpc::ServerContext* ctx) {
  auto id = optionalPeerIdentity(ctx);
  if (!id.ok()) return id.status();
  if (!id->has_value()) {
    return absl::UnauthenticatedError("a client certificate issued by this controller is required");
  }
  return **std::move(id);
}

std::int64_t certNotAfterMs(const PeerIdentity& id) {
  auto v = crypto::certValidity(id.cert_pem);
  return v.ok() ? absl::ToUnixMillis(v->not_after) : 0;
}

std::optional<std::string> agentHostId(const PeerIdentity& id) {
  if (id.common_name.rfind("agent:", 0) != 0) return std::nullopt;
  return id.common_name.substr(6);
}

bool validHostId(const std::string& h) {
  if (h.empty() || h.size() > 63) return false;
  if (!std::isalnum(static_cast<unsigned char>(h[0]))) return false;
  return h.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") ==
         std::string::npos;
}

absl::StatusOr<OperatorRecord> Authorizer::authorize(grpc::ServerContext* ctx,
                                                     std::string_view rpc_name) {
  const std::string rpc(rpc_name);
  auto id = peerIdentity(ctx);
  if (!id.ok()) {
    logWarning("%s from %s refused: %s", rpc, ctx->peer(), id.status().message());
    log_.logAnonymousRefusal(
        "", absl::StrFormat("%s from %s refused: %s", rpc, ctx->peer(), id.status().message()));
    return id.status();
  }
  if (id->common_name.rfind("operator:", 0) != 0) {
    logWarning("%s from %s refused: %s is not an operator", rpc, ctx->peer(), id->common_name);
    log_.logAnonymousRefusal("", absl::StrFormat("%s from %s refused: %s is not an operator", rpc,
                                                 ctx->peer(), id->common_name));
    return absl::PermissionDeniedError("this certificate is not an operator's");
  }
  auto op = registry_.findOperator(id->common_name.substr(9));
  if (!op.ok() || !op->holdsCertificate(id->fingerprint)) {
    logWarning("%s from %s refused: unknown or revoked operator certificate", rpc, ctx->peer());
    log_.logAnonymousRefusal(
        "", absl::StrFormat("%s from %s refused: unknown or revoked certificate of %s", rpc,
                            ctx->peer(), id->common_name));
    return absl::PermissionDeniedError("operator certificate is unknown or revoked");
  }
  if (roleMayCall(op->role, rpc)) {
    // The first call with a renewed certificate retires the one it replaced; an operator added
    // before expiries were kept gets its expiry recorded.
    if (id->fingerprint == op->cert_fingerprint &&
        (!op->prev_cert_fingerprint.empty() || op->cert_not_after_ms == 0)) {
      if (auto s =
              registry_.noteOperatorCertificate(op->name, id->fingerprint, certNotAfterMs(*id));
          !s.ok()) {
        logWarning("operator %s: cannot record its certificate: %s", op->name, s.message());
      }
    }
    op->cert_fingerprint = id->fingerprint;
    return op;
  }
  logWarning("%s by operator %s (%s) refused: role not allowed", rpc, op->name, op->role);
  log_.logRefusal("operator:" + op->name, "", "",
                  absl::StrFormat("%s refused: operator %s has role %s", rpc, op->name, op->role));
  return absl::PermissionDeniedError(
      absl::StrFormat("operator %s has role %s, which may not call %s", op->name, op->role, rpc));
}

absl::Status Authorizer::stillAuthorized(const OperatorRecord& op, std::string_view rpc) {
  auto now = registry_.findOperator(op.name);
  if (now.ok() && now->holdsCertificate(op.cert_fingerprint) && roleMayCall(now->role, rpc)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(
      absl::StrFormat("operator %s was revoked or changed while the call waited", op.name));
}

}  // namespace warden
