// The list verbs (`warden actions`, `hosts`, `evidence list`) over the controller's paged list
// RPCs (proto/warden/v1/operator.proto, AIP-158): every page is fetched in turn and its items
// printed as they come, so the CLI holds one page (a few MiB at most), never the whole list,
// and prints one table, or with --json one document, as if it had been one answer.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <type_traits>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "controller/cli/client.h"
#include "controller/cli/render.h"

namespace warden::cli {

// What the CLI asks for per page: the controller's largest (it clamps anything larger, and
// holds each page under its byte budget whatever the count). Fewer round trips for long lists.
inline constexpr std::uint32_t kListPageSize = 1000;

// Asks for the first page of `req` with `fetch(const Req&, Resp*)` (one call, its status), and
// then for each next one, until the controller says there is no more or `page(const Resp&)`
// returns false (it has seen enough). The first failure ends the walk and is returned; so does a
// token the controller sent before (the walk would never end).
template <typename Req, typename Resp, typename Fetch, typename Page>
grpc::Status forEachPage(Req req, Fetch&& fetch, Page&& page) {
  std::set<std::string> tokens;
  for (;;) {
    Resp resp;
    if (grpc::Status s = fetch(static_cast<const Req&>(req), &resp); !s.ok()) return s;
    if (!page(static_cast<const Resp&>(resp)) || resp.next_page_token().empty()) {
      return grpc::Status::OK;
    }
    if (!tokens.insert(resp.next_page_token()).second) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          absl::StrFormat("the controller sent page token %s twice",
                                          resp.next_page_token().substr(0, 64)));
    }
    req.set_page_token(resp.next_page_token());
  }
}

// How a list verb shows its items without --json: the table's header (printed before the first
// row), a row per item, what to say when there is none (null: the header alone), and what to
// print under the table (null: nothing).
template <typename Item>
struct ListTable {
  std::function<void()> header;
  std::function<void(const Item&)> row;
  std::function<void()> none = nullptr;
  std::function<void()> footer = nullptr;
};

// A list verb: every item of the list `req` asks for, as `table` shows it, or with --json as one
// document {"KEY": [...]} (`key`: the response's repeated field, whose items `items` returns).
// Each call gives up after `timeout`. `limit` > 0: no more than that many items. `first_page`
// (when set) sees the first page before its items are shown: for what a response says besides
// its list (a warning, fields for the --json document's trailer). kExitOk, or the failed call's
// exit code; a list that failed part-way leaves its JSON document unterminated (it must not pass
// for the whole list).
template <typename Req, typename Resp, typename Items, typename Item>
int showList(const Globals& g, Client::Rpc<Req, Resp> rpc, const Req& req, absl::Duration timeout,
             const char* key, Items (Resp::*items)() const, const ListTable<Item>& table,
             std::uint64_t limit = 0,
             const std::type_identity_t<std::function<void(const Resp&, JsonListWriter&)>>&
                 first_page = nullptr) {
  return withClient(g, [&](Client& c) {
    JsonListWriter json(key);
    std::uint64_t shown = 0;
    bool first = true;
    auto fetch = [&](const Req& r, Resp* resp) { return c.call(rpc, r, resp, timeout); };
    grpc::Status s = forEachPage<Req, Resp>(req, fetch, [&](const Resp& page) {
      if (first && first_page) first_page(page, json);
      first = false;
      for (const Item& item : (page.*items)()) {
        if (limit > 0 && shown == limit) return false;
        if (g.json) {
          json.add(item);
        } else {
          if (shown == 0) table.header();
          table.row(item);
        }
        ++shown;
      }
      return limit == 0 || shown < limit;
    });
    if (!s.ok()) return reportRpcError(s);
    if (g.json) {
      json.finish();
    } else {
      if (shown == 0) (table.none ? table.none : table.header)();
      if (table.footer) table.footer();
    }
    return kExitOk;
  });
}

}  // namespace warden::cli
