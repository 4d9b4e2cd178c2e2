#include "common/request_lists.h"

#include <algorithm>
#include <unordered_set>

#include "common/net.h"

namespace warden {

absl::StatusOr<NormalizedLists> normalizeRequestLists(const std::vector<std::string>& allow,
                                                      const std::vector<std::string>& addresses,
                                                      RejectedElement* rejected) {
  const auto reject = [&](bool is_allow, const std::string& text, const absl::Status& why) {
    if (rejected != nullptr) *rejected = RejectedElement{is_allow, text};
    return why;
  };
  NormalizedLists out;
  out.allow.reserve(allow.size());
  for (const auto& text : allow) {
    auto a = AllowEntry::parse(text);
    if (!a.ok()) return reject(true, text, a.status());
    out.allow.push_back(a->toString());
  }
  out.addresses.reserve(addresses.size());
  // A few addresses are searched in place; a long list (a fleet-wide blocklist) through a set.
  constexpr std::size_t kLinear = 16;
  std::unordered_set<std::string> seen;
  for (const auto& text : addresses) {
    auto p = IpPrefix::parse(text);
    if (!p.ok()) return reject(false, text, p.status());
    std::string canonical = p->toString();
    const bool duplicate = addresses.size() <= kLinear
                               ? std::find(out.addresses.begin(), out.addresses.end(), canonical) !=
                                     out.addresses.end()
                               : !seen.insert(canonical).second;
    if (!duplicate) out.addresses.push_back(std::move(canonical));
  }
  return out;
}

}  // namespace warden
