// The triage bundle on Linux (see agent/os/triage.h): the collectors in member order.
//
// Members, in this order. The total size limit is spent first come, first served, so the small
// tables that matter most come first and the large logs last:
//   commands/host.json          hostname, kernel, boot id, uptime, collection time (UTC)
//   commands/processes.json     every /proc/PID: ids, login uid, audit session, tty, start time,
//                               state, exe and its SHA-256, argv, cwd (process_table.cc)
//   commands/sockets.json       /proc/self/net/{tcp,tcp6,udp,udp6,raw,raw6,unix} of the agent's
//                               network namespace, with the pids holding each socket
//   commands/modules.txt        /proc/modules, commands/tainted.txt /proc/sys/kernel/tainted,
//   commands/mountinfo.txt      /proc/self/mountinfo
//   commands/nft-ruleset.txt    nft list ruleset; commands/iptables-save.txt and
//                               commands/ip6tables-save.txt where those tools exist (the
//                               agent's step kStepNetworkTables: they need a netlink socket
//                               and CAP_NET_ADMIN, which the sandboxed collector has not)
//   files/...                   identity and accounts (passwd, group, hostname, machine-id,
//                               os-release, hosts, sudoers, ld.so.preload, rc.local), crontabs
//                               and at jobs, the systemd units of /etc/systemd, /run/systemd/
//                               {system,transient} and /usr/local/lib/systemd in full, sshd
//                               configuration, and for every account of ROOT/etc/passwd: the home
//                               directory's entry (where the account owns it), ~/.ssh's entry,
//                               authorized_keys (also where AuthorizedKeysFile points),
//                               known_hosts, ~/.ssh/config and rc, shell and tool histories, shell
//                               start-up files, ~/.config/systemd/user (never private keys)
//                               (host_files.cc, home_files.cc)
//   commands/vendor-units.json  /usr/lib/systemd/{system,user} (and /lib/systemd/... when not the
//                               same directories): package-managed and large, so only names, link
//                               targets, owner, mode, mtime and SHA-256, to compare with the
//                               package database (dpkg --verify, rpm -V)
//   files/...                   sessions (/run/utmp, wtmp*, btmp*, lastlog, lastlog2.db), then
//                               auth.log*, secure*, audit/audit.log*, each set newest first
//   commands/lastlog.json       the lastlog records that are not empty (lastlog.cc)
//   commands/journal.txt        journalctl --since=-1d --no-pager -o export (tool_outputs.cc;
//                               the agent's step kStepJournal)
//   MANIFEST.json               (manifest.cc)
//
// `warden collect` runs this in a sandboxed, exec'd child (collector_main.cc): the live links
// first (each process's /proc files as raw bytes, its exe, cwd and root, its executable's hash,
// its sockets: the one read that needs CAP_SYS_PTRACE, and which parses nothing the host
// wrote), then the child drops CAP_SYS_PTRACE and Landlock closes everything but /proc and
// collectorReadPaths(), then the live tables and the host files. In process (writeTriageBundle, the
// tests of the collectors) the steps are plain calls.
//
// How files are read: root.h and host_files.h. Outputs whose size is known only at their end:
// spool.h. The archive format: tar_header.h and bundle_writer.h. JSON strings: json_fields.h.
#include "absl/strings/str_cat.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/triage.h"

