// warden-controller: `init` creates a data directory, `serve` runs the gRPC server.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "common/cert_lifetime.h"
#include "common/duration.h"
#include "common/log.h"
#include "controller/data_dir.h"
#include "controller/server.h"

namespace {

// A CLI11 check that takes a duration as operators type it (common/duration.h), at least `min`.
CLI::Validator durationAtLeast(absl::Duration min, const std::string& min_text) {
  return CLI::Validator(
      [min, min_text](std::string& text) -> std::string {
        auto d = warden::parseDuration(text);
        if (!d.ok()) return std::string(d.status().message());
        if (*d < min) return "must be at least " + min_text;
        return "";
      },
      "DURATION");
}

// Parses what durationAtLeast() accepted.
absl::Duration durationOf(const std::string& text) { return *warden::parseDuration(text); }

int serve(const std::string& data_dir, const std::string& listen, const std::string& alerts_listen,
          const warden::EvidenceQuota& quota, const warden::CertificateLifetimes& lifetimes) {
  auto keys = warden::loadDataDir(data_dir);
  if (!keys.ok()) {
    std::fprintf(stderr, "warden-controller: %s\n", std::string(keys.status().message()).c_str());
    return 1;
  }
  warden::ServeOptions options;
  options.listen_override = listen;
  options.alerts_listen_override = alerts_listen;
  options.evidence_quota = quota;
  options.cert_lifetimes = lifetimes;
  // Block the termination signals in every thread; one thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto server = warden::ControllerServer::start(std::move(*keys), options);
  if (!server.ok()) {
    std::fprintf(stderr, "warden-controller: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&set, &sig);
    warden::logInfo("signal %d: shutting down", sig);
    (*server)->shutdown();
  });
  (*server)->wait();
  waiter.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "warden-controller: the Warden controller. It holds the CA and signing keys, the host "
      "registry and the action queue, and serves agents and operators on one mutually "
      "authenticated TLS port."};
  app.require_subcommand(1);

  warden::InitOptions init;
  auto* init_cmd = app.add_subcommand(
      "init",
      "Create a data directory: CA, TLS certificate, command and log keys, database, "
      "DIR/admin.profile (first operator) and DIR/log.vkey");
  init_cmd
      ->add_option("--data-dir", init.data_dir, "Directory to create (must not hold a controller)")
      ->required();
  init_cmd->add_option("--listen", init.listen, "Address to listen on")->capture_default_str();
  init_cmd->add_option("--advertise", init.advertise,
                       "HOST:PORT operators and agents dial (default: from --listen)");
  init_cmd->add_option("--alerts-listen", init.alerts_listen,
                       "Address of the HTTPS alert intake (Alertmanager, Falco, JSON webhooks; "
                       "default: the --listen host on port 7444)");
  std::string ca_validity = "3650d";
  init_cmd
      ->add_option("--ca-validity", ca_validity,
                   "Lifetime of the new CA (at least 1d). It cannot be renewed in place and no "
                   "certificate outlives it; the controller warns 60 days ahead")
      ->check(durationAtLeast(warden::kMinCaValidity, "1d"))
      ->capture_default_str();

  std::string data_dir, listen, alerts_listen;
  auto* serve_cmd = app.add_subcommand("serve", "Serve agents and operators");
  serve_cmd->add_option("--data-dir", data_dir, "Data directory made by init")->required();
  serve_cmd->add_option("--listen", listen, "Override the listen address stored by init");
  serve_cmd->add_option("--alerts-listen", alerts_listen,
                        "Override the alert intake's address stored by init ('off': no intake)");
  warden::EvidenceQuota quota;
  serve_cmd
      ->add_option("--evidence-quota", quota.total_bytes,
                   "Most bytes the evidence store holds, all hosts together (e.g. 500GiB; "
                   "0: no limit but --evidence-keep-free)")
      ->transform(CLI::AsSizeValue(false));
  serve_cmd
      ->add_option("--evidence-host-quota", quota.per_host_bytes,
                   "Most evidence bytes one host's images and bundles take (0: no limit)")
      ->transform(CLI::AsSizeValue(false));
  serve_cmd
      ->add_option("--evidence-keep-free", quota.keep_free_bytes,
                   "Free space the evidence store always leaves on its disk, which holds the "
                   "action log and the registry")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  std::string agent_validity = "365d", operator_validity = "365d", controller_validity = "1826d";
  const auto validity = [&](const char* flag, std::string& value, const char* help) {
    serve_cmd->add_option(flag, value, help)
        ->check(durationAtLeast(warden::kMinCertValidity, "20s"))
        ->capture_default_str();
  };
  validity("--agent-cert-validity", agent_validity,
           "Lifetime of the agent certificates issued at enrollment and renewal (at least 20s); "
           "agents renew theirs over the channel once a third of it, or 30 days, is left");
  validity("--operator-cert-validity", operator_validity,
           "Lifetime of operator certificates ('warden operator add', renewals); 'warden' renews "
           "a profile's certificate on use once a third of it, or 30 days, is left");
  validity("--controller-cert-validity", controller_validity,
           "Lifetime the controller gives its own TLS certificate when it renews it (at start, "
           "and while it runs, once a third of it, or 30 days, is left)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*init_cmd) {
    init.ca_validity = durationOf(ca_validity);
    auto s = warden::initDataDir(init);
    if (!s.ok()) {
      std::fprintf(stderr, "warden-controller init: %s\n", std::string(s.message()).c_str());
      return s.code() == absl::StatusCode::kAlreadyExists ||
                     s.code() == absl::StatusCode::kInvalidArgument
                 ? 2
                 : 1;
    }
    std::printf(
        "Initialised %s\n  operator profile: %s/admin.profile\n  log verifier key: %s/log.vkey\n",
        init.data_dir.c_str(), init.data_dir.c_str(), init.data_dir.c_str());
    return 0;
  }
  warden::CertificateLifetimes lifetimes;
  lifetimes.agent = durationOf(agent_validity);
  lifetimes.operator_cert = durationOf(operator_validity);
  lifetimes.controller = durationOf(controller_validity);
  return serve(data_dir, listen, alerts_listen, quota, lifetimes);
}
