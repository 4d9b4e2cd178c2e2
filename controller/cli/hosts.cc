#include "controller/cli/hosts.h"

#include "controller/cli/pages.h"
#include "controller/cli/render.h"

namespace warden::cli {

int listHosts(const Globals& g) {
  v1::ListHostsRequest req;
  req.set_page_size(kListPageSize);
  return showList(g, &v1::Operator::Stub::ListHosts, req, absl::Seconds(15), "hosts",
                  &v1::ListHostsResponse::hosts,
                  ListTable<v1::Host>{printHostsHeader, printHostRow, printNoHosts});
}

}  // namespace warden::cli
