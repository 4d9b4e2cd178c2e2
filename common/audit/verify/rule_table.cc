// The entry types the verifier knows, and the rule object of each.
#include <string_view>

#include "absl/strings/str_format.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {

// Defined in rules/, one file each.
const EntryRule& keyRule();
const EntryRule& operatorRule();
const EntryRule& enrollmentRule();
const EntryRule& requestRule();
const EntryRule& dispatchRule();
const EntryRule& receiptRule();
const EntryRule& refusalOrEventRule();
const EntryRule& renewalRule();
const EntryRule& alertRule();
const EntryRule& decisionRule();
const EntryRule& agentReleaseRule();

namespace {

struct TableLine {
  const char* type;
  const EntryRule& (*rule)();
};

// One line per entry type.
constexpr TableLine kRuleTable[] = {
    {entry_type::kKey, keyRule},
    {entry_type::kOperator, operatorRule},
    {entry_type::kEnrollment, enrollmentRule},
    {entry_type::kRequest, requestRule},
    {entry_type::kDispatch, dispatchRule},
    {entry_type::kReceipt, receiptRule},
    {entry_type::kRefusal, refusalOrEventRule},
    {entry_type::kEvent, refusalOrEventRule},
    {entry_type::kRenewal, renewalRule},
    {entry_type::kAlert, alertRule},
    {entry_type::kDecision, decisionRule},
    {entry_type::kAgentRelease, agentReleaseRule},
};

class UnknownTypeRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState&) const override {
    return absl::StrFormat("unknown entry type %s", quote(e.type));
  }
};

}  // namespace

const EntryRule& ruleFor(std::string_view type) {
  for (const TableLine& line : kRuleTable) {
    if (type == line.type) return line.rule();
  }
  static const UnknownTypeRule unknown;
  return unknown;
}

}  // namespace warden::audit_verify
