// The CLI's side of the operator API: the channel to the controller named in the operator's
// profile, the operator's signature on every request, and RPC errors as exit codes.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/audit/request.h"
#include "common/profile.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"
#include "warden/v1/operator.grpc.pb.h"

namespace warden::cli {

// The options every verb sees, whatever its subcommand.
struct Globals {
  std::string profile_path;
  bool json = false;
  // Every host-changing command: why (kept on the controller and in the log, never sent to
  // the host) and the incident it is part of (codename or id; $WARDEN_INCIDENT).
  std::string reason;
  std::string incident;
};

// A connection to the controller as one operator: their profile (keys, certificates, name)
// and the operator API stub over a mutually authenticated TLS channel.
class Client {
 public:
  // The profile from --profile, else $WARDEN_PROFILE. The channel connects lazily, on the
  // first call.
  static absl::StatusOr<Client> connect(const Globals& g);
  // A client for `profile`, read from `path`.
  static absl::StatusOr<Client> connectWith(OperatorProfile profile, const std::string& path);

  // A unary method of the operator API, e.g. &v1::Operator::Stub::ListHosts.
  template <typename Req, typename Resp>
  using Rpc = grpc::Status (v1::Operator::Stub::*)(grpc::ClientContext*, const Req&, Resp*);

  // A call context that gives up after `timeout`.
  std::unique_ptr<grpc::ClientContext> context(absl::Duration timeout) const;

  // Calls `rpc`, giving up after `timeout`.
  template <typename Req, typename Resp>
  grpc::Status call(Rpc<Req, Resp> rpc, const Req& req, Resp* resp, absl::Duration timeout) {
    auto ctx = context(timeout);
    return ((*stub).*rpc)(ctx.get(), req, resp);
  }

  OperatorProfile profile;
  std::unique_ptr<v1::Operator::Stub> stub;
  std::string profile_path;  // the file `profile` was read from
};

// The exit code an RPC's status means (exit_codes.h).
int exitFor(const grpc::Status& s);
// Says what went wrong on stderr and returns exitFor(s).
int reportRpcError(const grpc::Status& s);
// The same for a local error: says it and returns 2 for bad input (invalid, not found,
// failed precondition), 3 for not authorised, 1 otherwise.
int reportStatus(const absl::Status& s);

// Fills in the request's id, operator and time and signs it with the operator's signing key
// (common/audit/request.h): {bytes, signature}. The controller acts on, and logs, exactly what
// the operator signed.
absl::StatusOr<std::pair<std::string, std::string>> signedRequest(const Client& c, Request r);

// Signs `req` as the request it describes and puts the signed bytes into it.
absl::Status signRequest(const Client& c, v1::SubmitRequest& req);

// Signs an operator change as the admin's request and puts it into `req` (an
// AddOperatorRequest or RevokeOperatorRequest); false (after saying why) when it cannot.
template <typename OperatorRpcRequest>
bool attachOperatorChange(const Client& c, const OperatorChange& change, const std::string& reason,
                          OperatorRpcRequest& req) {
  Request r;
  r.kind = change.revoke ? kRevokeOperatorKind : kAddOperatorKind;
  r.reason = reason;
  r.args = operatorChangeArgs(change);
  auto signed_change = signedRequest(c, std::move(r));
  if (!signed_change.ok()) {
    printError(std::string(signed_change.status().message()));
    return false;
  }
  req.set_request(signed_change->first);
  req.set_request_signature(signed_change->second);
  return true;
}

// Connects and runs `fn`; a profile that cannot be used is bad input (2). A profile whose
// certificate is due for renewal is renewed first (profile_renewal.h), with a note on stderr.
int withClient(const Globals& g, const std::function<int(Client&)>& fn);

// Signs `req` and submits it, giving up after `timeout`: kExitOk with `resp` filled in, or the exit
// code after saying what went wrong (an unusable signing key is bad input).
// The request carries g.reason and the id of g.incident, which must name an open incident
// (bad input otherwise: nothing is sent).
int signAndSubmit(const Globals& g, Client& c, v1::SubmitRequest& req, absl::Duration timeout,
                  v1::SubmitResponse& resp);

// The open incident `name` (codename or id) names: its id, or the exit code after saying why
// not (unknown or closed: bad input).
absl::StatusOr<std::string> openIncidentId(Client& c, const std::string& name);

// Connects, makes one call and hands its answer to `then(Client&, const Resp&)`, which returns
// the exit code; a failed call is reported and its exit code returned.
template <typename Req, typename Resp, typename Then>
int withAnswer(const Globals& g, Client::Rpc<Req, Resp> rpc, const Req& req, absl::Duration timeout,
               Then&& then) {
  return withClient(g, [&](Client& c) {
    Resp resp;
    if (auto s = c.call(rpc, req, &resp, timeout); !s.ok()) return reportRpcError(s);
    return then(c, static_cast<const Resp&>(resp));
  });
}

// The read-only verbs: one call, then the answer as protobuf's JSON (--json) or as `print`
// shows it. kExitOk, or the call's exit code.
template <typename Req, typename Resp>
int showAnswer(const Globals& g, Client::Rpc<Req, Resp> rpc, const Req& req, absl::Duration timeout,
               void (*print)(const Resp&)) {
  return withAnswer(g, rpc, req, timeout, [&](Client&, const Resp& resp) {
    if (g.json) {
      printMessageJson(resp);
    } else {
      print(resp);
    }
    return kExitOk;
  });
}

}  // namespace warden::cli
