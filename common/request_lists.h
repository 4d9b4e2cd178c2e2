// The one place that says how a signed request's allow list and addresses become what the
// controller dispatches (DESIGN.md, "Commands and their lifecycle"): each allow entry parsed
// (AllowEntry) and printed canonically, each address (IpPrefix) likewise, duplicate addresses
// dropped, the first one kept. The controller dispatches exactly this (controller/dispatch) and
// the offline verifier checks every logged dispatch against it (common/audit), so the two can
// never disagree about what an operator asked for.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

struct NormalizedLists {
  std::vector<std::string> allow;      // AllowEntry::toString()
  std::vector<std::string> addresses;  // IpPrefix::toString(), no duplicates
};

// The element that did not parse: a request with one is refused and nothing is dispatched.
struct RejectedElement {
  bool allow = false;  // an allow entry; otherwise an address
  std::string text;    // as the request has it (untrusted: quote it before printing)
};

// InvalidArgument (the parser's message) when an element does not parse; `rejected`, when
// given, then names it.
absl::StatusOr<NormalizedLists> normalizeRequestLists(const std::vector<std::string>& allow,
                                                      const std::vector<std::string>& addresses,
                                                      RejectedElement* rejected = nullptr);

}  // namespace warden
