// Network containment: `warden isolate`, `release`, `block`, `unblock` and `blocks`.
#pragma once

#include <string>
#include <vector>

#include "controller/cli/client.h"

namespace warden::cli {

// The command line of one containment request.
struct SubmitArgs {
  std::vector<std::string> hosts;
  std::vector<std::string> allow;      // isolate --allow: CIDR, CIDR:PORT, [IPv6-CIDR]:PORT
  std::vector<std::string> addresses;  // block/unblock ADDR
  bool all_hosts = false;
  std::string for_duration;  // isolate --for: the isolation ends by itself after it
  bool no_wait = false;
  std::string timeout = "30s";
};

// Checks the input, signs and submits a request of `kind` (isolate, release, block, unblock)
// and prints each host's outcome; the exit code is actionExitCode()'s.
int submit(const Globals& g, const std::string& kind, const SubmitArgs& args);

// The fleet-wide address blocks.
int listBlocks(const Globals& g);

}  // namespace warden::cli
