// Who is calling, and whether they may (DESIGN.md "Trust model"). Every caller presents a
// certificate issued by the controller's CA; its common name says who it is: "agent:HOST" or
// "operator:NAME". Operators are then held to the role table in authz.cc: one row per operator
// RPC with the roles that may call it. Every refusal is logged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "controller/registry.h"

namespace grpc {
class ServerContext;
}

namespace warden {

class LogWriter;

// The identity in the peer's verified certificate: CN "agent:<host>" or "operator:<name>".
struct PeerIdentity {
  std::string common_name;
  std::string fingerprint;
  std::string cert_pem;  // the verified certificate itself
};

// Unauthenticated when the peer has no verified certificate or it carries no usable identity.
absl::StatusOr<PeerIdentity> peerIdentity(const grpc::ServerContext* ctx);
// The same, but nullopt for a peer that presented no certificate at all (the only calls that
// take one: enrollment, and the renewal of an agent whose certificate expired).
absl::StatusOr<std::optional<PeerIdentity>> optionalPeerIdentity(const grpc::ServerContext* ctx);
// When the peer's certificate expires, in Unix milliseconds (0 when it cannot be read).
std::int64_t certNotAfterMs(const PeerIdentity& id);
// The host id of an agent's certificate; nullopt for any other identity.
std::optional<std::string> agentHostId(const PeerIdentity& id);

// Host ids, and operator names alike: letters, digits, '.', '-', '_', at most 63, starting
// with a letter or digit (they end up in certificate names and log entries).
bool validHostId(const std::string& h);

// Whether the role table lets `role` call the operator RPC `rpc`. An RPC missing from the
// table is refused to everyone.
bool roleMayCall(std::string_view role, std::string_view rpc);

// Checks operator callers against the role table, logging every refusal: callers that could
// not be identified rate-limited (anyone who reaches the port can cause those), operators one
// by one.
class Authorizer {
 public:
  Authorizer(Registry& registry, LogWriter& log) : registry_(registry), log_(log) {}

  // The calling operator, if their certificate is current (or the one just renewed, until the
  // new one is used) and their role may call `rpc`. The record's `cert_fingerprint` is the
  // certificate this call presented.
  absl::StatusOr<OperatorRecord> authorize(grpc::ServerContext* ctx, std::string_view rpc);
  // The caller as the registry says now: authorize() ran before the call waited for the
  // identity lock, and a revocation or role change may have landed in between.
  absl::Status stillAuthorized(const OperatorRecord& op, std::string_view rpc);

 private:
  Registry& registry_;
  LogWriter& log_;
};

}  // namespace warden
