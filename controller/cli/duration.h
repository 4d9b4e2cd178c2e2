// Durations as operators type them (--ttl, --timeout, isolate --for): common/duration.h, which
// the controller's flags share.
#pragma once

#include "common/duration.h"

namespace warden::cli {

using ::warden::parseDuration;

}  // namespace warden::cli
