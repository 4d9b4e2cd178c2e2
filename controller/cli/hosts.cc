#include "controller/cli/hosts.h"

#include "controller/cli/render.h"

namespace warden::cli {

int listHosts(const Globals& g) {
  return showAnswer(g, &v1::Operator::Stub::ListHosts, v1::ListHostsRequest(), absl::Seconds(15),
                    printHosts);
}

}  // namespace warden::cli
