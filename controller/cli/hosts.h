// `warden hosts`: the enrolled hosts, their connection and containment; `warden label`.
#pragma once

#include <string>
#include <vector>

#include "controller/cli/client.h"

namespace warden::cli {

int listHosts(const Globals& g);
// `warden label HOST KEY=VALUE... | KEY-`: sets and removes operator labels.
int labelHost(const Globals& g, const std::string& host, const std::vector<std::string>& changes);

}  // namespace warden::cli
