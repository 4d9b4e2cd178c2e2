// The calling operator's own certificate, renewed over the channel before it expires
// (renewal/certificate_issuer.h). Refusals are logged as the operator's.
#include "absl/strings/str_format.h"
#include "common/log.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {

grpc::Status OperatorService::GetRenewalChallenge(grpc::ServerContext* ctx,
                                                  const v1::RenewalChallengeRequest* req,
                                                  v1::RenewalChallenge* resp) {
  auto op = authz_.authorize(ctx, "GetRenewalChallenge");
  if (!op.ok()) return toGrpc(op.status());
  if (req->subject() != "operator:" + op->name) {
    return toGrpc(absl::PermissionDeniedError(
        absl::StrFormat("operator %s renews its own certificate only", op->name)));
  }
  auto challenge = issuer_.challenge(req->subject());
  if (!challenge.ok()) return toGrpc(challenge.status());
  *resp = *std::move(challenge);
  return grpc::Status::OK;
}

grpc::Status OperatorService::RenewCertificate(grpc::ServerContext* ctx,
                                               const v1::RenewCertificateRequest* req,
                                               v1::RenewCertificateResponse* resp) {
  auto op = authz_.authorize(ctx, "RenewCertificate");
  if (!op.ok()) return toGrpc(op.status());
  auto renewed = issuer_.renewOperator(*req, *op);
  if (!renewed.ok()) {
    const std::string why = absl::StrFormat("certificate renewal of operator %s refused: %s",
                                            op->name, renewed.status().message());
    logWarning("%s", why);
    ctx_.log->logRefusal("operator:" + op->name, "", "", why);
    return toGrpc(renewed.status());
  }
  *resp = *std::move(renewed);
  return grpc::Status::OK;
}

}  // namespace warden
