#include "common/audit/verify/fleet_blocks.h"

#include <iterator>
#include <utility>

namespace warden::audit_verify {

void FleetBlocks::change(const std::string& request_id, std::uint64_t index, bool block,
                         std::vector<std::string> addresses) {
  for (const auto& a : addresses) changes_[a].push_back(Change{index, block});
  unsettled_[request_id] = Request{index, std::move(addresses)};
}

void FleetBlocks::settle(const std::string& request_id) { unsettled_.erase(request_id); }

void FleetBlocks::undo(const std::string& request_id) {
  auto f = unsettled_.find(request_id);
  if (f == unsettled_.end()) return;  // not fleet-wide, or settled by a dispatch
  for (const auto& a : f->second.addresses) {
    auto changes = changes_.find(a);
    if (changes == changes_.end()) continue;
    auto& list = changes->second;
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
      if (it->request_index == f->second.index) {
        list.erase(std::next(it).base());
        break;
      }
    }
    if (list.empty()) changes_.erase(changes);
  }
  unsettled_.erase(f);
}

bool FleetBlocks::blocked(const std::string& address) const {
  auto it = changes_.find(address);
  return it != changes_.end() && !it->second.empty() && it->second.back().block;
}

}  // namespace warden::audit_verify
