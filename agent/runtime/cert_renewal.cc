#include "agent/runtime/cert_renewal.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <random>

#include "absl/strings/str_format.h"
#include "common/audit/cert_renewal.h"
#include "common/cert_lifetime.h"
#include "common/cert_renewal_request.h"
#include "common/files.h"
#include "common/log.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden {
namespace {

constexpr absl::Duration kRpcTimeout = absl::Seconds(20);
// A certificate this close to its end is treated as expired: a handshake started with it could
// fail half way.
constexpr absl::Duration kExpiryMargin = absl::Seconds(2);
// How often the thread looks again when renewal cannot help (the certificate ends with the CA).
constexpr absl::Duration kIdleLook = absl::Hours(24);

absl::Status fromGrpc(const grpc::Status& s, const char* what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrFormat("%s: %s", what, s.error_message()));
}

std::string utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

absl::Status renameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return errnoStatus("rename", from, errno);
  return absl::OkStatus();
}

void syncDirectory(const std::string& dir) {
  if (const UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); fd.ok()) {
    ::fsync(fd.get());
  }
}

}  // namespace

AgentCertificate::AgentCertificate(StateStore& store, std::string host_id, std::string controller,
                                   crypto::Ed25519Key receipt_key)
    : store_(store),
      host_id_(std::move(host_id)),
      controller_(std::move(controller)),
      receipt_key_(std::move(receipt_key)) {}

AgentCertificate::~AgentCertificate() { stop(); }

absl::Status AgentCertificate::recover() {
  std::lock_guard<std::mutex> lock(files_mu_);
  const std::string next_key = store_.path("tls.next.key");
  const std::string next_crt = store_.path("tls.next.crt");
  if (!pathExists(next_crt)) {
    // The new key was stored and its certificate never was: the renewal did not happen.
    if (pathExists(next_key)) ::unlink(next_key.c_str());
    return absl::OkStatus();
  }
  // tls.next.key already renamed over tls.key when only the certificate is left.
  const bool key_pending = pathExists(next_key);
  WARDEN_ASSIGN_OR_RETURN(std::string cert, readFile(next_crt));
  WARDEN_ASSIGN_OR_RETURN(std::string key,
                          readFile(key_pending ? next_key : store_.path("tls.key")));
  if (!crypto::certMatchesKey(cert, key).ok()) {
    ::unlink(next_crt.c_str());
    if (key_pending) ::unlink(next_key.c_str());
    logWarning(
        "host %s: threw away a half-stored certificate renewal (key and certificate "
        "differ)",
        host_id_);
    return absl::OkStatus();
  }
  if (key_pending) WARDEN_RETURN_IF_ERROR(renameFile(next_key, store_.path("tls.key")));
  WARDEN_RETURN_IF_ERROR(renameFile(next_crt, store_.path("tls.crt")));
  syncDirectory(store_.dir());
  logInfo("host %s: finished storing a renewed certificate that a restart interrupted", host_id_);
  return absl::OkStatus();
}

absl::StatusOr<AgentCertificate::Identity> AgentCertificate::identity() {
  std::lock_guard<std::mutex> lock(files_mu_);
  Identity id;
  WARDEN_ASSIGN_OR_RETURN(id.ca_pem, readFile(store_.path("ca.pem")));
  WARDEN_ASSIGN_OR_RETURN(id.key_pem, readFile(store_.path("tls.key")));
  WARDEN_ASSIGN_OR_RETURN(id.cert_pem, readFile(store_.path("tls.crt")));
  return id;
}

absl::Status AgentCertificate::store(const std::string& key_pem, const std::string& cert_pem) {
  std::lock_guard<std::mutex> lock(files_mu_);
  const std::string next_key = store_.path("tls.next.key");
  const std::string next_crt = store_.path("tls.next.crt");
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(next_key, key_pem, 0600));
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(next_crt, cert_pem, 0644));
  // From here recover() finishes the swap whatever happens.
  WARDEN_RETURN_IF_ERROR(renameFile(next_key, store_.path("tls.key")));
  WARDEN_RETURN_IF_ERROR(renameFile(next_crt, store_.path("tls.crt")));
  syncDirectory(store_.dir());
  return absl::OkStatus();
}

