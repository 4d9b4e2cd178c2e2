#include "controller/cli/client.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_format.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/net.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/profile_renewal.h"

namespace warden::cli {

absl::StatusOr<Client> Client::connect(const Globals& g) {
  std::string path = g.profile_path;
  if (path.empty()) {
    if (const char* env = std::getenv("WARDEN_PROFILE"); env != nullptr) path = env;
  }
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "no operator profile: pass --profile FILE or set WARDEN_PROFILE");
  }
  auto profile = loadProfile(path);
  if (!profile.ok()) return profile.status();
  return connectWith(*std::move(profile), path);
}

absl::StatusOr<Client> Client::connectWith(OperatorProfile profile, const std::string& path) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = profile.ca_pem;
  ssl.pem_private_key = profile.key_pem;
  ssl.pem_cert_chain = profile.cert_pem;
  grpc::ChannelArguments args;
  // The controller's certificate always names "warden-controller", whatever address
  // operators use to reach it.
  args.SetSslTargetNameOverride("warden-controller");
  args.SetMaxReceiveMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel(profile.controller, grpc::SslCredentials(ssl), args);
  return Client{std::move(profile), v1::Operator::NewStub(channel), path};
}

std::unique_ptr<grpc::ClientContext> Client::context(absl::Duration timeout) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  return ctx;
}

int exitFor(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
      return kExitBadInput;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return kExitNotAuthorised;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kExitPending;
    default:
      return kExitFailed;
  }
}

int reportRpcError(const grpc::Status& s) {
  std::string msg = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
    msg = "cannot reach the controller: " + msg;
  }
  printError(msg);
  return exitFor(s);
}

int reportStatus(const absl::Status& s) {
  printError(std::string(s.message()));
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
      return kExitBadInput;
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
      return kExitNotAuthorised;
    default:
      return kExitFailed;
  }
}

absl::StatusOr<std::pair<std::string, std::string>> signedRequest(const Client& c, Request r) {
  auto key = crypto::Ed25519Key::fromPem(c.profile.signing_key_pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the profile's signing key is unusable: %s", key.status().message()));
  }
  auto rnd = crypto::randomBytes(8);
  if (!rnd.ok()) return rnd.status();
  r.id = "r-" + crypto::hex(*rnd);
  r.operator_name = c.profile.name;
  r.issued_unix_ms = nowUnixMs();
  std::string bytes = encodeRequest(r);
  auto sig = key->sign(bytes);
  if (!sig.ok()) return sig.status();
  return std::make_pair(std::move(bytes), std::move(*sig));
}

absl::Status signRequest(const Client& c, v1::SubmitRequest& req) {
  Request r;
  r.kind = req.kind();
  r.hosts.assign(req.hosts().begin(), req.hosts().end());
  r.all_hosts = req.all_hosts();
  for (const auto& e : req.allow()) {
    auto prefix = IpPrefix::parse(e.cidr());
    if (!prefix.ok()) return prefix.status();
    r.allow.push_back(AllowEntry{*prefix, static_cast<std::uint16_t>(e.port())}.toString());
  }
  r.addresses.assign(req.addresses().begin(), req.addresses().end());
  r.args.assign(req.args().begin(), req.args().end());
  r.reason = req.reason();
  r.incident = req.incident();
  auto signed_request = signedRequest(c, std::move(r));
  if (!signed_request.ok()) return signed_request.status();
  req.set_request(signed_request->first);
  req.set_request_signature(signed_request->second);
  return absl::OkStatus();
}

absl::StatusOr<std::string> openIncidentId(Client& c, const std::string& name) {
  v1::GetIncidentRequest q;
  q.set_name(name);
  q.set_brief(true);
  v1::IncidentView incident;
  auto s = c.call(&v1::Operator::Stub::GetIncident, q, &incident, absl::Seconds(15));
  if (!s.ok()) {
    return absl::Status(s.error_code() == grpc::StatusCode::NOT_FOUND
                            ? absl::StatusCode::kInvalidArgument
                            : static_cast<absl::StatusCode>(s.error_code()),
                        s.error_message());
  }
  if (incident.state() != "open") {
    return absl::InvalidArgumentError(
        absl::StrFormat("incident %s is closed (by %s): open a new one with 'warden incident open'",
                        incident.codename(), incident.closed_by()));
  }
  return incident.id();
}

int signAndSubmit(const Globals& g, Client& c, v1::SubmitRequest& req, absl::Duration timeout,
                  v1::SubmitResponse& resp) {
  if (req.reason().empty()) req.set_reason(g.reason);
  if (!g.incident.empty()) {
    auto id = openIncidentId(c, g.incident);
    if (!id.ok()) {
      printError(std::string(id.status().message()));
      return id.status().code() == absl::StatusCode::kInvalidArgument
                 ? kExitBadInput
                 : exitFor(grpc::Status(static_cast<grpc::StatusCode>(id.status().code()),
                                        std::string(id.status().message())));
    }
    req.set_incident(*id);
  }
  auto ctx = c.context(timeout);
  if (auto signed_ok = signRequest(c, req); !signed_ok.ok()) {
    printError(std::string(signed_ok.message()));
    return kExitBadInput;
  }
  auto s = c.stub->Submit(ctx.get(), req, &resp);
  return s.ok() ? kExitOk : reportRpcError(s);
}

int withClient(const Globals& g, const std::function<int(Client&)>& fn) {
  auto c = Client::connect(g);
  if (!c.ok()) {
    printError(std::string(c.status().message()));
    return c.status().code() == absl::StatusCode::kInvalidArgument ||
                   c.status().code() == absl::StatusCode::kNotFound
               ? kExitBadInput
               : kExitFailed;
  }
  renewProfileIfDue(*c);
  // The process ends right after the command; tearing the channel down first (joining gRPC's
  // threads, freeing the TLS context) would only add to every command's latency.
  Client* kept = new Client(std::move(*c));
  return fn(*kept);
}

}  // namespace warden::cli
