// Operators (DESIGN.md "Trust model"): an admin adds or revokes one with a request they sign,
// which the log keeps, so an auditor checks every operator key was vouched for by an admin.
#include <algorithm>
#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "common/crypto/x509.h"
#include "common/log.h"
#include "common/status.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {
namespace {

// An operator entry keeps the admin's signed request as its body: an auditor checks the
// admin's signature on every operator change.
LogEntry operatorChangeEntry(const std::string& admin, const std::string& request_id,
                             const std::string& request, const std::string& signature) {
  LogEntry e;
  e.type = entry_type::kOperator;
  e.actor = "operator:" + admin;
  e.ref = request_id;
  e.body = request;
  e.signature = signature;
  return e;
}

}  // namespace

absl::Status OperatorService::refusalLogged(const OperatorRecord& by, const char* change,
                                            const std::string& name, absl::Status s) {
  if (!s.ok()) {
    logWarning("operator %s: %s '%s' refused: %s", by.name, change, name, s.message());
    ctx_.log->logRefusal(
        "operator:" + by.name, "", "",
        absl::StrFormat("%s operator '%s' refused: %s", change, name.substr(0, 64), s.message()));
  }
  return s;
}

grpc::Status OperatorService::AddOperator(grpc::ServerContext* ctx,
                                          const v1::AddOperatorRequest* req,
                                          v1::AddOperatorResponse* resp) {
  auto op = authz_.authorize(ctx, "AddOperator");
  if (!op.ok()) return toGrpc(op.status());
  return toGrpc(refusalLogged(*op, "adding", req->name(), addOperator(*op, *req, resp)));
}

grpc::Status OperatorService::RevokeOperator(grpc::ServerContext* ctx,
                                             const v1::RevokeOperatorRequest* req,
                                             v1::RevokeOperatorResponse*) {
  auto op = authz_.authorize(ctx, "RevokeOperator");
  if (!op.ok()) return toGrpc(op.status());
  return toGrpc(refusalLogged(*op, "revoking", req->name(), revokeOperator(*op, *req)));
}

absl::Status OperatorService::revokeOperator(const OperatorRecord& by,
                                             const v1::RevokeOperatorRequest& req) {
  if (req.reason().size() > 4096) return absl::InvalidArgumentError("reason is too long");
  std::unique_lock<std::shared_mutex> identity(ctx_.identity_mu);
  WARDEN_RETURN_IF_ERROR(authz_.stillAuthorized(by, "RevokeOperator"));
  Registry& registry = ctx_.registry();
  WARDEN_ASSIGN_OR_RETURN(OperatorRecord target, registry.findOperator(req.name()));
  if (target.role == "revoked") {
    return absl::FailedPreconditionError(
        absl::StrFormat("operator '%s' is already revoked", req.name()));
  }
  WARDEN_ASSIGN_OR_RETURN(Request signed_request,
                          policy_.verifySignedRequest(by, req.request(), req.request_signature()));
  WARDEN_ASSIGN_OR_RETURN(OperatorChange change, operatorChangeOf(signed_request));
  if (!change.revoke || change.name != req.name() || signed_request.reason != req.reason()) {
    return absl::InvalidArgumentError("the signed request does not match the revocation");
  }
  if (target.role == "admin") {
    WARDEN_ASSIGN_OR_RETURN(auto all, registry.listOperators());
    const auto admins = std::count_if(all.begin(), all.end(),
                                      [](const OperatorRecord& o) { return o.role == "admin"; });
    if (admins <= 1) return absl::FailedPreconditionError("refusing to revoke the last admin");
  }
  LogEntry e =
      operatorChangeEntry(by.name, signed_request.id, req.request(), req.request_signature());
  e.detail = absl::StrFormat("operator %s (%s) revoked by %s%s", target.name, target.role, by.name,
                             req.reason().empty() ? "" : ": " + req.reason());
  WARDEN_RETURN_IF_ERROR(ctx_.log->appendEntry(e).status());
  WARDEN_RETURN_IF_ERROR(registry.revokeOperator(target.name));
  logInfo("operator %s revoked operator %s (%s)", by.name, target.name, target.role);
  return absl::OkStatus();
}

absl::Status OperatorService::addOperator(const OperatorRecord& op,
                                          const v1::AddOperatorRequest& req,
                                          v1::AddOperatorResponse* resp) {
  if (!validHostId(req.name())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid operator name '%s' (letters, digits, '.', '-', '_'; at most 63)", req.name()));
  }
  if (req.role() != "admin" && req.role() != "responder" && req.role() != "auditor") {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid role '%s' (admin, responder or auditor)", req.role()));
  }
  if (req.signing_public_key().size() != 32) {
    return absl::InvalidArgumentError("signing key must be a raw 32-byte Ed25519 key");
  }
  std::unique_lock<std::shared_mutex> identity(ctx_.identity_mu);
  WARDEN_RETURN_IF_ERROR(authz_.stillAuthorized(op, "AddOperator"));
  Registry& registry = ctx_.registry();
  if (registry.findOperator(req.name()).ok()) {
    return absl::AlreadyExistsError(absl::StrFormat("operator '%s' already exists", req.name()));
  }
  // The admin's signed request is what the log keeps: an auditor checks the new key was
  // vouched for by an admin, not just by the controller.
  WARDEN_ASSIGN_OR_RETURN(Request signed_request,
                          policy_.verifySignedRequest(op, req.request(), req.request_signature()));
  WARDEN_ASSIGN_OR_RETURN(OperatorChange change, operatorChangeOf(signed_request));
  if (change.revoke || change.name != req.name() || change.role != req.role() ||
      change.signing_key != req.signing_public_key()) {
    return absl::InvalidArgumentError("the signed request does not match the operator to add");
  }
  crypto::CertProfile profile;
  profile.common_name = "operator:" + req.name();
  profile.client = true;
  profile.validity = ctx_.lifetimes.operator_cert;
  WARDEN_ASSIGN_OR_RETURN(std::string cert, crypto::signCsr(ctx_.keys.ca, req.csr_pem(), profile));
  WARDEN_ASSIGN_OR_RETURN(std::string fp, crypto::certFingerprint(cert));
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity validity, crypto::certValidity(cert));
  LogEntry e =
      operatorChangeEntry(op.name, signed_request.id, req.request(), req.request_signature());
  e.detail = absl::StrFormat("operator %s (%s) added by %s; certificate %s", req.name(), req.role(),
                             op.name, fp.substr(0, 16));
  WARDEN_RETURN_IF_ERROR(ctx_.log->appendEntry(e).status());
  WARDEN_RETURN_IF_ERROR(
      registry.addOperator(OperatorRecord{req.name(), req.role(), fp, req.signing_public_key(), "",
                                          absl::ToUnixMillis(validity.not_after)}));
  logInfo("operator %s added operator %s with role %s", op.name, req.name(), req.role());
  resp->set_certificate_pem(cert);
  resp->set_ca_pem(ctx_.keys.ca.cert_pem);
  resp->set_controller(ctx_.keys.advertise);
  return absl::OkStatus();
}

}  // namespace warden
