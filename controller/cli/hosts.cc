#include "controller/cli/hosts.h"

#include "controller/cli/render.h"

namespace warden::cli {

int listHosts(const Globals& g) {
  return withAnswer(g, &v1::Operator::Stub::ListHosts, v1::ListHostsRequest(), absl::Seconds(15),
                    [&](Client&, const v1::ListHostsResponse& resp) {
                      // On stderr in either form: a script reading --json sees them too.
                      printCertificateWarnings(resp);
                      if (g.json) {
                        printMessageJson(resp);
                      } else {
                        printHosts(resp);
                      }
                      return kExitOk;
                    });
}

}  // namespace warden::cli
