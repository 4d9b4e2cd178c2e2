#include "controller/cli/hosts.h"

#include <cstdio>
#include <map>

#include "controller/cli/pages.h"
#include "controller/cli/render.h"

namespace warden::cli {

int listHosts(const Globals& g) {
  v1::ListHostsRequest req;
  req.set_page_size(kListPageSize);
  std::vector<std::pair<std::string, std::string>> notes;
  ListTable<v1::Host> table{printHostsHeader,
                            [&](const v1::Host& h) {
                              printHostRow(h);
                              if (!h.cert_warning().empty()) {
                                notes.emplace_back(h.host_id(), h.cert_warning());
                              }
                            },
                            printNoHosts, [&] { printHostCertificateNotes(notes); }};
  return showList(g, &v1::Operator::Stub::ListHosts, req, absl::Seconds(15), "hosts",
                  &v1::ListHostsResponse::hosts, table, 0,
                  [](const v1::ListHostsResponse& first, JsonListWriter& json) {
                    // On stderr in either form: a script reading --json sees them too.
                    printCertificateWarnings(first);
                    // The fields besides the list, in the --json document after it.
                    v1::ListHostsResponse top = first;
                    top.clear_hosts();
                    top.clear_next_page_token();
                    json.trailer(top);
                  });
}

int labelHost(const Globals& g, const std::string& host, const std::vector<std::string>& changes) {
  v1::SetLabelsRequest req;
  req.set_host_id(host);
  for (const auto& c : changes) {
    const auto eq = c.find('=');
    if (eq != std::string::npos && eq > 0) {
      (*req.mutable_set())[c.substr(0, eq)] = c.substr(eq + 1);
    } else if (c.size() > 1 && c.back() == '-' && eq == std::string::npos) {
      req.add_remove(c.substr(0, c.size() - 1));
    } else {
      printError("'" + printable(c) + "' is neither KEY=VALUE nor KEY-");
      return kExitBadInput;
    }
  }
  auto show = [&](Client&, const v1::SetLabelsResponse& resp) {
    if (g.json) {
      printMessageJson(resp);
      return kExitOk;
    }
    std::printf("%s:", printable(host).c_str());
    if (resp.labels().empty()) std::printf(" no labels");
    std::map<std::string, std::string> sorted(resp.labels().begin(), resp.labels().end());
    for (const auto& [k, v] : sorted)
      std::printf(" %s=%s", printable(k).c_str(), printable(v).c_str());
    std::printf("\n");
    return kExitOk;
  };
  return withAnswer(g, &v1::Operator::Stub::SetLabels, req, absl::Seconds(15), show);
}

}  // namespace warden::cli
