#include "controller/cli/containment.h"

#include <cstdint>

#include "absl/strings/str_format.h"
#include "common/audit/agent_release.h"
#include "common/net.h"
#include "controller/cli/actions.h"
#include "controller/cli/duration.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"

namespace warden::cli {

int submit(const Globals& g, const std::string& kind, const SubmitArgs& args) {
  const auto& allow = args.allow;
  const bool no_wait = args.no_wait;
  const std::string& timeout_text = args.timeout;
  v1::SubmitRequest req;
  req.set_kind(kind);
  req.set_all_hosts(args.all_hosts);
  for (const auto& h : args.hosts) req.add_hosts(h);
  if ((kind == "block" || kind == "unblock") && args.all_hosts == !args.hosts.empty()) {
    printError("name the hosts with --host HOST, or use --all for the whole fleet (not both)");
    return kExitBadInput;
  }
  for (const auto& text : args.addresses) {
    auto p = IpPrefix::parse(text);
    if (!p.ok()) {
      printError(std::string(p.status().message()));
      return kExitBadInput;
    }
    req.add_addresses(p->toString());
  }
  // Reject malformed input before anything reaches the controller.
  for (const auto& text : allow) {
    auto e = AllowEntry::parse(text);
    if (!e.ok()) {
      printError(std::string(e.status().message()));
      return kExitBadInput;
    }
    auto* out = req.add_allow();
    out->set_cidr(e->prefix.toString());
    out->set_port(e->port);
  }
  if (!args.for_duration.empty()) {
    auto d = parseDuration(args.for_duration);
    const std::int64_t ms = d.ok() ? absl::ToInt64Milliseconds(*d) : 0;
    if (!d.ok() || ms < kMinIsolateForMs || ms > kMaxIsolateForMs) {
      printError(d.ok() ? absl::StrFormat("--for %s: an isolation lasts between 1s and 30d",
                                          args.for_duration)
                        : std::string(d.status().message()));
      return kExitBadInput;
    }
    req.add_args(absl::StrFormat("for_ms=%d", ms));
  }
  auto timeout = parseDuration(timeout_text);
  if (!timeout.ok()) {
    printError(std::string(timeout.status().message()));
    return kExitBadInput;
  }
  req.set_wait_ms(no_wait ? 0 : static_cast<std::uint32_t>(absl::ToInt64Milliseconds(*timeout)));
  return withClient(g, [&](Client& c) {
    v1::SubmitResponse resp;
    if (int rc = signAndSubmit(g, c, req, *timeout + absl::Seconds(10), resp); rc != kExitOk) {
      return rc;
    }
    const int rc = actionExitCode(resp);
    if (g.json) {
      printMessageJson(resp);
    } else {
      printSubmitted(kind, resp);
    }
    return rc;
  });
}

int listBlocks(const Globals& g) {
  return showAnswer(g, &v1::Operator::Stub::ListBlocks, v1::ListBlocksRequest(), absl::Seconds(15),
                    printBlocks);
}

}  // namespace warden::cli
