#include "controller/cli/approvals.h"

#include <cstdio>

#include "common/audit/automation_record.h"
#include "controller/cli/actions.h"
#include "controller/cli/duration.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"

namespace warden::cli {
namespace {

void printApprovals(const v1::ListApprovalsResponse& resp) {
  if (resp.pending().empty()) {
    std::printf("No decisions wait for approval.\n");
    return;
  }
  std::printf("%-18s  %-19s  %-19s  %-14s  %-13s  %-16s  %s\n", "DECISION", "RECEIVED (UTC)",
              "EXPIRES (UTC)", "HOST", "ACTION", "REASON", "RULE");
  for (int i = 0; i < resp.pending_size(); ++i) {
    const v1::AlertView& a = resp.pending(i);
    const std::int64_t expires = i < resp.expires_unix_ms_size() ? resp.expires_unix_ms(i) : 0;
    std::printf("%-18s  %-19s  %-19s  %-14s  %-13s  %-16s  %s\n", a.decision_id().c_str(),
                formatTime(a.received_unix_ms()).c_str(), formatTime(expires).c_str(),
                printable(a.host()).c_str(), a.action().c_str(), a.reason().c_str(),
                printable(a.rule()).c_str());
    std::printf("    %s  (alert %s from %s)\n", printable(a.why()).c_str(), a.id().c_str(),
                printable(a.source()).c_str());
  }
  std::printf("warden approve DECISION | warden reject DECISION\n");
}

void printBreaker(const v1::BreakerState& b) {
  std::printf("breaker %s", b.open() ? "OPEN: every automated action waits for approval"
                                     : "closed: rules in enforce mode act within the guardrails");
  if (!b.changed_by().empty()) {
    std::printf(" (since %s UTC, by %s)", formatTime(b.changed_unix_ms()).c_str(),
                printable(b.changed_by()).c_str());
  }
  std::printf("\n");
}

// Signs an automation request of `kind` with `args` and puts it into `req`.
template <typename SignedRpcRequest>
int attachRequest(const Client& c, const char* kind, std::vector<std::string> args,
                  const std::string& reason, SignedRpcRequest& req) {
  Request r;
  r.kind = kind;
  r.args = std::move(args);
  r.reason = reason;
  auto s = signedRequest(c, std::move(r));
  if (!s.ok()) {
    printError(std::string(s.status().message()));
    return kExitBadInput;
  }
  req.set_request(s->first);
  req.set_request_signature(s->second);
  return kExitOk;
}

}  // namespace

int approvalsList(const Globals& g) {
  return showAnswer(g, &v1::Operator::Stub::ListApprovals, v1::ListApprovalsRequest{},
                    absl::Seconds(15), printApprovals);
}

int approvalSettle(const Globals& g, const std::string& id, bool approve, const std::string& reason,
                   const std::string& timeout_text, bool no_wait) {
  auto timeout = parseDuration(timeout_text);
  if (!timeout.ok()) {
    printError(std::string(timeout.status().message()));
    return kExitBadInput;
  }
  return withClient(g, [&](Client& c) {
    v1::SettleApprovalRequest req;
    if (int rc =
            attachRequest(c, approve ? kApproveKind : kRejectKind, {"decision=" + id}, reason, req);
        rc != kExitOk) {
      return rc;
    }
    req.set_wait_ms(no_wait ? 0 : static_cast<std::uint32_t>(absl::ToInt64Milliseconds(*timeout)));
    v1::SubmitResponse resp;
    if (auto s =
            c.call(&v1::Operator::Stub::SettleApproval, req, &resp, *timeout + absl::Seconds(10));
        !s.ok()) {
      return reportRpcError(s);
    }
    if (!approve) {
      if (g.json) {
        std::printf("{\"decision\":\"%s\",\"approval\":\"rejected\"}\n", printable(id).c_str());
      } else {
        std::printf("Rejected %s: nothing is done for it.\n", printable(id).c_str());
      }
      return kExitOk;
    }
    const int rc = actionExitCode(resp);
    if (g.json) {
      printMessageJson(resp);
    } else {
      printSubmitted(resp.actions().empty() ? "approved action" : resp.actions(0).kind(), resp);
    }
    return rc;
  });
}

int breakerCmd(const Globals& g, const std::string& verb, const std::string& reason) {
  if (verb == "status") {
    return showAnswer(g, &v1::Operator::Stub::GetBreaker, v1::GetBreakerRequest{},
                      absl::Seconds(15), printBreaker);
  }
  return withClient(g, [&](Client& c) {
    v1::SetBreakerRequest req;
    if (int rc = attachRequest(c, verb == "open" ? kBreakerOpenKind : kBreakerCloseKind, {}, reason,
                               req);
        rc != kExitOk) {
      return rc;
    }
    v1::BreakerState resp;
    if (auto s = c.call(&v1::Operator::Stub::SetBreaker, req, &resp, absl::Seconds(15)); !s.ok()) {
      return reportRpcError(s);
    }
    if (g.json) {
      printMessageJson(resp);
    } else {
      printBreaker(resp);
    }
    return kExitOk;
  });
}

}  // namespace warden::cli
