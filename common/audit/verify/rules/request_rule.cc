// request: what an operator asked for, signed with their key. Request ids are unique. One the
// controller refuses (an allow entry or address that does not parse) may have no dispatch; an
// admin's or responder's all-hosts block or unblock changes the fleet-wide blocks.
#include "absl/strings/str_format.h"
#include "common/audit/request.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"
#include "common/request_lists.h"

namespace warden::audit_verify {
namespace {

class RequestRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t index, LogState& log) const override {
    using absl::StrFormat;
    auto name = afterPrefix(e.actor, "operator:");
    if (!name) return StrFormat("requests are by an operator, not %s", quote(e.actor));
    auto op = log.operators.find(std::string(*name));
    if (op == log.operators.end()) return StrFormat("%s is not a logged operator", quote(*name));
    if (op->second.role == "revoked") {
      return StrFormat("operator %s was revoked before this request", *name);
    }
    if (e.ref.empty()) return std::string("request entry without the request id");
    auto q = decodeRequest(e.body);
    if (!q.ok()) return StrFormat("body is not a request: %s", q.status().message());
    if (q->operator_name != *name) {
      return StrFormat("the signed request is operator %s's, not %s's", quote(q->operator_name),
                       *name);
    }
    if (q->id != e.ref) return StrFormat("the signed request has id %s", quote(q->id));
    const bool may_dispatch = op->second.role == "admin" || op->second.role == "responder";
    RequestState state;
    state.operator_name = log.names.id(q->operator_name);
    state.kind = log.names.id(q->kind);
    state.all_hosts = q->all_hosts;
    state.may_dispatch = may_dispatch;
    state.hosts.reserve(q->hosts.size());
    for (const auto& h : q->hosts) state.hosts.push_back(log.names.id(h));
    // As the controller dispatches it; what does not parse, it refuses.
    RejectedElement rejected;
    auto normalized = normalizeRequestLists(q->allow, q->addresses, &rejected);
    state.unparseable = !normalized.ok();
    if (normalized.ok()) {
      state.fields =
          digestFields(log.scratch, q->reason, q->args, normalized->allow, normalized->addresses);
    }
    if (!log.requests.try_emplace(e.ref, std::move(state)).second) {
      return StrFormat("request id %s was already used", e.ref);
    }
    if (!normalized.ok()) {
      log.unparseable[e.ref] =
          StrFormat("%s %s, which does not parse", rejected.allow ? "allow entry" : "address",
                    quote(rejected.text));
    } else if (q->all_hosts && q->hosts.empty() && (q->kind == "block" || q->kind == "unblock") &&
               may_dispatch) {
      log.fleet.change(e.ref, index, q->kind == "block", std::move(normalized->addresses));
    }
    return RuleOutcome::signedBy(op->second.public_key);
  }

  std::string labelDetail(const LogEntry& e) const override { return ", request " + e.ref; }

  std::string signerName(const LogEntry& e) const override {
    return absl::StrFormat("operator %s's key", e.actor.substr(e.actor.find(':') + 1));
  }
};

}  // namespace

const EntryRule& requestRule() { return theRule<RequestRule>(); }

}  // namespace warden::audit_verify
