#include "controller/data_dir.h"

#include <unistd.h>

#include "absl/strings/str_format.h"
#include "common/command.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "common/net.h"
#include "common/profile.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr char kServerName[] = "warden-controller";

std::string path(const std::string& dir, const char* name) { return dir + "/" + name; }

}  // namespace

std::string noteVerifierKey(const std::string& name, const std::string& public_key) {
  const std::string key = std::string(1, '\x01') + public_key;
  const std::string hash = crypto::sha256(name + "\n" + key);
  return absl::StrFormat("%s+%s+%s", name, crypto::hex(hash.substr(0, 4)), crypto::base64(key));
}

absl::Status initDataDir(const InitOptions& o) {
  if (o.data_dir.empty()) return absl::InvalidArgumentError("--data-dir is required");
  if (o.ca_validity < kMinCaValidity) {
    return absl::InvalidArgumentError("--ca-validity must be at least a day");
  }
  if (pathExists(path(o.data_dir, "warden.db")) || pathExists(path(o.data_dir, "ca.key"))) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "%s already holds a controller (warden.db / ca.key exist); refusing to overwrite it",
        o.data_dir));
  }
  WARDEN_ASSIGN_OR_RETURN(HostPort listen, HostPort::parse(o.listen));
  std::string advertise = o.advertise;
  if (advertise.empty()) {
    if (listen.host == "::" || listen.host == "0.0.0.0") {
      char name[256] = {};
      ::gethostname(name, sizeof(name) - 1);
      advertise = HostPort{name, listen.port}.toString();
    } else {
      advertise = o.listen;
    }
  }
  WARDEN_ASSIGN_OR_RETURN(HostPort adv, HostPort::parse(advertise));
  WARDEN_RETURN_IF_ERROR(makeDirectory(o.data_dir, 0700));

  WARDEN_ASSIGN_OR_RETURN(auto ca, crypto::createCa("Warden CA", o.ca_validity));
  WARDEN_ASSIGN_OR_RETURN(std::string server_key, crypto::generateEcKeyPem());
  WARDEN_ASSIGN_OR_RETURN(crypto::CertProfile server_profile,
                          controllerCertProfile(advertise, absl::Hours(24 * 365 * 5)));
  WARDEN_ASSIGN_OR_RETURN(std::string server_cert,
                          crypto::issueCertificate(ca, server_key, server_profile));
  WARDEN_ASSIGN_OR_RETURN(auto command_key, crypto::Ed25519Key::generate());
  WARDEN_ASSIGN_OR_RETURN(auto log_key, crypto::Ed25519Key::generate());
  WARDEN_ASSIGN_OR_RETURN(auto automation_key, crypto::Ed25519Key::generate());
  const std::string alerts_listen =
      o.alerts_listen.empty() ? defaultAlertsListen(o.listen) : o.alerts_listen;
  WARDEN_RETURN_IF_ERROR(HostPort::parse(alerts_listen).status());

  // The first operator: admin.
  WARDEN_ASSIGN_OR_RETURN(std::string admin_key, crypto::generateEcKeyPem());
  crypto::CertProfile admin_profile;
  admin_profile.common_name = "operator:admin";
  admin_profile.client = true;
  WARDEN_ASSIGN_OR_RETURN(std::string admin_cert,
                          crypto::issueCertificate(ca, admin_key, admin_profile));
  WARDEN_ASSIGN_OR_RETURN(std::string admin_fp, crypto::certFingerprint(admin_cert));
  WARDEN_ASSIGN_OR_RETURN(crypto::CertValidity admin_validity, crypto::certValidity(admin_cert));
  WARDEN_ASSIGN_OR_RETURN(auto admin_signing, crypto::Ed25519Key::generate());

  WARDEN_RETURN_IF_ERROR(writeFileAtomic(path(o.data_dir, "ca.key"), ca.key_pem, 0600));
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(path(o.data_dir, "ca.pem"), ca.cert_pem, 0644));
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(path(o.data_dir, "server.key"), server_key, 0600));
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(path(o.data_dir, "server.pem"), server_cert, 0644));
  WARDEN_RETURN_IF_ERROR(
      writeFileAtomic(path(o.data_dir, "server-chain.pem"), server_cert + ca.cert_pem, 0644));
  WARDEN_RETURN_IF_ERROR(
      writeFileAtomic(path(o.data_dir, "command.key"), command_key.toPem(), 0600));
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(path(o.data_dir, "log.key"), log_key.toPem(), 0600));
  WARDEN_RETURN_IF_ERROR(
      writeFileAtomic(path(o.data_dir, "automation.key"), automation_key.toPem(), 0600));
  const std::string origin = absl::StrFormat("warden/%s", adv.host);
  const std::string vkey = noteVerifierKey(origin, log_key.publicKey());
  WARDEN_RETURN_IF_ERROR(writeFileAtomic(path(o.data_dir, "log.vkey"), vkey + "\n", 0644));

  WARDEN_ASSIGN_OR_RETURN(auto registry, Registry::open(path(o.data_dir, "warden.db")));
  WARDEN_RETURN_IF_ERROR(registry->setMeta("listen", o.listen));
  WARDEN_RETURN_IF_ERROR(registry->setMeta("advertise", advertise));
  WARDEN_RETURN_IF_ERROR(registry->setMeta("alerts_listen", alerts_listen));
  WARDEN_RETURN_IF_ERROR(registry->setMeta("log_origin", origin));
  WARDEN_RETURN_IF_ERROR(
      registry->addOperator(OperatorRecord{"admin", "admin", admin_fp, admin_signing.publicKey(),
                                           "", absl::ToUnixMillis(admin_validity.not_after)}));

  OperatorProfile profile;
  profile.controller = advertise;
  profile.name = "admin";
  profile.role = "admin";
  profile.ca_pem = ca.cert_pem;
  profile.cert_pem = admin_cert;
  profile.key_pem = admin_key;
  profile.signing_key_pem = admin_signing.toPem();
  return saveProfile(path(o.data_dir, "admin.profile"), profile);
}

