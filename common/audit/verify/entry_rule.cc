#include "common/audit/verify/entry_rule.h"

#include "absl/strings/str_format.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {

std::string EntryRule::labelDetail(const LogEntry& e) const {
  return e.host_id.empty() ? std::string() : ", host " + e.host_id;
}

std::string EntryRule::signerName(const LogEntry& e) const {
  return absl::StrFormat("%s's enrolled key", e.host_id);
}

std::string entryLabel(const LogEntry& e, std::uint64_t index) {
  std::string label = absl::StrFormat("entry %d (%s", index, e.type.empty() ? "?" : e.type);
  if (!e.actor.empty()) label += " by " + e.actor;
  return label + ruleFor(e.type).labelDetail(e) + ")";
}

std::optional<std::string> notByItsAgent(const LogEntry& e, std::string_view what) {
  auto host = afterPrefix(e.actor, "agent:");
  if (!host) return absl::StrFormat("%ss are by an agent, not %s", what, quote(e.actor));
  if (*host != e.host_id) {
    return absl::StrFormat("%s by %s for host %s", what, e.actor, quote(e.host_id));
  }
  return std::nullopt;
}

}  // namespace warden::audit_verify
