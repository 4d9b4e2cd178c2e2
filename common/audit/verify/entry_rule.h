// The log's rules, one object per entry type (rules/*.cc), looked up by the entry's type in
// one table (rule_table.cc). Adding an entry type is one rule file and one line in that table.
//
// The verifier driver (export_verifier.cc) applies what holds for every entry — time never goes
// backwards, entry 0 is the log key, the genesis ends at the first entry whose rule is not a
// genesis one — then the entry's rule, which checks it against the LogState so far, records
// what it adds and names the key its signature must verify under (checked later, in a batch).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/audit/log_entry.h"
#include "common/audit/verify/log_state.h"
#include "common/audit/verify/public_key.h"

namespace warden::audit_verify {

// What a rule found: the rule the entry breaks (its message, without the entry label), or the
// key its signature must verify under (none for entries the checkpoints alone attest).
struct RuleOutcome {
  RuleOutcome() = default;
  // A broken rule; implicit so that a rule can `return StrFormat(...)`.
  RuleOutcome(std::string message) : broken(std::move(message)) {}  // NOLINT(runtime/explicit)
  static RuleOutcome signedBy(const PublicKey& key) {
    RuleOutcome out;
    out.signer = key;
    return out;
  }

  std::optional<std::string> broken;
  std::optional<PublicKey> signer;
};

// One entry type's rule. Stateless: what it learns from an entry goes into the LogState, so one
// instance serves every export.
class EntryRule {
 public:
  virtual ~EntryRule() = default;
  // True for the types the log's genesis is made of (key, operator, enrollment).
  virtual bool genesis() const { return false; }
  // Checks entry `index` against `log` and, when it holds, records what the entry adds.
  virtual RuleOutcome check(const LogEntry& e, std::uint64_t index, LogState& log) const = 0;
  // What the entry's label says after "entry N (TYPE by ACTOR": by default its host.
  virtual std::string labelDetail(const LogEntry& e) const;
  // Whose key signs the entry, for the error when its signature does not verify.
  virtual std::string signerName(const LogEntry& e) const;
};

// The rule for entries of `type`; for a type no rule knows, one that refuses it.
const EntryRule& ruleFor(std::string_view type);

// The one instance of a rule class: rules/ hand theirs to the table through it.
template <typename Rule>
const EntryRule& theRule() {
  static const Rule rule;
  return rule;
}

// For entries an agent makes about its own host (enrollment, receipt): what is wrong when the
// actor is not "agent:HOST" for the entry's host ("receipts are by an agent, not ...").
std::optional<std::string> notByItsAgent(const LogEntry& e, std::string_view what);

// "entry 17 (receipt by agent:host-42, command a-...)"
std::string entryLabel(const LogEntry& e, std::uint64_t index);

}  // namespace warden::audit_verify