std::string defaultAlertsListen(const std::string& listen) {
  auto hp = HostPort::parse(listen);
  if (!hp.ok()) return "[::]:7444";
  // A controller on a port the kernel picks (tests) gets an intake on one too.
  return HostPort{hp->host, static_cast<std::uint16_t>(hp->port == 0 ? 0 : 7444)}.toString();
}

absl::StatusOr<crypto::CertProfile> controllerCertProfile(const std::string& advertise,
                                                          absl::Duration validity) {
  WARDEN_ASSIGN_OR_RETURN(HostPort adv, HostPort::parse(advertise));
  crypto::CertProfile profile;
  profile.common_name = kServerName;
  profile.dns_names = {kServerName};
  if (IpPrefix::parse(adv.host).ok()) {
    profile.ip_addresses = {adv.host};
  } else {
    profile.dns_names.push_back(adv.host);
  }
  profile.server = true;
  profile.validity = validity;
  return profile;
}

absl::StatusOr<ControllerKeys> loadDataDir(const std::string& dir) {
  if (!pathExists(path(dir, "warden.db"))) {
    return absl::NotFoundError(absl::StrFormat(
        "%s is not a controller data directory (run 'warden-controller init' first)", dir));
  }
  WARDEN_ASSIGN_OR_RETURN(std::string ca_key, readFile(path(dir, "ca.key")));
  WARDEN_ASSIGN_OR_RETURN(std::string ca_pem, readFile(path(dir, "ca.pem")));
  WARDEN_ASSIGN_OR_RETURN(std::string server_key, readFile(path(dir, "server.key")));
  WARDEN_ASSIGN_OR_RETURN(std::string server_pem, readFile(path(dir, "server.pem")));
  WARDEN_ASSIGN_OR_RETURN(std::string command_pem, readFile(path(dir, "command.key")));
  WARDEN_ASSIGN_OR_RETURN(std::string log_pem, readFile(path(dir, "log.key")));
  WARDEN_ASSIGN_OR_RETURN(auto command_key, crypto::Ed25519Key::fromPem(command_pem));
  WARDEN_ASSIGN_OR_RETURN(auto log_key, crypto::Ed25519Key::fromPem(log_pem));
  WARDEN_ASSIGN_OR_RETURN(std::string ca_fp, crypto::certFingerprint(ca_pem));
  WARDEN_ASSIGN_OR_RETURN(auto registry, Registry::open(path(dir, "warden.db")));
  WARDEN_ASSIGN_OR_RETURN(std::string listen, registry->meta("listen"));
  WARDEN_ASSIGN_OR_RETURN(std::string advertise, registry->meta("advertise"));
  WARDEN_ASSIGN_OR_RETURN(std::string origin, registry->meta("log_origin"));
  // Directories made before the alert intake existed: the default address, and an automation
  // key made now (its key entry is logged when the log opens, controller/log_genesis.cc).
  auto alerts_listen = registry->meta("alerts_listen");
  if (!pathExists(path(dir, "automation.key"))) {
    WARDEN_ASSIGN_OR_RETURN(auto made, crypto::Ed25519Key::generate());
    WARDEN_RETURN_IF_ERROR(writeFileAtomic(path(dir, "automation.key"), made.toPem(), 0600));
  }
  WARDEN_ASSIGN_OR_RETURN(std::string automation_pem, readFile(path(dir, "automation.key")));
  WARDEN_ASSIGN_OR_RETURN(auto automation_key, crypto::Ed25519Key::fromPem(automation_pem));
  // The webhook notification key (controller/alerts/notifier.h), made on the first load; its
  // public key as Standard Webhooks receivers take it, rewritten whenever it is missing.
  if (!pathExists(path(dir, "notify.key"))) {
    WARDEN_ASSIGN_OR_RETURN(auto made, crypto::Ed25519Key::generate());
    WARDEN_RETURN_IF_ERROR(writeFileAtomic(path(dir, "notify.key"), made.toPem(), 0600));
  }
  WARDEN_ASSIGN_OR_RETURN(std::string notify_pem, readFile(path(dir, "notify.key")));
  WARDEN_ASSIGN_OR_RETURN(auto notify_key, crypto::Ed25519Key::fromPem(notify_pem));
  if (!pathExists(path(dir, "notify.pub"))) {
    WARDEN_RETURN_IF_ERROR(writeFileAtomic(
        path(dir, "notify.pub"), "whpk_" + crypto::base64(notify_key.publicKey()) + "\n", 0644));
  }
  ControllerKeys keys{dir,
                      crypto::CertificateAuthority{ca_pem, ca_key},
                      ca_fp,
                      server_pem,
                      server_key,
                      command_key,
                      log_key,
                      automation_key,
                      notify_key,
                      noteVerifierKey(origin, log_key.publicKey()),
                      origin,
                      listen,
                      advertise,
                      alerts_listen.ok() ? *alerts_listen : defaultAlertsListen(listen),
                      std::move(registry)};
  return keys;
}

}  // namespace warden
