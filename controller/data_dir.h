// The controller's data directory: the private CA, the TLS certificate, the Ed25519 command
// and log keys, the registry database, the first admin profile and the log verifier key.
//
//   DIR/ca.pem ca.key server.pem server.key command.key log.key   (keys 0600)
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
  std::string advertise;  // HOST:PORT operators and agents dial; default: derived from listen
};

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
  std::string log_vkey;
  std::string log_origin;  // checkpoint origin line and note key name
  std::string listen;
  std::string advertise;
  std::unique_ptr<Registry> registry;
};

absl::StatusOr<ControllerKeys> loadDataDir(const std::string& data_dir);

// The note verifier key (C2SP signed-note): "<name>+<8 hex keyhash>+<base64(0x01||pubkey)>",
// keyhash = first 4 bytes of SHA-256(name || "\n" || 0x01 || pubkey).
std::string noteVerifierKey(const std::string& name, const std::string& ed25519_public_key);

}  // namespace warden
