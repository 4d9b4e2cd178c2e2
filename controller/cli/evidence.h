// Evidence: `warden image` and `collect` (taken on the host, stored by the controller), and
// `warden evidence list|show|get|verify` on the controller's evidence store.
#pragma once

#include <string>
#include <vector>

#include "controller/cli/client.h"

namespace warden::cli {

// The command line of `warden image`.
struct ImageArgs {
  std::vector<std::string> devices;
  bool all_disks = false;
  std::string compress;
  double rate_mb = 0;
  std::string timeout = "24h";
};

// The command line of `warden collect`; the limits as typed ("" leaves the agent's default).
struct CollectArgs {
  std::string max_member_mb;
  std::string max_total_mb;
  double rate_mb = 0;
  std::string timeout = "2h";
};

int imageCmd(const Globals& g, const std::string& host, const ImageArgs& ia);
int collectCmd(const Globals& g, const std::string& host, const CollectArgs& ca);

// Every item, or those of `host` when it is not empty.
int evidenceList(const Globals& g, const std::string& host);
int evidenceShow(const Globals& g, const std::string& id);
// Copies the content to `out_path` (created, never overwritten), checking size and SHA-256;
// nothing is left behind when they do not match.
int evidenceGet(const Globals& g, const std::string& id, const std::string& out_path);
// The controller re-reads and checks the item: exit 0 verified, 1 not.
int evidenceVerify(const Globals& g, const std::string& id);

}  // namespace warden::cli
