// Join tokens (DESIGN.md "Trust model"): one-time, expiring, bound to this controller's CA.
#include <shared_mutex>

#include "absl/strings/str_format.h"
#include "common/command.h"
#include "common/log.h"
#include "common/token.h"
#include "controller/operator_api/operator_service.h"
#include "controller/rpc_status.h"

namespace warden {

grpc::Status OperatorService::CreateToken(grpc::ServerContext* ctx,
                                          const v1::CreateTokenRequest* req,
                                          v1::CreateTokenResponse* resp) {
  auto op = authz_.authorize(ctx, "CreateToken");
  if (!op.ok()) return toGrpc(op.status());
  if (req->ttl_seconds() < 0 || req->ttl_seconds() > 30 * 24 * 3600) {
    return toGrpc(absl::InvalidArgumentError("token ttl must be between 1s and 30 days"));
  }
  if (!req->host_id().empty() && !validHostId(req->host_id())) {
    return toGrpc(
        absl::InvalidArgumentError(absl::StrFormat("invalid host id '%s'", req->host_id())));
  }
  std::shared_lock<std::shared_mutex> identity(ctx_.identity_mu);
  if (auto still = authz_.stillAuthorized(*op, "CreateToken"); !still.ok()) return toGrpc(still);
  auto token = JoinToken::generate(ctx_.keys.ca_fingerprint);
  if (!token.ok()) return toGrpc(token.status());
  const std::int64_t ttl = req->ttl_seconds() == 0 ? 3600 : req->ttl_seconds();
  const std::int64_t expires = nowUnixMs() + ttl * 1000;
  auto s = ctx_.registry().addToken(token->id, crypto::sha256(token->secret), req->host_id(),
                                    expires, op->name);
  if (!s.ok()) return toGrpc(s);
  logInfo("operator %s created join token %s (expires in %ds%s)", op->name, token->id, ttl,
          req->host_id().empty() ? "" : ", host " + req->host_id());
  LogEntry e;
  e.type = entry_type::kEvent;
  e.actor = "operator:" + op->name;
  e.host_id = req->host_id();
  e.ref = token->id;
  e.detail = absl::StrFormat("join token %s created, valid %ds%s", token->id, ttl,
                             req->host_id().empty() ? "" : " for host " + req->host_id());
  if (auto logged = ctx_.log->appendEntry(e); !logged.ok()) return toGrpc(logged.status());
  resp->set_token(token->toString());
  resp->set_expires_unix_ms(expires);
  return grpc::Status::OK;
}

}  // namespace warden