absl::Status AgentCertificate::renew(bool expired) {
  std::lock_guard<std::mutex> one_at_a_time(renew_mu_);
  WARDEN_ASSIGN_OR_RETURN(Identity id, identity());
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity v, crypto::certValidity(id.cert_pem));
  const absl::Time now = absl::Now();
  // Another caller may have renewed it while this one waited.
  if (expired ? now + kExpiryMargin < v.not_after : !renewalDue(v, now)) return absl::OkStatus();

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = id.ca_pem;
  if (!expired) {
    ssl.pem_private_key = id.key_pem;
    ssl.pem_cert_chain = id.cert_pem;
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("warden-controller");
  // A connection of its own: never the stream's, and never one made with other credentials.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto stub = v1::AgentChannel::NewStub(
      grpc::CreateCustomChannel(controller_, grpc::SslCredentials(ssl), args));
  // Each call bounded in time, and cancelled by stop(): the agent's shutdown never waits for an
  // unreachable controller.
  const auto call = [this](const char* what, const auto& rpc) -> absl::Status {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(kRpcTimeout));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return absl::CancelledError("the agent is stopping");
      inflight_ = &ctx;
    }
    const grpc::Status s = rpc(&ctx);
    std::lock_guard<std::mutex> lock(mu_);
    inflight_ = nullptr;
    return s.ok() ? absl::OkStatus() : fromGrpc(s, what);
  };
  const std::string subject = "agent:" + host_id_;

  v1::RenewalChallengeRequest creq;
  creq.set_subject(subject);
  v1::RenewalChallenge challenge;
  WARDEN_RETURN_IF_ERROR(call("asking for a renewal challenge", [&](grpc::ClientContext* ctx) {
    return stub->GetRenewalChallenge(ctx, creq, &challenge);
  }));
  WARDEN_ASSIGN_OR_RETURN(
      RenewalRequestParts parts,
      makeRenewalRequest(subject,
                         expired ? renewal_proof::kEnrolledKey : renewal_proof::kCertificate,
                         challenge.challenge(), receipt_key_));
  v1::RenewCertificateRequest req;
  req.set_csr_pem(parts.csr_pem);
  req.set_renewal(parts.renewal);
  req.set_signature(parts.signature);
  v1::RenewCertificateResponse resp;
  WARDEN_RETURN_IF_ERROR(call("renewal refused", [&](grpc::ClientContext* ctx) {
    return stub->RenewCertificate(ctx, req, &resp);
  }));
  // What comes back must be this host's certificate for the new key, from the pinned CA.
  const std::string& cert = resp.certificate_pem();
  WARDEN_RETURN_IF_ERROR(crypto::verifyCertIssuedBy(cert, id.ca_pem));
  WARDEN_ASSIGN_OR_RETURN(std::string name, crypto::certCommonName(cert));
  if (name != subject) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the controller sent a certificate for '%s'", name.substr(0, 80)));
  }
  WARDEN_RETURN_IF_ERROR(crypto::certMatchesKey(cert, parts.key_pem));
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity nv, crypto::certValidity(cert));
  WARDEN_RETURN_IF_ERROR(store(parts.key_pem, cert));
  logInfo(
      "host %s: certificate renewed over the channel (%s, log entry %d); valid until %s, "
      "renewal again from %s",
      host_id_,
      expired ? "it had expired: proven with the enrolled key" : "with the current certificate",
      resp.log_index(), utc(nv.not_after), utc(renewalStart(nv)));
  return absl::OkStatus();
}

absl::Status AgentCertificate::renewIfExpired() {
  WARDEN_ASSIGN_OR_RETURN(Identity id, identity());
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity v, crypto::certValidity(id.cert_pem));
  if (absl::Now() + kExpiryMargin < v.not_after) return absl::OkStatus();
  auto s = renew(true);
  if (!s.ok() && s.code() != absl::StatusCode::kCancelled) {  // cancelled: stopping
    logWarning("host %s: certificate %s, and its renewal with the enrolled key failed: %s",
               host_id_, describeExpiry(v.not_after, absl::Now()), s.message());
  }
  return s;
}

void AgentCertificate::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
}

void AgentCertificate::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (inflight_ != nullptr) inflight_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void AgentCertificate::loop() {
  int failures = 0;
  absl::Time retry_at = absl::InfinitePast();
  bool warned_ca = false;
  // Agents enrolled together would renew together: each waits a share of up to a tenth of the
  // renewal window (at most a day) past its start, drawn once, so a fleet's renewals spread out
  // instead of queueing on the controller's identity lock at one moment.
  std::mt19937_64 rng(std::random_device{}());
  const double spread = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  for (;;) {
    absl::Time wake = absl::Now() + kIdleLook;
    std::optional<crypto::CertValidity> cert;
    auto id = identity();
    auto v = id.ok() ? crypto::certValidity(id->cert_pem) : id.status();
    auto ca = id.ok() ? crypto::certValidity(id->ca_pem) : id.status();
    if (!v.ok() || !ca.ok()) {
      logError("host %s: cannot read its certificate: %s", host_id_,
               (!v.ok() ? v.status() : ca.status()).message());
      wake = absl::Now() + absl::Minutes(1);
    } else if (endsWithCa(*v, *ca)) {
      if (!warned_ca) {
        logWarning("host %s: certificate %s, with the CA: renewing cannot extend it", host_id_,
                   describeExpiry(v->not_after, absl::Now()));
        warned_ca = true;
      }
    } else {
      cert = *v;
      const absl::Duration jitter = std::min(renewalLead(*v) / 10, absl::Hours(24)) * spread;
      wake = std::max(renewalStart(*v) + jitter, retry_at);
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock,
                   absl::ToChronoMilliseconds(std::max(wake - absl::Now(), absl::ZeroDuration())),
                   [this] { return stopping_; });
      if (stopping_) return;
    }
    const absl::Time now = absl::Now();
    if (!cert || now < wake) continue;
    auto s = renew(now + kExpiryMargin >= cert->not_after);
    if (s.ok()) {
      failures = 0;
      retry_at = absl::InfinitePast();
      continue;
    }
    if (s.code() == absl::StatusCode::kCancelled) continue;  // stopping: the wait returns
    ++failures;
    const absl::Duration delay = renewalRetryDelay(*cert, failures);
    retry_at = now + delay;
    logWarning(
        "host %s: certificate renewal failed (attempt %d; next in %s; the certificate %s): "
        "%s",
        host_id_, failures, absl::FormatDuration(delay), describeExpiry(cert->not_after, now),
        s.message());
  }
}

}  // namespace warden
