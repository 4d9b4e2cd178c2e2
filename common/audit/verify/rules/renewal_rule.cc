// renewal: a new TLS certificate for an identity the log already holds. An agent's or operator's
// renewal is signed with the key the log recorded for it (the agent's enrolled receipt key, the
// operator's signing key) over a controller challenge that no other renewal used; a revoked
// operator renews nothing. The controller's renewal of its own certificate is unsigned (the
// checkpoints attest it, as they do its key entries). `ref` names the new certificate.
#include "absl/strings/str_format.h"
#include "common/audit/cert_renewal.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"
#include "common/crypto/encoding.h"

namespace warden::audit_verify {
namespace {

bool isFingerprint(std::string_view s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

class RenewalRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    using absl::StrFormat;
    if (!isFingerprint(e.ref)) {
      return StrFormat("the renewed certificate's fingerprint (ref) %s is not SHA-256 hex",
                       quote(e.ref));
    }
    auto r = decodeCertRenewal(e.body);
    if (!r.ok()) return StrFormat("body is not a renewal: %s", r.status().message());
    if (r->subject != e.actor) {
      return StrFormat("the renewal is for %s, but the entry's actor is %s", quote(r->subject),
                       quote(e.actor));
    }
    if (auto shape = checkCertRenewalShape(*r); !shape.ok()) {
      return std::string(shape.message());
    }
    if (r->subject == "controller") {
      if (!e.signature.empty() || !e.host_id.empty()) {
        return std::string("the controller's own renewal names no host and carries no signature");
      }
      return {};
    }
    if (!log.renewal_challenges.insert(r->challenge).second) {
      return StrFormat("renewal challenge %s was already used", crypto::hex(r->challenge));
    }
    if (const std::string host = renewalAgentHost(r->subject); !host.empty()) {
      if (auto broken = notByItsAgent(e, "renewal")) return *std::move(broken);
      auto id = log.names.find(host);
      auto key = id ? log.agent_keys.find(*id) : log.agent_keys.end();
      if (key == log.agent_keys.end()) return StrFormat("host %s has not enrolled", host);
      return RuleOutcome::signedBy(key->second);
    }
    const std::string name = renewalOperatorName(r->subject);
    if (!e.host_id.empty()) {
      return StrFormat("an operator's renewal names host %s", quote(e.host_id));
    }
    auto op = log.operators.find(name);
    if (op == log.operators.end()) return StrFormat("%s is not a logged operator", quote(name));
    if (op->second.role == "revoked") {
      return StrFormat("operator %s was revoked: it renews no certificate", name);
    }
    return RuleOutcome::signedBy(op->second.public_key);
  }

  std::string labelDetail(const LogEntry& e) const override {
    std::string out = EntryRule::labelDetail(e);
    if (isFingerprint(e.ref)) out += ", certificate " + e.ref.substr(0, 16);
    return out;
  }

  std::string signerName(const LogEntry& e) const override {
    if (auto name = afterPrefix(e.actor, "operator:")) {
      return absl::StrFormat("operator %s's key", *name);
    }
    return EntryRule::signerName(e);
  }
};

}  // namespace

const EntryRule& renewalRule() { return theRule<RenewalRule>(); }

}  // namespace warden::audit_verify
