// Facts the agent reports about its host.
#pragma once

#include <string>
#include <vector>

namespace warden {

struct HostFacts {
  std::string hostname;
  std::vector<std::string> addresses;  // CIDR notation, loopback left out
  std::string kernel;
};

HostFacts collectHostFacts();

}  // namespace warden
