#include "controller/cli/actions.h"

#include "controller/cli/exit_codes.h"
#include "controller/cli/pages.h"
#include "controller/cli/render.h"

namespace warden::cli {
namespace {

// Over without being done: exit 1, whatever the reason the host or the controller gave.
bool unsuccessful(const std::string& state) {
  return state == "failed" || state == "refused" || state == "expired" || state == "interrupted";
}

}  // namespace

int listActions(const Globals& g, const std::string& host, std::uint32_t limit) {
  v1::ListActionsRequest req;
  req.set_host_id(host);
  req.set_limit(limit);
  req.set_page_size(kListPageSize);
  // The table shows no receipt details (a kill's lists every process it killed, up to 2 MiB);
  // --json shows every field of every action, as it always has.
  req.set_view(g.json ? v1::ACTION_VIEW_FULL : v1::ACTION_VIEW_BASIC);
  // The controller starts the list at the newest `limit`: the first `limit` items are those, and
  // any added while the pages come are left out.
  return showList(g, &v1::Operator::Stub::ListActions, req, absl::Seconds(15), "actions",
                  &v1::ListActionsResponse::actions,
                  ListTable<v1::Action>{printActionsHeader, printActionRow}, limit);
}

int showAction(const Globals& g, const std::string& id) {
  v1::GetActionRequest req;
  req.set_id(id);
  auto show = [&](Client&, const v1::Action& a) {
    if (g.json) {
      printMessageJson(a);
      return kExitOk;
    }
    printAction(a);
    return unsuccessful(a.state()) ? kExitFailed : kExitOk;
  };
  return withAnswer(g, &v1::Operator::Stub::GetAction, req, absl::Seconds(15), show);
}

int actionExitCode(const v1::SubmitResponse& resp) {
  int rc = kExitOk;
  for (const auto& a : resp.actions()) {
    if (unsuccessful(a.state())) return kExitFailed;
    if (a.state() == "queued" || a.state() == "delivered") rc = kExitPending;
  }
  return rc;
}

}  // namespace warden::cli
