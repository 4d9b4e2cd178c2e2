// agent-release: a release an agent made by itself, signed with its key — the end of an
// isolation dispatched to that host with a duration (isolate --for), once per isolation.
#include "absl/strings/str_format.h"
#include "common/audit/agent_release.h"
#include "common/audit/verify/entry_rule.h"
#include "common/audit/verify/untrusted_text.h"

namespace warden::audit_verify {
namespace {

class AgentReleaseRule final : public EntryRule {
 public:
  RuleOutcome check(const LogEntry& e, std::uint64_t, LogState& log) const override {
    using absl::StrFormat;
    if (auto broken = notByItsAgent(e, "agent release")) return *std::move(broken);
    auto host = log.names.find(e.host_id);
    auto key = host ? log.agent_keys.find(*host) : log.agent_keys.end();
    if (key == log.agent_keys.end()) return StrFormat("host %s has not enrolled", e.host_id);
    auto r = decodeAgentRelease(e.body);
    if (!r.ok()) return StrFormat("body is not an agent release: %s", r.status().message());
    if (r->host_id != e.host_id) {
      return StrFormat("the signed release is from host %s", quote(r->host_id));
    }
    if (r->command_id != e.ref) {
      return StrFormat("the signed release ends command %s", quote(r->command_id));
    }
    auto c = log.commands.find(e.ref);
    if (c == log.commands.end()) {
      return StrFormat("command %s was not dispatched before it", e.ref);
    }
    if (c->second.host != *host) {
      return StrFormat("command %s was dispatched to %s, not %s", e.ref,
                       log.names.name(c->second.host), e.host_id);
    }
    if (!c->second.timed) {
      return StrFormat("command %s is not an isolation with a duration: only a release can end it",
                       e.ref);
    }
    if (!c->second.receipted) {
      return StrFormat("command %s has no receipt before its timed release", e.ref);
    }
    if (!c->second.succeeded) {
      return StrFormat("command %s did not succeed: there is no isolation for it to end", e.ref);
    }
    if (!r->released) {
      return StrFormat("the release of %s says it failed (the controller logs only releases)",
                       e.ref);
    }
    if (c->second.agent_released) {
      return StrFormat("command %s already ended with a timed release", e.ref);
    }
    c->second.agent_released = true;
    return RuleOutcome::signedBy(key->second);
  }

  std::string labelDetail(const LogEntry& e) const override { return ", command " + e.ref; }
};

}  // namespace

const EntryRule& agentReleaseRule() { return theRule<AgentReleaseRule>(); }

}  // namespace warden::audit_verify
