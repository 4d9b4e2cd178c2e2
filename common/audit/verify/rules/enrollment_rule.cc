// enrollment: an agent's receipt key. Hosts enrolled before the log existed are logged in its
// genesis without a join token; every later enrollment names its token (ref).
#include "absl/strings/str_format.h"
#include "common/audit/key_record.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {
namespace {

class EnrollmentRule final : public EntryRule {
 public:
  bool genesis() const override { return true; }

  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    using absl::StrFormat;
    if (auto broken = notByItsAgent(e, "enrollment")) return *std::move(broken);
    auto k = decodeKeyRecord(e.body);
    if (!k.ok()) return StrFormat("body is not a key record: %s", k.status().message());
    if (k->purpose != "agent" || k->subject != e.host_id) {
      return StrFormat("enrollment of %s carries a %s key for %s", e.host_id, quote(k->purpose),
                       quote(k->subject));
    }
    if (k->public_key.size() != 32) {
      return StrFormat("%s's key is %d bytes, not a 32-byte Ed25519 key", e.host_id,
                       k->public_key.size());
    }
    // "enrolled before the action log existed"
    if (e.ref.empty() && !log.genesis) {
      return std::string("an enrollment after the log's genesis must name its join token (ref)");
    }
    log.agent_keys[log.names.id(e.host_id)] = keyArray(k->public_key);
    return {};
  }
};

}  // namespace

const EntryRule& enrollmentRule() { return theRule<EnrollmentRule>(); }

}  // namespace warden::audit_verify
