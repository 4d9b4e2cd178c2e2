// receipt: an agent's signed answer to a command dispatched to its host before it, once.
#include "absl/strings/str_format.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"
#include "common/command.h"

namespace warden::audit_verify {
namespace {

class ReceiptRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    using absl::StrFormat;
    if (auto broken = notByItsAgent(e, "receipt")) return *std::move(broken);
    auto host = log.names.find(e.host_id);
    auto key = host ? log.agent_keys.find(*host) : log.agent_keys.end();
    if (key == log.agent_keys.end()) return StrFormat("host %s has not enrolled", e.host_id);
    if (e.ref.empty()) return std::string("receipt entry without the command id");
    auto r = decodeReceipt(e.body);
    if (!r.ok()) return StrFormat("body is not a receipt: %s", r.status().message());
    if (r->host_id != e.host_id) {
      return StrFormat("the signed receipt is from host %s", quote(r->host_id));
    }
    if (r->command_id != e.ref) {
      return StrFormat("the signed receipt answers command %s", quote(r->command_id));
    }
    auto c = log.commands.find(e.ref);
    if (c == log.commands.end()) {
      return StrFormat("command %s was not dispatched before it (orphan receipt)", e.ref);
    }
    if (c->second.host != *host) {
      return StrFormat("command %s was dispatched to %s, not %s", e.ref,
                       log.names.name(c->second.host), e.host_id);
    }
    if (c->second.receipted) return StrFormat("command %s already has a receipt", e.ref);
    // Containment state follows the dispatched kind: a host may not answer an isolate with
    // a "release" receipt.
    if (log.names.id(r->kind) != c->second.kind) {
      return StrFormat("the signed receipt is for kind %s, but command %s was dispatched as %s",
                       quote(r->kind), e.ref, quote(log.names.name(c->second.kind)));
    }
    c->second.receipted = true;
    c->second.succeeded = r->status == ReceiptStatus::kSucceeded;
    return RuleOutcome::signedBy(key->second);
  }

  std::string labelDetail(const LogEntry& e) const override { return ", command " + e.ref; }
  // signerName: the host's enrolled key, the default.
};

}  // namespace

const EntryRule& receiptRule() { return theRule<ReceiptRule>(); }

}  // namespace warden::audit_verify
