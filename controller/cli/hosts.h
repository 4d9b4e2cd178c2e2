// `warden hosts`: the enrolled hosts, their connection and containment.
#pragma once

#include "controller/cli/client.h"

namespace warden::cli {

int listHosts(const Globals& g);

}  // namespace warden::cli
