// `warden operator add|revoke`: operators, their roles and their profiles.
#pragma once

#include <string>

#include "controller/cli/client.h"

namespace warden::cli {

// Generates the new operator's keys, has the controller certify them (signed by the admin)
// and writes their profile to `out_path` (mode 0600, never over an existing file).
int operatorAdd(const Globals& g, const std::string& name, const std::string& role,
                const std::string& out_path);
// Revokes `name` at once, signed by the admin and logged with `reason`.
int operatorRevoke(const Globals& g, const std::string& name, const std::string& reason);

}  // namespace warden::cli
