// refusal and event: what happened, in words (the checkpoints alone attest them). A refusal of
// a logged request by its own operator (ref = its id) marks the request refused: nothing may be
// dispatched for it afterwards, and a fleet-wide change it made, not yet dispatched, is undone.
#include "absl/strings/str_format.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {
namespace {

class RefusalOrEventRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    if (e.detail.empty())
      return absl::StrFormat("a %s entry must say what happened (empty detail)", e.type);
    if (e.type == entry_type::kRefusal && !e.ref.empty()) noteRefusal(e, log);
    return {};
  }

 private:
  // The controller logs a refused request's refusal under the operator's name; agents' events
  // can carry any ref, so their refusals are not taken as the request's.
  static void noteRefusal(const LogEntry& e, LogState& log) {
    auto q = log.requests.find(e.ref);
    if (q == log.requests.end() || q->second.refused) return;
    auto name = afterPrefix(e.actor, "operator:");
    if (!name || *name != log.names.name(q->second.operator_name)) return;
    q->second.refused = true;
    log.fleet.undo(e.ref);
  }
};

}  // namespace

const EntryRule& refusalOrEventRule() { return theRule<RefusalOrEventRule>(); }

}  // namespace warden::audit_verify
