#include "controller/cli/hosts.h"

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

}  // namespace warden::cli
