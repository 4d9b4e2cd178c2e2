// Automation at the CLI (DESIGN.md "Automation", CLI contract): `alerts source add`, `alerts`,
// and `rules check|test|apply|show`. `rules check` and `rules test` work offline, with no
// controller: an admin tries a rules file against a saved alert before applying it.
#pragma once

#include <string>

#include "controller/cli/client.h"

namespace warden::cli {

// Prints the new source's bearer token alone on stdout; with `cert_out`, also writes a key
// (CERT_OUT.key) and the client certificate the controller issues for it (CERT_OUT.pem).
int alertsSourceAdd(const Globals& g, const std::string& name, const std::string& cert_out);
// Alerts received, newest first, each with its decision and reason.
int alertsList(const Globals& g, unsigned limit);

int rulesCheck(const Globals& g, const std::string& file);
// `format`: alertmanager | falco | json, or empty to tell from the payload's shape. `source`:
// the sender's name, for rules limited to senders (empty: any).
int rulesTest(const Globals& g, const std::string& file, const std::string& alert_file,
              const std::string& format, const std::string& source);
int rulesApply(const Globals& g, const std::string& file, const std::string& reason);
int rulesShow(const Globals& g);

}  // namespace warden::cli