namespace warden::triage {
namespace {

// The fixed host files and trees, in member order. collectorReadPaths() makes Landlock's rules
// from these same tables: the collector can read what it collects and nothing else.
struct Source {
  const char* path;
  int depth;         // directory levels below it (0: the entry itself)
  bool list_absent;  // listed as "absent" when not there
};

constexpr Source kIdentityAndPersistence[] = {
    // identity and accounts
    {"/etc/passwd", 0, true},
    {"/etc/group", 0, true},
    {"/etc/hostname", 0, true},
    {"/etc/machine-id", 0, true},
    {"/etc/os-release", 0, true},
    {"/usr/lib/os-release", 0, true},
    {"/etc/timezone", 0, true},
    {"/etc/localtime", 0, true},
    {"/etc/hosts", 0, true},
    {"/etc/sudoers", 0, true},
    {"/etc/ld.so.preload", 0, true},
    {"/etc/rc.local", 0, true},
    // cron and at
    {"/etc/crontab", 0, true},
    {"/etc/anacrontab", 0, true},
    {"/etc/cron.allow", 0, true},
    {"/etc/cron.deny", 0, true},
    {"/etc/at.allow", 0, true},
    {"/etc/at.deny", 0, true},
    {"/etc/sudoers.d", 1, true},
    {"/etc/cron.d", 1, true},
    {"/etc/cron.hourly", 1, true},
    {"/etc/cron.daily", 1, true},
    {"/etc/cron.weekly", 1, true},
    {"/etc/cron.monthly", 1, true},
    {"/etc/cron.yearly", 1, true},
    {"/var/spool/anacron", 1, true},
    // Debian: crontabs/, atjobs/, atspool/; RHEL: one file per user, and at jobs in
    // /var/spool/at.
    {"/var/spool/cron", 3, true},
    {"/var/spool/at", 2, false},
    // systemd and sshd
    {"/etc/systemd", kTreeDepth, true},
    {"/run/systemd/system", kTreeDepth, true},
    {"/run/systemd/transient", kTreeDepth, true},
    {"/usr/local/lib/systemd", kTreeDepth, true},
    {"/etc/ssh/sshd_config", 0, true},
    {"/etc/ssh/sshd_config.d", 1, false},
};

constexpr Source kSessions[] = {
    {"/run/utmp", 0, true},
    {"/var/run/utmp", 0, false},
};

// Read whole by the other collectors of the files phase: the logs (collectMatching and
// lastlog.cc) and the package-managed units (vendor_units.cc).
constexpr const char* kOtherReadTrees[] = {"/var/log", "/var/lib/lastlog", "/usr/lib/systemd",
                                           "/lib/systemd"};

// The live kernel's tables, with the links read before Landlock (which would have blinded the
// collector to every other process's links).
absl::Status collectLiveTables(Bundle& bundle, const TriageRoot& root, const LiveLinks& links) {
  WARDEN_RETURN_IF_ERROR(addHostFacts(bundle, root));
  WARDEN_RETURN_IF_ERROR(addProcesses(bundle, links));
  WARDEN_RETURN_IF_ERROR(addSockets(bundle, links));
  WARDEN_RETURN_IF_ERROR(addProcFile(bundle, "commands/modules.txt", "/proc/modules"));
  WARDEN_RETURN_IF_ERROR(addProcFile(bundle, "commands/tainted.txt", "/proc/sys/kernel/tainted"));
  return addProcFile(bundle, "commands/mountinfo.txt", "/proc/self/mountinfo");
}

// Identity and accounts, then persistence: cron and at, systemd, sshd, accounts' homes; then
// sessions, the authentication logs: the largest come last.
absl::Status collectHostFiles(Bundle& bundle, const TriageRoot& root) {
  HostFiles files(bundle, root);
  for (const Source& s : kIdentityAndPersistence) {
    WARDEN_RETURN_IF_ERROR(files.collectPath(s.path, s.depth, s.list_absent));
  }
  WARDEN_RETURN_IF_ERROR(collectAccounts(bundle, files, root));
  WARDEN_RETURN_IF_ERROR(addVendorUnits(bundle, root));
  for (const Source& s : kSessions) {
    WARDEN_RETURN_IF_ERROR(files.collectPath(s.path, s.depth, s.list_absent));
  }
  WARDEN_RETURN_IF_ERROR(files.collectMatching("/var/log", {"wtmp", "btmp"}));
  WARDEN_RETURN_IF_ERROR(files.collectPath("/var/log/lastlog", 0, true));
  WARDEN_RETURN_IF_ERROR(files.collectPath("/var/lib/lastlog/lastlog2.db", 0, false));
  WARDEN_RETURN_IF_ERROR(addLastlogRecords(bundle, root));
  WARDEN_RETURN_IF_ERROR(files.collectMatching("/var/log", {"auth.log", "secure"}));
  return files.collectMatching("/var/log/audit", {"audit.log"});
}

}  // namespace

std::vector<ReadPath> collectorReadPaths(const TriageRoot& root) {
  std::vector<ReadPath> paths;
  for (const Source& s : kIdentityAndPersistence) paths.push_back({s.path, s.depth > 0});
  for (const Source& s : kSessions) paths.push_back({s.path, s.depth > 0});
  for (const char* t : kOtherReadTrees) paths.push_back({t, true});
  for (ReadPath& p : accountReadPaths(root)) paths.push_back(std::move(p));
  return paths;
}

absl::Status collectAll(Bundle& bundle, const TriageRoot& root, const CollectionSteps& steps) {
  {
    const LiveLinks links = readLiveLinks(bundle.limits());
    WARDEN_RETURN_IF_ERROR(steps.after_live_links(bundle, root));
    WARDEN_RETURN_IF_ERROR(collectLiveTables(bundle, root, links));
  }
  WARDEN_RETURN_IF_ERROR(steps.agent_step(bundle, kStepNetworkTables));
  WARDEN_RETURN_IF_ERROR(collectHostFiles(bundle, root));
  return steps.agent_step(bundle, kStepJournal);
}

absl::Status addAgentStep(Bundle& bundle, CollectorStep step) {
  if (step == kStepNetworkTables) {
    WARDEN_RETURN_IF_ERROR(
        addCommand(bundle, "commands/nft-ruleset.txt", "nft", {"list", "ruleset"}));
    WARDEN_RETURN_IF_ERROR(addCommand(bundle, "commands/iptables-save.txt", "iptables-save", {}));
    return addCommand(bundle, "commands/ip6tables-save.txt", "ip6tables-save", {});
  }
  const TriageOptions& options = bundle.options();
  if (step != kStepJournal || !options.include_journal) return absl::OkStatus();
  std::vector<std::string> args = {"--since=-1d", "--no-pager", "-o", "export"};
  if (cleanPath(options.root) != "/") args.push_back(absl::StrCat("--root=", options.root));
  return addCommand(bundle, "commands/journal.txt", "journalctl", args);
}

}  // namespace warden::triage

namespace warden {

absl::StatusOr<TriageResult> writeTriageBundle(const std::string& out_path,
                                               const TriageOptions& options) {
  triage::TriageRoot root;
  WARDEN_RETURN_IF_ERROR(root.open(options.root));
  const TriageLimits& limits = options.limits;
  if (limits.max_member_bytes == 0 || limits.max_total_bytes == 0 || limits.max_members == 0) {
    return absl::InvalidArgumentError("triage limits must be positive");
  }
  triage::Bundle bundle(options, out_path);
  WARDEN_RETURN_IF_ERROR(bundle.create());
  triage::CollectionSteps in_process;
  in_process.agent_step = triage::addAgentStep;
  in_process.after_live_links = [](triage::Bundle&, const triage::TriageRoot&) {
    return absl::OkStatus();
  };
  absl::Status collected = triage::collectAll(bundle, root, in_process);
  absl::StatusOr<TriageResult> result =
      collected.ok() ? bundle.finish() : absl::StatusOr<TriageResult>(collected);
  if (!result.ok()) bundle.discard();
  return result;
}

}  // namespace warden
