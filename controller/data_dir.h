// The controller's data directory: the private CA, the TLS certificate, the Ed25519 command
// and log keys, the registry database, the first admin profile and the log verifier key.
//
//   DIR/ca.pem ca.key server.pem server.key command.key log.key   (keys 0600)
//   DIR/automation.key    signs automated requests (alert rules); made by init, or on the first
//                         `serve` of a directory made before automation existed
//   DIR/notify.key        signs outgoing webhook notifications (0600), made on load if missing;
//   DIR/notify.pub        its public key, "whpk_<base64>" for receivers, rewritten when missing
//   DIR/server-chain.pem  server.pem + ca.pem: what the TLS port serves, rewritten whenever the
//                         controller renews server.pem (controller/renewal/server_certificate.h)
//   DIR/log.vkey          note verifier key of the action log (public)
//   DIR/admin.profile     operator profile of the first admin (0600)
//   DIR/warden.db         registry (SQLite)
//   DIR/log/              the action log (controller/action_log.h), made by `serve`
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/x509.h"
#include "controller/registry.h"

namespace warden {

struct InitOptions {
  std::string data_dir;
  std::string listen = "[::]:7443";
  std::string advertise;      // HOST:PORT operators and agents dial; default: derived from listen
  std::string alerts_listen;  // HTTPS alert intake; default: the listen host on port 7444
  // The CA's lifetime. It cannot be renewed in place: every certificate ends with it, and
  // `warden hosts` and the controller's log warn 60 days ahead.
  absl::Duration ca_validity = absl::Hours(24 * 365 * 10);
};

// The shortest CA lifetime init accepts: the controller warns 60 days before the CA expires, so
// anything shorter is a CA that warns from its first day (tests do that on purpose).
inline constexpr absl::Duration kMinCaValidity = absl::Hours(24);

// Creates a new data directory. Refuses to touch one that already holds a controller.
absl::Status initDataDir(const InitOptions& options);

struct ControllerKeys {
  std::string data_dir;
  crypto::CertificateAuthority ca;
  std::string ca_fingerprint;
  std::string server_cert_pem;
  std::string server_key_pem;
  crypto::Ed25519Key command_key;
  crypto::Ed25519Key log_key;
  crypto::Ed25519Key automation_key;
  crypto::Ed25519Key notify_key;  // webhook notifications (controller/alerts/notifier.h)
  std::string log_vkey;
  std::string log_origin;  // checkpoint origin line and note key name
  std::string listen;
  std::string advertise;
  std::string alerts_listen;
  std::unique_ptr<Registry> registry;
};

absl::StatusOr<ControllerKeys> loadDataDir(const std::string& data_dir);

// The alert intake's default address: the listen address's host on port 7444.
std::string defaultAlertsListen(const std::string& listen);

// What the controller's own TLS certificate says, for the address it advertises: CN and DNS name
// "warden-controller" (every client overrides the target name to it) and the advertised host as
// an IP or DNS name. `validity` as given.
absl::StatusOr<crypto::CertProfile> controllerCertProfile(const std::string& advertise,
                                                          absl::Duration validity);

// The note verifier key (C2SP signed-note): "<name>+<8 hex keyhash>+<base64(0x01||pubkey)>",
// keyhash = first 4 bytes of SHA-256(name || "\n" || 0x01 || pubkey).
std::string noteVerifierKey(const std::string& name, const std::string& ed25519_public_key);

}  // namespace warden
