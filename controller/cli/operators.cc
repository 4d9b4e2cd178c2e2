#include "controller/cli/operators.h"

#include <cstdio>

#include "absl/strings/str_format.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/x509.h"
#include "common/files.h"
#include "common/json.h"
#include "common/profile.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"

namespace warden::cli {

int operatorAdd(const Globals& g, const std::string& name, const std::string& role,
                const std::string& out_path) {
  if (pathExists(out_path)) {
    printError(absl::StrFormat("%s already exists; not overwriting it", out_path));
    return kExitBadInput;
  }
  auto tls_key = crypto::generateEcKeyPem();
  auto signing = crypto::Ed25519Key::generate();
  if (!tls_key.ok() || !signing.ok()) {
    printError("cannot generate keys");
    return kExitFailed;
  }
  auto csr = crypto::createCsr(*tls_key, "operator:" + name);
  if (!csr.ok()) {
    printError(std::string(csr.status().message()));
    return kExitFailed;
  }
  return withClient(g, [&](Client& c) {
    v1::AddOperatorRequest req;
    req.set_name(name);
    req.set_role(role);
    req.set_csr_pem(*csr);
    req.set_signing_public_key(signing->publicKey());
    if (!attachOperatorChange(c, OperatorChange{false, name, role, signing->publicKey()}, "",
                              req)) {
      return kExitBadInput;
    }
    v1::AddOperatorResponse resp;
    auto s = c.call(&v1::Operator::Stub::AddOperator, req, &resp, absl::Seconds(15));
    if (!s.ok()) return reportRpcError(s);
    OperatorProfile p;
    p.controller = c.profile.controller;
    p.name = name;
    p.role = role;
    p.ca_pem = resp.ca_pem();
    p.cert_pem = resp.certificate_pem();
    p.key_pem = *tls_key;
    p.signing_key_pem = signing->toPem();
    if (auto w = saveProfile(out_path, p); !w.ok()) {
      printError(std::string(w.message()));
      return kExitFailed;
    }
    std::printf("operator %s (%s): profile written to %s (mode 0600; hand it over securely)\n",
                name.c_str(), role.c_str(), out_path.c_str());
    return kExitOk;
  });
}

int operatorRevoke(const Globals& g, const std::string& name, const std::string& reason) {
  return withClient(g, [&](Client& c) {
    v1::RevokeOperatorRequest req;
    req.set_name(name);
    req.set_reason(reason);
    if (!attachOperatorChange(c, OperatorChange{true, name, "", ""}, reason, req)) {
      return kExitBadInput;
    }
    v1::RevokeOperatorResponse resp;
    auto s = c.call(&v1::Operator::Stub::RevokeOperator, req, &resp, absl::Seconds(15));
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      std::printf("%s\n", jsonLine(Json{{"revoked", name}}).c_str());
    } else {
      std::printf("operator %s revoked: their certificate and signing key no longer work\n",
                  name.c_str());
    }
    return kExitOk;
  });
}

}  // namespace warden::cli
