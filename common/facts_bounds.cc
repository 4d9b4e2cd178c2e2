#include "common/facts_bounds.h"

#include <string>

#include "common/receipt_bounds.h"

namespace warden {

bool boundFacts(v1::Facts& f) {
  bool cut = false;
  auto bound = [&](std::string* s) {
    if (s->size() <= kMaxFactBytes) return;
    *s = boundString(*s, kMaxFactBytes);
    cut = true;
  };
  bound(f.mutable_hostname());
  bound(f.mutable_kernel());
  bound(f.mutable_firewall_backend());
  bound(f.mutable_agent_version());
  if (f.addresses_size() > kMaxFactAddresses) {
    f.mutable_addresses()->DeleteSubrange(kMaxFactAddresses,
                                          f.addresses_size() - kMaxFactAddresses);
    cut = true;
  }
  for (std::string& a : *f.mutable_addresses()) bound(&a);
  // Fields this build does not know (a newer agent's, or padding) are not stored either.
  if (!f.GetReflection()->GetUnknownFields(f).empty()) {
    f.GetReflection()->MutableUnknownFields(&f)->Clear();
    cut = true;
  }
  return cut;
}

}  // namespace warden
