// Wiring: the shared context, the policy objects over it, and the two gRPC services on one
// mutually authenticated TLS port.
#include "controller/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/log.h"
#include "common/net.h"
#include "common/status.h"
#include "controller/agent_channel/agent_service.h"
#include "controller/alerts/alert_intake.h"
#include "controller/alerts/alert_store.h"
#include "controller/alerts/automation.h"
#include "controller/alerts/intake_server.h"
#include "controller/authz.h"
#include "controller/context.h"
#include "controller/dispatch/dispatcher.h"
#include "controller/dispatch/request_policy.h"
#include "controller/evidence/upload_intake.h"
#include "controller/operator_api/operator_service.h"
#include "controller/renewal/certificate_issuer.h"
#include "controller/renewal/certificate_watch.h"

namespace warden {

// Declared in the order they are made: each uses only what comes before it.
struct ControllerServer::Impl {
  Impl(std::unique_ptr<ControllerContext> context, std::unique_ptr<AlertStore> alerts,
       const ServeOptions& options)
      : ctx(std::move(context)),
        alert_store(std::move(alerts)),
        authz(ctx->registry(), *ctx->log),
        policy(ctx->keys),
        dispatcher(*ctx, options.default_expiry),
        receipts(*ctx, dispatcher),
        heartbeats(*ctx),
        evidence(*ctx),
        issuer(*ctx),
        watch(*ctx),
        automation(*ctx, *alert_store, dispatcher),
        intake(*alert_store, automation, *ctx->log),
        agent_service(*ctx, dispatcher, receipts, heartbeats, evidence, issuer),
        operator_service(*ctx, authz, policy, dispatcher, issuer, *alert_store, automation) {}

  std::unique_ptr<ControllerContext> ctx;
  std::unique_ptr<AlertStore> alert_store;
  Authorizer authz;
  RequestPolicy policy;
  Dispatcher dispatcher;
  ReceiptIntake receipts;
  HeartbeatIntake heartbeats;
  EvidenceIntake evidence;
  CertificateIssuer issuer;
  CertificateWatch watch;
  Automation automation;
  AlertIntake intake;
  AgentChannelService agent_service;
  OperatorService operator_service;
  std::shared_ptr<grpc::experimental::CertificateProviderInterface> certificates;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::unique_ptr<IntakeServer> intake_server;  // the HTTPS alert intake
};

namespace {
// How often the TLS port re-reads its certificate files.
constexpr unsigned kCertificateReloadSeconds = 2;
}  // namespace

ControllerServer::ControllerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControllerServer::~ControllerServer() { shutdown(); }

absl::StatusOr<std::unique_ptr<ControllerServer>> ControllerServer::start(
    ControllerKeys keys, const ServeOptions& options) {
  auto ctx = std::make_unique<ControllerContext>(std::move(keys));
  ctx->lifetimes = options.cert_lifetimes;
  WARDEN_ASSIGN_OR_RETURN(ctx->log, LogWriter::open(ctx->keys, kMaxLogEntryBytes));
  WARDEN_ASSIGN_OR_RETURN(
      ctx->evidence, EvidenceStore::open(ctx->keys.data_dir + "/evidence", options.evidence_quota));
  WARDEN_ASSIGN_OR_RETURN(ctx->server_certificate,
                          ServerCertificate::load(ctx->keys, options.cert_lifetimes.controller));
  const ControllerKeys& k = ctx->keys;
  const std::string listen = options.listen_override.empty() ? k.listen : options.listen_override;
  WARDEN_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(listen));

  WARDEN_ASSIGN_OR_RETURN(auto alert_store, AlertStore::open(ctx->keys.data_dir + "/warden.db"));
  ctx->notifier = Notifier::start(ctx->keys.notify_key);
  auto impl = std::make_unique<Impl>(std::move(ctx), std::move(alert_store), options);
  WARDEN_RETURN_IF_ERROR(impl->automation.loadRules());
  WARDEN_RETURN_IF_ERROR(impl->automation.catchUpFromLog());
  // The first look renews the controller's certificate if it is due and writes the chain the
  // port serves, before the port opens; then daily warnings and renewals as they fall due.
  impl->watch.lookOnce(absl::Now());
  // The certificate and CA come from files the provider re-reads every few seconds: a renewed
  // certificate is served to new connections without a restart. The chain includes the CA so an
  // enrolling agent can fetch it and check the fingerprint its join token pins.
  const ServerCertificate& served = *impl->ctx->server_certificate;
  if (!pathExists(served.chainPath())) {
    return absl::FailedPreconditionError(
        absl::StrFormat("%s could not be written; see the log above", served.chainPath()));
  }
  impl->certificates = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      served.keyPath(), served.chainPath(), served.caPath(), kCertificateReloadSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls(impl->certificates);
  tls.watch_root_certs();
  tls.watch_identity_key_cert_pairs();
  tls.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(hp.toString(), grpc::experimental::TlsServerCredentials(tls),
                           &impl->port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Agents keep their stream open for days; keepalives find dead peers.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(&impl->agent_service);
  builder.RegisterService(&impl->operator_service);
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return absl::UnavailableError(absl::StrFormat("cannot listen on %s", hp.toString()));
  }
  logInfo("controller listening on %s (port %d), advertised as %s", hp.toString(), impl->port,
          impl->ctx->keys.advertise);
  // The alert intake serves the controller's own certificate (renewed in place: read at start).
  const std::string alerts_listen = options.alerts_listen_override.empty()
                                        ? impl->ctx->keys.alerts_listen
                                        : options.alerts_listen_override;
  if (alerts_listen != "off") {
    WARDEN_ASSIGN_OR_RETURN(std::string chain, readFile(served.chainPath()));
    WARDEN_ASSIGN_OR_RETURN(std::string key, readFile(served.keyPath()));
    IntakeTls tls{chain, key, impl->ctx->keys.ca.cert_pem};
    WARDEN_ASSIGN_OR_RETURN(impl->intake_server,
                            IntakeServer::start(alerts_listen, tls, impl->intake));
    logInfo("alert intake listening on %s (port %d)", alerts_listen, impl->intake_server->port());
  }
  impl->watch.start();
  return std::unique_ptr<ControllerServer>(new ControllerServer(std::move(impl)));
}

int ControllerServer::port() const { return impl_->port; }

int ControllerServer::alertsPort() const {
  return impl_->intake_server ? impl_->intake_server->port() : 0;
}

void ControllerServer::wait() { impl_->server->Wait(); }

void ControllerServer::shutdown() {
  if (impl_) impl_->watch.stop();
  if (impl_ && impl_->intake_server) impl_->intake_server->stop();
  if (impl_ && impl_->ctx->notifier) impl_->ctx->notifier->stop();
  if (impl_ && impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
}

}  // namespace warden
