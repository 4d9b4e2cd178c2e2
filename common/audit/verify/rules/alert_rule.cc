// alert: an alert a named source sent, as the intake received it (the checkpoints attest it).
// Alert ids are unique; the alert waits for its one decision.
#include "absl/strings/str_format.h"
#include "common/audit/automation_record.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {
namespace {

class AlertRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    using absl::StrFormat;
    auto source = afterPrefix(e.actor, "source:");
    if (!source) return StrFormat("alerts are a source's, not %s", quote(e.actor));
    auto a = decodeAlertRecord(e.body);
    if (!a.ok()) return StrFormat("body is not an alert record: %s", a.status().message());
    if (a->id.empty() || a->id != e.ref) {
      return StrFormat("the alert record has id %s, the entry says %s", quote(a->id), quote(e.ref));
    }
    if (a->source != *source) {
      return StrFormat("the alert record is from source %s, the entry says %s", quote(a->source),
                       quote(*source));
    }
    // The guardrails count in arrival times: one after its own logging would move the window.
    if (a->received_unix_ms > e.logged_unix_ms) {
      return StrFormat("the alert says it arrived at %d ms, after it was logged (%d ms)",
                       a->received_unix_ms, e.logged_unix_ms);
    }
    if (a->status != "firing" && a->status != "resolved") {
      return StrFormat("alert status %s is neither firing nor resolved", quote(a->status));
    }
    const std::string id = a->id;
    if (!log.automation.undecided.try_emplace(id, std::move(*a)).second ||
        !log.automation.alert_ids.insert(id).second) {
      return StrFormat("alert id %s was already used", id);
    }
    return {};
  }

  std::string labelDetail(const LogEntry& e) const override { return ", alert " + e.ref; }
};

}  // namespace

const EntryRule& alertRule() { return theRule<AlertRule>(); }

}  // namespace warden::audit_verify
