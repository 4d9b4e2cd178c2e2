// The triage bundle's collectors, one per kind of evidence, each writing its members through
// the Bundle (collection.cc calls them in member order).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/os/linux/triage/bundle.h"
#include "agent/os/linux/triage/collector_wire.h"
#include "agent/os/linux/triage/host_files.h"
#include "agent/os/linux/triage/root.h"
#include "common/status.h"

namespace warden::triage {

// commands/host.json: hostname, kernel, boot id, uptime, collection time (UTC). Also tells
// the bundle the host's name and boot id for the manifest.
absl::Status addHostFacts(Bundle& bundle, const TriageRoot& root);

// commands/processes.json: every /proc/PID (process_table.cc).
absl::Status addProcesses(Bundle& bundle);

// commands/sockets.json: the agent's network namespace's sockets and who holds them.
absl::Status addSockets(Bundle& bundle);

// A procfs file (no size until read) as an output member.
absl::Status addProcFile(Bundle& bundle, const std::string& name, const std::string& path);

// An external tool's stdout as an output member; a missing tool is listed with the reason.
absl::Status addCommand(Bundle& bundle, const std::string& name, const std::string& tool,
                        const std::vector<std::string>& args);

// For every account of ROOT/etc/passwd: its home directory's entry (where the account owns
// it), ~/.ssh's entry, the SSH, history and shell start-up files, ~/.config/systemd/user, and
// the authorized keys files sshd_config's AuthorizedKeysFile names (never private keys).
absl::Status collectAccounts(Bundle& bundle, HostFiles& files, const TriageRoot& root);

// commands/vendor-units.json: the package-managed unit directories by name and hash only.
absl::Status addVendorUnits(Bundle& bundle, const TriageRoot& root);

// commands/lastlog.json: the lastlog records that are not empty.
absl::Status addLastlogRecords(Bundle& bundle, const TriageRoot& root);

// ---- the collection as a whole (collection.cc) ----

// A path inside the root that the files phase reads: a tree (every file below it) or one
// file. What the sandboxed collector's Landlock rules allow, and nothing more.
struct ReadPath {
  std::string path;
  bool tree = false;
};
// Every path the files phase reads: the fixed tables and, per account, accountReadPaths().
std::vector<ReadPath> collectorReadPaths(const TriageRoot& root);
// The accounts' files (home_files.cc): the home files collectAccounts takes, their
// ~/.config/systemd/user trees, and the authorized keys files sshd_config names.
std::vector<ReadPath> accountReadPaths(const TriageRoot& root);

// What happens between the phases: the agent's own steps (in process: addAgentStep; in the
// sandboxed collector: a request to the agent) and, before the host files, Landlock.
struct CollectionSteps {
  std::function<absl::Status(Bundle&, CollectorStep)> agent_step;
  std::function<absl::Status(Bundle&, const TriageRoot&)> before_host_files;
};
// Every member in order (the list at the top of collection.cc).
absl::Status collectAll(Bundle& bundle, const TriageRoot& root, const CollectionSteps& steps);
// The agent's step: the network tables (nft, iptables-save) or the journal.
absl::Status addAgentStep(Bundle& bundle, CollectorStep step);

}  // namespace warden::triage
