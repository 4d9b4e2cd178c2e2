#include "controller/cli/tokens.h"

#include <unistd.h>

#include <cstdio>

#include "controller/cli/duration.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/render.h"

namespace warden::cli {

int tokenCreate(const Globals& g, const std::string& ttl_text, const std::string& host_id) {
  auto ttl = parseDuration(ttl_text);
  if (!ttl.ok()) {
    printError(std::string(ttl.status().message()));
    return kExitBadInput;
  }
  v1::CreateTokenRequest req;
  req.set_ttl_seconds(absl::ToInt64Seconds(*ttl));
  req.set_host_id(host_id);
  auto show = [&](Client& c, const v1::CreateTokenResponse& resp) {
    if (g.json) {
      printMessageJson(resp);
    } else {
      std::printf("%s\n", resp.token().c_str());
      if (isatty(STDERR_FILENO)) {
        std::fprintf(stderr,
                     "One-time join token, expires %s UTC. On the host:\n"
                     "  warden-agent enroll --controller %s --token <token> --state-dir "
                     "/var/lib/warden-agent\n",
                     formatTime(resp.expires_unix_ms()).c_str(), c.profile.controller.c_str());
      }
    }
    return kExitOk;
  };
  return withAnswer(g, &v1::Operator::Stub::CreateToken, req, absl::Seconds(15), show);
}

}  // namespace warden::cli
