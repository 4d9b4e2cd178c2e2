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
//                               commands/ip6tables-save.txt where those tools exist
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
//   commands/journal.txt        journalctl --since=-1d --no-pager -o export (tool_outputs.cc)
//   MANIFEST.json               (manifest.cc)
//
// How files are read: root.h and host_files.h. Outputs whose size is known only at their end:
// spool.h. The archive format: tar_header.h and bundle_writer.h. JSON strings: json_fields.h.
#include "absl/strings/str_cat.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/triage.h"

namespace warden {
namespace {

using triage::Bundle;
using triage::HostFiles;
using triage::kTreeDepth;
using triage::TriageRoot;

absl::Status collectAll(Bundle& bundle, const TriageRoot& root) {
  WARDEN_RETURN_IF_ERROR(triage::addHostFacts(bundle, root));
  WARDEN_RETURN_IF_ERROR(triage::addProcesses(bundle));
  WARDEN_RETURN_IF_ERROR(triage::addSockets(bundle));
  WARDEN_RETURN_IF_ERROR(triage::addProcFile(bundle, "commands/modules.txt", "/proc/modules"));
  WARDEN_RETURN_IF_ERROR(
      triage::addProcFile(bundle, "commands/tainted.txt", "/proc/sys/kernel/tainted"));
  WARDEN_RETURN_IF_ERROR(
      triage::addProcFile(bundle, "commands/mountinfo.txt", "/proc/self/mountinfo"));
  WARDEN_RETURN_IF_ERROR(
      triage::addCommand(bundle, "commands/nft-ruleset.txt", "nft", {"list", "ruleset"}));
  WARDEN_RETURN_IF_ERROR(
      triage::addCommand(bundle, "commands/iptables-save.txt", "iptables-save", {}));
  WARDEN_RETURN_IF_ERROR(
      triage::addCommand(bundle, "commands/ip6tables-save.txt", "ip6tables-save", {}));

  // Identity and accounts, then persistence: cron and at, systemd, sshd, accounts' homes.
  HostFiles files(bundle, root);
  for (const char* f :
       {"/etc/passwd", "/etc/group", "/etc/hostname", "/etc/machine-id", "/etc/os-release",
        "/usr/lib/os-release", "/etc/timezone", "/etc/localtime", "/etc/hosts", "/etc/sudoers",
        "/etc/ld.so.preload", "/etc/rc.local", "/etc/crontab", "/etc/anacrontab", "/etc/cron.allow",
        "/etc/cron.deny", "/etc/at.allow", "/etc/at.deny"}) {
    WARDEN_RETURN_IF_ERROR(files.collectPath(f, 0, true));
  }
  for (const char* d :
       {"/etc/sudoers.d", "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly",
        "/etc/cron.monthly", "/etc/cron.yearly", "/var/spool/anacron"}) {
    WARDEN_RETURN_IF_ERROR(files.collectPath(d, 1, true));
  }
  // Debian: crontabs/, atjobs/, atspool/; RHEL: one file per user, and at jobs in /var/spool/at.
  WARDEN_RETURN_IF_ERROR(files.collectPath("/var/spool/cron", 3, true));
  WARDEN_RETURN_IF_ERROR(files.collectPath("/var/spool/at", 2, false));
  for (const char* d : {"/etc/systemd", "/run/systemd/system", "/run/systemd/transient",
                        "/usr/local/lib/systemd"}) {
    WARDEN_RETURN_IF_ERROR(files.collectPath(d, kTreeDepth, true));
  }
  WARDEN_RETURN_IF_ERROR(files.collectPath("/etc/ssh/sshd_config", 0, true));
  WARDEN_RETURN_IF_ERROR(files.collectPath("/etc/ssh/sshd_config.d", 1, false));
  WARDEN_RETURN_IF_ERROR(triage::collectAccounts(bundle, files, root));
  WARDEN_RETURN_IF_ERROR(triage::addVendorUnits(bundle, root));

  // Sessions, then the authentication logs, then the journal: the largest come last.
  WARDEN_RETURN_IF_ERROR(files.collectPath("/run/utmp", 0, true));
  WARDEN_RETURN_IF_ERROR(files.collectPath("/var/run/utmp", 0, false));
  WARDEN_RETURN_IF_ERROR(files.collectMatching("/var/log", {"wtmp", "btmp"}));
  WARDEN_RETURN_IF_ERROR(files.collectPath("/var/log/lastlog", 0, true));
  WARDEN_RETURN_IF_ERROR(files.collectPath("/var/lib/lastlog/lastlog2.db", 0, false));
  WARDEN_RETURN_IF_ERROR(triage::addLastlogRecords(bundle, root));
  WARDEN_RETURN_IF_ERROR(files.collectMatching("/var/log", {"auth.log", "secure"}));
  WARDEN_RETURN_IF_ERROR(files.collectMatching("/var/log/audit", {"audit.log"}));
  const TriageOptions& options = bundle.options();
  if (options.include_journal) {
    std::vector<std::string> args = {"--since=-1d", "--no-pager", "-o", "export"};
    if (triage::cleanPath(options.root) != "/") {
      args.push_back(absl::StrCat("--root=", options.root));
    }
    WARDEN_RETURN_IF_ERROR(triage::addCommand(bundle, "commands/journal.txt", "journalctl", args));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TriageResult> writeTriageBundle(const std::string& out_path,
                                               const TriageOptions& options) {
  TriageRoot root;
  WARDEN_RETURN_IF_ERROR(root.open(options.root));
  const TriageLimits& limits = options.limits;
  if (limits.max_member_bytes == 0 || limits.max_total_bytes == 0 || limits.max_members == 0) {
    return absl::InvalidArgumentError("triage limits must be positive");
  }
  Bundle bundle(options, out_path);
  WARDEN_RETURN_IF_ERROR(bundle.create());
  absl::Status collected = collectAll(bundle, root);
  absl::StatusOr<TriageResult> result =
      collected.ok() ? bundle.finish() : absl::StatusOr<TriageResult>(collected);
  if (!result.ok()) bundle.discard();
  return result;
}

}  // namespace warden
