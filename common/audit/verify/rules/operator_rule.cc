// operator: an operator's key. In the log's genesis the controller logs the operators it already
// has; every later change is an admin's signed request (add-operator, revoke-operator).
#include "absl/strings/str_format.h"
#include "common/audit/key_record.h"
#include "common/audit/request.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {
namespace {

bool isRole(std::string_view role) {
  return role == "admin" || role == "responder" || role == "auditor";
}

class OperatorRule final : public EntryRule {
 public:
  bool genesis() const override { return true; }

  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    return e.actor == "controller" ? byController(e, log) : byAdmin(e, log);
  }

 private:
  // The controller logs the operators it already has when it creates the log (a key record
  // each; role "revoked" for one the registry already held revoked).
  static RuleOutcome byController(const LogEntry& e, LogState& log) {
    using absl::StrFormat;
    if (!log.genesis) {
      return std::string(
          "the controller adds operators only in the log's genesis (before the first request, "
          "dispatch, receipt, refusal or event); later an admin adds them");
    }
    auto k = decodeKeyRecord(e.body);
    if (!k.ok()) return StrFormat("body is not a key record: %s", k.status().message());
    if (k->purpose != "operator") {
      return StrFormat("operator entry with key purpose %s", quote(k->purpose));
    }
    if (k->subject.empty()) return std::string("operator entry without a name");
    if (!isRole(k->role) && k->role != "revoked")
      return StrFormat("operator %s has unknown role %s", k->subject, quote(k->role));
    if (k->public_key.size() != 32) {
      return StrFormat("operator %s's key is %d bytes, not a 32-byte Ed25519 key", k->subject,
                       k->public_key.size());
    }
    if (!log.operators.try_emplace(k->subject, OperatorState{k->role, keyArray(k->public_key)})
             .second) {
      return StrFormat("operator %s is already logged", k->subject);
    }
    return {};
  }

  // An admin's signed add-operator or revoke-operator request.
  static RuleOutcome byAdmin(const LogEntry& e, LogState& log) {
    using absl::StrFormat;
    auto admin = afterPrefix(e.actor, "operator:");
    if (!admin)
      return StrFormat("operators are added by the controller or an admin, not %s", quote(e.actor));
    auto it = log.operators.find(std::string(*admin));
    if (it == log.operators.end() || it->second.role != "admin") {
      return StrFormat("%s is not a logged admin, so may not add operators", quote(*admin));
    }
    const PublicKey admin_key = it->second.public_key;  // emplace below may rehash
    auto q = decodeRequest(e.body);
    if (!q.ok()) return StrFormat("body is not a signed request: %s", q.status().message());
    if (q->operator_name != *admin) {
      return StrFormat("the signed request is operator %s's, not %s's", quote(q->operator_name),
                       *admin);
    }
    if (e.ref.empty() || q->id != e.ref) {
      return StrFormat("the signed request has id %s, the entry says %s", quote(q->id),
                       quote(e.ref));
    }
    auto change = operatorChangeOf(*q);
    if (!change.ok()) return StrFormat("not an operator change: %s", change.status().message());
    auto existing = log.operators.find(change->name);
    if (change->revoke) {
      if (existing == log.operators.end()) {
        return StrFormat("operator %s is revoked before it was ever logged", change->name);
      }
      if (existing->second.role == "revoked") {
        return StrFormat("operator %s is already revoked", change->name);
      }
      existing->second.role = "revoked";
    } else {
      if (existing != log.operators.end()) {
        return StrFormat("operator %s is already logged", change->name);
      }
      log.operators.emplace(change->name,
                            OperatorState{change->role, keyArray(change->signing_key)});
    }
    // Request ids are one namespace: an operator change cannot be replayed as another.
    RequestState state;
    state.operator_name = log.names.id(q->operator_name);
    state.kind = log.names.id(q->kind);
    if (!log.requests.try_emplace(e.ref, std::move(state)).second) {
      return StrFormat("request id %s was already logged", e.ref);
    }
    return RuleOutcome::signedBy(admin_key);
  }
};

}  // namespace

const EntryRule& operatorRule() { return theRule<OperatorRule>(); }

}  // namespace warden::audit_verify
