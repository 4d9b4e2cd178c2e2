// The triage bundle's collectors, one per kind of evidence, each writing its members through
// the Bundle (collection.cc calls them in member order).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "agent/os/linux/exe_hasher.h"
#include "agent/os/linux/triage/bundle.h"
#include "agent/os/linux/triage/collector_wire.h"
#include "agent/os/linux/triage/host_files.h"
#include "agent/os/linux/triage/root.h"
#include "common/status.h"

namespace warden::triage {

// commands/host.json: hostname, kernel, boot id, uptime, collection time (UTC). Also tells
// the bundle the host's name and boot id for the manifest.
absl::Status addHostFacts(Bundle& bundle, const TriageRoot& root);

// What only CAP_SYS_PTRACE shows of another user's process: its exe, cwd and root links, the
// executable's hash, the sockets it holds and, where /proc is mounted hidepid, everything else
// too (live_links.cc). Read first and on their own, as raw bytes, so the sandboxed collector
// gives that capability up (it would open the agent's own memory, /proc/PPID/mem, to the child)
// before it parses a byte the host wrote. One process's files are read together, so a pid
// reused later cannot pair one process's executable with another's command line.
inline constexpr std::size_t kMaxLiveBytes = 256 << 20;  // of everything read, in all
struct ProcessLinks {
  bool unread = false;  // kMaxLiveBytes used up before this process
  std::string stat;     // /proc/PID/stat; empty: the process was gone
  std::string status, loginuid, sessionid;
  std::optional<std::string> cmdline;  // at most kMaxArgvBytes + 1
  std::string exe, cwd, root;
  int exe_err = 0, cwd_err = 0, root_err = 0;  // errno of each readlink; 0: read
  ExeHasher::Facts exe_facts;                  // when exe was read
};
inline constexpr std::size_t kMaxArgvBytes = 32 << 10;  // of one /proc/PID/cmdline
struct LiveLinks {
  std::string proc_error;   // /proc could not be opened
  std::vector<pid_t> pids;  // ascending, at most kMaxProcessesScanned
  bool more_pids = false;
  std::unordered_map<pid_t, ProcessLinks> processes;
  std::unordered_map<std::uint64_t, std::vector<pid_t>> socket_holders;  // by socket inode
  bool fds_complete = true;  // false: stopped at a bound, some sockets' holders not looked for
  std::size_t unread = 0;    // processes not read (ProcessLinks::unread)
  std::size_t hashes_partial = 0, hashes_skipped = 0;
};
LiveLinks readLiveLinks(const TriageLimits& limits);

// commands/processes.json: every process of `links` (process_table.cc).
absl::Status addProcesses(Bundle& bundle, const LiveLinks& links);

// commands/sockets.json: the agent's network namespace's sockets and who holds them.
absl::Status addSockets(Bundle& bundle, const LiveLinks& links);

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
// sandboxed collector: a request to the agent) and, once the live links are read and before
// anything the host wrote is parsed, the sandboxed collector's last confinement (CAP_SYS_PTRACE
// dropped, Landlock).
struct CollectionSteps {
  std::function<absl::Status(Bundle&, CollectorStep)> agent_step;
  std::function<absl::Status(Bundle&, const TriageRoot&)> after_live_links;
};
// Every member in order (the list at the top of collection.cc).
absl::Status collectAll(Bundle& bundle, const TriageRoot& root, const CollectionSteps& steps);
// The agent's step: the network tables (nft, iptables-save) or the journal.
absl::Status addAgentStep(Bundle& bundle, CollectorStep step);

}  // namespace warden::triage
