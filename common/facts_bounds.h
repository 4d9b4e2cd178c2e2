// Facts bounds (DESIGN.md "The hostile host": facts are among what a peer can make the
// controller allocate). An agent's facts (hostname, addresses, kernel, ...) are its own word,
// unsigned, stored in the registry and sent in every `warden hosts` page: an agent that reported
// megabytes of them would make one host larger than any page, and the list of the whole fleet
// would fail. The controller bounds them before it stores them.
#pragma once

#include <cstddef>

#include "warden/v1/agent.pb.h"

namespace warden {

// Each text fact (hostname, kernel, firewall backend, agent version) and each address.
inline constexpr std::size_t kMaxFactBytes = 256;
// Interface addresses listed; a host with more keeps the first.
inline constexpr int kMaxFactAddresses = 512;

// Cuts `f` to the bounds above (strings end in receipt_bounds.h's truncation marker); true when
// anything was cut.
bool boundFacts(v1::Facts& f);

}  // namespace warden
