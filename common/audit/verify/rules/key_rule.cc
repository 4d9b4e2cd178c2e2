// key: the controller's own keys. Entry 0 records the log key (the one the export is signed
// with); a command key signs every dispatch after it.
#include "absl/strings/str_format.h"
#include "common/audit/key_record.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {
namespace {

class KeyRule final : public EntryRule {
 public:
  bool genesis() const override { return true; }

  RuleOutcome check(const LogEntry& e, std::uint64_t index, LogState& log) const override {
    using absl::StrFormat;
    if (e.actor != "controller")
      return StrFormat("key entries are the controller's, not %s", quote(e.actor));
    auto k = decodeKeyRecord(e.body);
    if (!k.ok()) return StrFormat("body is not a key record: %s", k.status().message());
    if (k->subject != "controller") {
      return StrFormat("key entry for %s, not the controller", quote(k->subject));
    }
    if (index == 0 && k->purpose != "log") {
      return std::string("the log must start with the controller's log key (purpose log)");
    }
    if (k->purpose == "log") {
      if (k->public_key != log.vkey) {
        return StrFormat("records log key %s, but the log is signed with %s", quote(k->public_key),
                         quote(log.vkey));
      }
    } else if (k->purpose == "command") {
      if (k->public_key.size() != 32) {
        return StrFormat("command key is %d bytes, not a 32-byte Ed25519 key",
                         k->public_key.size());
      }
      log.command_key = keyArray(k->public_key);
    } else if (k->purpose == "automation") {
      if (k->public_key.size() != 32) {
        return StrFormat("automation key is %d bytes, not a 32-byte Ed25519 key",
                         k->public_key.size());
      }
      log.automation.key = keyArray(k->public_key);
    } else {
      return StrFormat("key entry with purpose %s (expected log, command or automation)",
                       quote(k->purpose));
    }
    return {};
  }
};

}  // namespace

const EntryRule& keyRule() { return theRule<KeyRule>(); }

}  // namespace warden::audit_verify
