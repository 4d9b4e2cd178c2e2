// dispatch: a command the controller signed with its command key. For a request it matches
// exactly what the request asked for (kind, requester allowed to have commands dispatched, a
// host it names, incident, arguments, allow list and addresses as the controller normalizes
// them); without one it is the controller's own fleet-wide block, sent to a host that enrolls.
#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_format.h"
#include "common/audit/agent_release.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"
#include "common/command.h"

namespace warden::audit_verify {
namespace {

class DispatchRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    using absl::StrFormat;
    if (e.actor != "controller") {
      return StrFormat("dispatches are the controller's, not %s", quote(e.actor));
    }
    if (!log.command_key) return std::string("no controller command key is logged before it");
    auto c = decodeCommand(e.body);
    if (!c.ok()) return StrFormat("body is not a command: %s", c.status().message());
    if (c->id.empty()) return std::string("command without an id");
    if (c->host_id.empty() || c->host_id != e.host_id) {
      return StrFormat("the signed command is for host %s, the entry says %s", quote(c->host_id),
                       quote(e.host_id));
    }
    const std::uint32_t host = log.names.id(c->host_id);
    if (auto broken =
            e.ref.empty() ? controllersOwn(*c, host, log) : forRequest(e, *c, host, log)) {
      return *std::move(broken);
    }
    auto for_ms = c->kind == "isolate" ? isolateForMs(c->args) : absl::StatusOr<std::int64_t>(0);
    const bool timed = for_ms.ok() && *for_ms > 0;
    if (!log.commands.try_emplace(c->id, CommandState{host, false, log.names.id(c->kind), timed})
             .second) {
      return StrFormat("command id %s was already dispatched", c->id);
    }
    // An operator's release starts the host's automation cooldown (common/alerts/decide.h).
    if (c->kind == "release") log.automation.noteChange(c->host_id, c->issued_unix_ms);
    return RuleOutcome::signedBy(*log.command_key);
  }

  std::string labelDetail(const LogEntry& e) const override {
    std::string detail;
    if (auto cmd = decodeCommand(e.body); cmd.ok()) detail += ", command " + cmd->id;
    if (!e.ref.empty()) detail += ", for request " + e.ref;
    return detail;
  }

  std::string signerName(const LogEntry&) const override { return "the controller's command key"; }

 private:
  // The controller's own commands are the fleet-wide blocks it sends a host that enrolls
  // (controller/agent_channel enrollment): what operators' --all block requests put in force.
  static std::optional<std::string> controllersOwn(const Command& c, std::uint32_t host,
                                                   const LogState& log) {
    using absl::StrFormat;
    if (c.requested_by != "controller") {
      return StrFormat(
          "a dispatch without a request must be the controller's own, not requested by %s",
          quote(c.requested_by));
    }
    if (c.kind != "block") {
      return StrFormat("the controller's own commands are fleet-wide blocks, not %s",
                       quote(c.kind));
    }
    if (!log.agent_keys.contains(host)) {
      return StrFormat("host %s has not enrolled", c.host_id);
    }
    if (c.addresses.empty()) return std::string("a fleet-wide block without addresses");
    if (!c.allow.empty() || !c.args.empty()) {
      return std::string("a fleet-wide block carries no allow list or arguments");
    }
    for (const auto& a : c.addresses) {
      if (!log.fleet.blocked(a)) {
        return StrFormat(
            "address %s is not blocked fleet-wide at this point (no --all block request for it "
            "is in force)",
            quote(a));
      }
    }
    return std::nullopt;
  }

  // Exactly what the operator signed, as the controller normalizes it.
  static std::optional<std::string> forRequest(const LogEntry& e, const Command& c,
                                               std::uint32_t host, LogState& log) {
    using absl::StrFormat;
    auto q = log.requests.find(e.ref);
    if (q == log.requests.end()) {
      return StrFormat("request %s is not logged before it", e.ref);
    }
    RequestState& req = q->second;
    if (req.refused) return StrFormat("request %s was refused before it", e.ref);
    if (log.names.name(req.kind) != c.kind) {
      return StrFormat("command kind %s, but request %s asked for %s", quote(c.kind), e.ref,
                       quote(log.names.name(req.kind)));
    }
    const std::string& requester = log.names.name(req.operator_name);
    if (c.requested_by != requester) {
      return StrFormat("command says requested by %s, but request %s is %s's",
                       quote(c.requested_by), e.ref, requester);
    }
    if (!req.all_hosts && std::find(req.hosts.begin(), req.hosts.end(), host) == req.hosts.end()) {
      return StrFormat("request %s does not name host %s", e.ref, c.host_id);
    }
    if (!req.may_dispatch) {
      auto op = log.operators.find(requester);
      const std::string role = op == log.operators.end() ? "" : op->second.role;
      return StrFormat("operator %s (role %s) may not have commands dispatched", requester,
                       role.empty() ? "none" : role);
    }
    if (req.unparseable) {
      return StrFormat(
          "request %s has %s: the controller refuses it, so nothing may be dispatched for it",
          e.ref, log.unparseable[e.ref]);
    }
    // Version 1 commands carried the request's reason where version 2 carries its incident
    // (RequestRule digests the same field of the request).
    const FieldsDigest got = digestFields(log.scratch, c.version == 1 ? c.reason : c.incident,
                                          c.args, c.allow, c.addresses);
    if (got.all != req.fields.all) {
      for (std::size_t f = 0; f < kFieldNames.size(); ++f) {
        if (got.field[f] != req.fields.field[f]) {
          return StrFormat("command %s differs from request %s's", kFieldNames[f], e.ref);
        }
      }
      return StrFormat(
          "command incident, arguments, allow or address list differ from request %s's", e.ref);
    }
    if (!req.dispatched) {
      req.dispatched = true;
      if (req.all_hosts) log.fleet.settle(e.ref);  // settled: no refusal undoes it
    }
    return std::nullopt;
  }
};

}  // namespace

const EntryRule& dispatchRule() { return theRule<DispatchRule>(); }

}  // namespace warden::audit_verify
