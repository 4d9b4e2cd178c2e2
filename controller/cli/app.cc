#include "controller/cli/app.h"

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "controller/cli/actions.h"
#include "controller/cli/alerts.h"
#include "controller/cli/approvals.h"
#include "controller/cli/audit.h"
#include "controller/cli/audit_verify.h"
#include "controller/cli/client.h"
#include "controller/cli/containment.h"
#include "controller/cli/evidence.h"
#include "controller/cli/exit_codes.h"
#include "controller/cli/host_actions.h"
#include "controller/cli/hosts.h"
#include "controller/cli/incidents.h"
#include "controller/cli/operators.h"
#include "controller/cli/profile_renewal.h"
#include "controller/cli/tokens.h"

namespace warden::cli {

// CLI11 is included here and nowhere else: every file that includes it builds its own static
// validators, which the CLI would pay for at each start.
int runCli(int argc, char** argv) {
  CLI::App app{
      "warden: contain compromised hosts and prove what was done.\n"
      "Talks to the Warden controller named in the operator profile (--profile or "
      "$WARDEN_PROFILE).\n\nExit status: 0 done and verified; 1 failed on the host; 2 bad input; "
      "3 not authorised; 4 timed out or queued."};
  app.require_subcommand(1);
  Globals g;
  app.add_option("--profile", g.profile_path, "Operator profile (default: $WARDEN_PROFILE)");

  // token create
  auto* token = app.add_subcommand("token", "Join tokens for enrolling agents");
  token->require_subcommand(1);
  std::string ttl = "1h", token_host;
  auto* token_create =
      token->add_subcommand("create", "Print a one-time, expiring join token (alone on stdout)");
  token_create->add_option("--ttl", ttl, "How long the token is valid (e.g. 15m, 24h)")
      ->capture_default_str();
  token_create->add_option("--host-id", token_host, "Only this host id may enroll with it");
  token_create->add_flag("--json", g.json, "JSON output");

  auto* hosts_cmd = app.add_subcommand(
      "hosts",
      "List enrolled hosts, connection and containment; warns (stderr, and 'warnings' in --json) "
      "of a host certificate expiring within 30 days and of the CA or the controller's "
      "certificate expiring within 60");
  hosts_cmd->add_flag("--json", g.json, "JSON output");

  std::string label_host;
  std::vector<std::string> label_changes;
  auto* label_cmd = app.add_subcommand(
      "label",
      "Set (KEY=VALUE) or remove (KEY-) operator labels on a host. Automation names a host by "
      "its id or its warden.alias label, and never acts on warden.protected=true");
  label_cmd->add_option("HOST", label_host, "Host id")->required();
  label_cmd->add_option("CHANGES", label_changes, "KEY=VALUE or KEY-")->required();
  label_cmd->add_flag("--json", g.json, "JSON output");

  SubmitArgs sa;
  auto* isolate = app.add_subcommand(
      "isolate",
      "Cut HOST off the network (IPv4 and IPv6, in, out and forwarded) except its channel to "
      "the controller and the --allow entries. Open connections die too. Returns when the "
      "host's signed receipt is back.");
  isolate->add_option("HOST", sa.hosts, "Host ids")->required();
  isolate->add_option("--for", sa.for_duration,
                      "End the isolation by itself after DURATION (e.g. 30m, 4h; 1s to 30d): the "
                      "agent keeps the deadline, with or without a controller, and reports the "
                      "release when it next connects");
  isolate->add_option("--allow", sa.allow,
                      "Keep a responder reachable: CIDR, CIDR:PORT or [IPv6-CIDR]:PORT");
  // Every host-changing command: why, and the incident it belongs to.
  auto tagged = [&g](CLI::App* cmd) {
    cmd->add_option("--reason", g.reason,
                    "Why (recorded with your signed request on the controller; never sent to the "
                    "host)");
    cmd->add_option("--incident", g.incident,
                    "The open incident this is part of, by codename or id (only its id reaches "
                    "the host)")
        ->envname("WARDEN_INCIDENT");
  };
  auto common = [&](CLI::App* cmd) {
    tagged(cmd);
    cmd->add_flag("--no-wait", sa.no_wait, "Return at once with the action ids (exit 4)");
    cmd->add_option("--timeout", sa.timeout, "How long to wait for the receipts")
        ->capture_default_str();
    cmd->add_flag("--json", g.json, "JSON output");
  };
  common(isolate);

  auto* release = app.add_subcommand(
      "release",
      "Lift isolation: removes exactly Warden's isolation rules, nothing else on the host. "
      "Address blocks stay.");
  release->add_option("HOST", sa.hosts, "Host ids")->required();
  common(release);

  auto* block = app.add_subcommand(
      "block",
      "Drop all traffic to and from addresses (IPv4/IPv6, CIDR allowed) on the named hosts, or "
      "with --all on every host, including hosts that enroll later. Independent of isolation.");
  block->add_option("ADDR", sa.addresses, "Addresses or CIDRs")->required();
  block->add_option("--host", sa.hosts, "Host to block on (repeatable)");
  block->add_flag("--all", sa.all_hosts, "Every host in the fleet, now and later");
  common(block);
  auto* unblock = app.add_subcommand("unblock", "Lift address blocks (--host HOST... or --all)");
  unblock->add_option("ADDR", sa.addresses, "Addresses or CIDRs")->required();
  unblock->add_option("--host", sa.hosts, "Host to unblock on (repeatable)");
  unblock->add_flag("--all", sa.all_hosts, "Every host, and drop the fleet-wide block");
  common(unblock);

  auto* blocks_cmd = app.add_subcommand("blocks", "List fleet-wide blocks");
  blocks_cmd->add_flag("--json", g.json, "JSON output");

  std::string op_name, op_role, op_out;
  auto* op_cmd = app.add_subcommand("operator", "Operators and their roles");
  op_cmd->require_subcommand(1);
  auto* op_add = op_cmd->add_subcommand(
      "add",
      "Add an operator and write their profile. Roles: admin (everything), responder (all "
      "containment actions), auditor (read hosts, actions and the log; nothing else).");
  op_add->add_option("NAME", op_name, "Operator name")->required();
  op_add->add_option("--role", op_role, "admin, responder or auditor")
      ->required()
      ->check(CLI::IsMember({"admin", "responder", "auditor"}));
  op_add->add_option("--out", op_out, "Profile file to write (mode 0600)")->required();
  std::string op_reason;
  auto* op_revoke = op_cmd->add_subcommand(
      "revoke",
      "Revoke an operator at once (a lost laptop, a leaver): every later call with their "
      "profile is refused. Logged in the action log.");
  op_revoke->add_option("NAME", op_name, "Operator name")->required();
  op_revoke->add_option("--reason", op_reason, "Why (recorded in the log)");
  op_revoke->add_flag("--json", g.json, "JSON output");
  auto* op_renew = op_cmd->add_subcommand(
      "renew",
      "Renew this profile's own certificate now: a new TLS key, certified over the channel and "
      "logged; the profile file is rewritten in place with its mode. Every other command does "
      "this by itself (with a note on stderr) once a third of the certificate's lifetime, or 30 "
      "days, is left.");
  op_renew->add_flag("--json", g.json, "JSON output");

  std::string one_host;
  auto* sessions = app.add_subcommand("sessions", "List the host's login sessions");
  sessions->add_option("HOST", one_host, "Host id")->required();
  sessions->add_flag("--json", g.json, "JSON output");

  // Selectors accumulate as "key=value" in the order given.
  std::vector<std::string> sel;
  auto selector = [&sel](CLI::App* cmd, const char* flag, const char* key, const char* help) {
    cmd->add_option_function<std::vector<std::string>>(
           flag,
           [&sel, key](const std::vector<std::string>& values) {
             for (const auto& v : values) sel.push_back(std::string(key) + "=" + v);
           },
           help)
        ->take_all();
  };
  bool dry_run = false;
  auto* kill = app.add_subcommand(
      "kill-sessions",
      "Freeze, record (with exe hashes) and kill the selected login sessions' processes, fork "
      "loops included. A process is selected when it matches any selector; --user also "
      "catches processes that kept the user's login uid after sudo/su.");
  kill->add_option("HOST", one_host, "Host id")->required();
  selector(kill, "--user", "user", "Login user");
  selector(kill, "--session", "session", "Session id (from 'warden sessions')");
  selector(kill, "--tty", "tty", "Terminal, e.g. pts/3");
  selector(kill, "--from", "from", "Remote address or CIDR of the login");
  selector(kill, "--pid", "pid", "A process and its session");
  selector(kill, "--except", "except", "Never kill this user's processes");
  kill->add_flag("--dry-run", dry_run, "Show what would be killed; change nothing");
  kill->add_flag("--json", g.json, "JSON output");
  tagged(kill);

  bool all_accounts = false, rotate_root = false;
  auto* lock = app.add_subcommand(
      "lock-accounts",
      "Lock accounts ('!' before the hash and account expiry; old values kept for an exact "
      "unlock). --all: every login account and root, except --except.");
  lock->add_option("HOST", one_host, "Host id")->required();
  selector(lock, "--user", "user", "Account to lock");
  lock->add_flag("--all", all_accounts,
                 "Every login account (real shell, login.defs UID range) and root");
  selector(lock, "--except", "except", "With --all: leave this account alone");
  lock->add_flag("--rotate-root", rotate_root,
                 "Also set a new random root password, shown once here and stored nowhere");
  lock->add_flag("--json", g.json, "JSON output");
  tagged(lock);

  auto* unlock =
      app.add_subcommand("unlock-accounts", "Restore the exact account lines from before the lock");
  unlock->add_option("HOST", one_host, "Host id")->required();
  selector(unlock, "--user", "user", "Account to unlock");
  unlock->add_flag("--all", all_accounts, "Every account Warden locked");
  unlock->add_flag("--json", g.json, "JSON output");
  tagged(unlock);

  auto* revoke_keys = app.add_subcommand(
      "revoke-keys",
      "Remove SSH keys from every file sshd reads (AuthorizedKeysFile: authorized_keys and "
      "authorized_keys2 by default) and add them to Warden's RevokedKeys file; each entry and "
      "the file's times are recorded, the original bytes kept for restore-keys. A key file that "
      "does not parse, or is a link, refuses the action and nothing changes.");
  revoke_keys->add_option("HOST", one_host, "Host id")->required();
  selector(revoke_keys, "--user", "user", "Every key of this account");
  selector(revoke_keys, "--fingerprint", "fingerprint",
           "This key (SHA256:... as ssh-keygen -l prints it) in every account");
  revoke_keys->add_flag("--dry-run", dry_run, "Show the keys that would go; change nothing");
  revoke_keys->add_flag("--json", g.json, "JSON output");
  tagged(revoke_keys);

  auto* restore_keys = app.add_subcommand(
      "restore-keys",
      "Undo revoke-keys: each key file back byte for byte (or, when changed since, the removed "
      "lines put back), and Warden's keys out of the RevokedKeys file");
  restore_keys->add_option("HOST", one_host, "Host id")->required();
  restore_keys->add_flag("--json", g.json, "JSON output");
  tagged(restore_keys);

  bool reboot = false, halt = false, now = false, yes = false;
  auto* shutdown = app.add_subcommand(
      "shutdown",
      "Power the host off (or --reboot/--halt) after its receipt is logged. Disks are never "
      "touched. --now: sync and reboot(2) at once; otherwise the init system's orderly path.");
  shutdown->add_option("HOST", one_host, "Host id")->required();
  auto* reboot_flag = shutdown->add_flag("--reboot", reboot, "Reboot instead of powering off");
  shutdown->add_flag("--halt", halt, "Halt instead of powering off")->excludes(reboot_flag);
  shutdown->add_flag("--now", now, "Skip the orderly shutdown: sync, then reboot(2)");
  shutdown->add_flag("--yes", yes, "Required: confirms the shutdown");
  shutdown->add_flag("--json", g.json, "JSON output");
  tagged(shutdown);

  ImageArgs ia;
  auto* image = app.add_subcommand(
      "image",
      "Take a forensic image of DEVICE on HOST (a disk, partition, LVM volume or file): read "
      "read-only without filling the page cache, hashed (SHA-256) on the host and again on the "
      "controller, stored read-only in the evidence store with a manifest the agent signs. "
      "Interrupted transfers resume where the controller stands. Prints the evidence id; a "
      "progress bar on a terminal.");
  image->add_option("HOST", one_host, "Host id")->required();
  image->add_option("DEVICE", ia.devices,
                    "Absolute path(s) on the host, e.g. /dev/sda, /dev/vg0/root, /dev/loop3");
  image->add_flag("--all-disks", ia.all_disks,
                  "Every whole disk in /sys/block (loop, ram and zram devices only when named)");
  image->add_option("--compress", ia.compress,
                    "zstd: store compressed (one frame per chunk; 'zstd -d' restores the image)");
  image->add_option("--rate", ia.rate_mb, "Limit the transfer to this many MB/s");
  image->add_option("--timeout", ia.timeout, "How long to wait for the receipt")
      ->capture_default_str();
  image->add_flag("--json", g.json, "JSON output");
  tagged(image);

  CollectArgs ca;
  auto* collect = app.add_subcommand(
      "collect",
      "Collect a triage bundle from HOST for the timeline (tar+zstd): processes with executable "
      "hashes, sockets, sessions (utmp/wtmp/lastlog), auth logs and the last day of the "
      "journal, crontabs, systemd units, authorized_keys, shell histories, kernel modules, the "
      "firewall ruleset and mounts; every member hashed in MANIFEST.json; size limits reported, "
      "never silent. Stored in the evidence store like an image.");
  collect->add_option("HOST", one_host, "Host id")->required();
  collect->add_option("--max-member-mb", ca.max_member_mb, "Largest member kept whole (64)");
  collect->add_option("--max-total-mb", ca.max_total_mb, "Content limit of the bundle (1024)");
  collect->add_option("--rate", ca.rate_mb, "Limit the transfer to this many MB/s");
  collect->add_option("--timeout", ca.timeout, "How long to wait for the receipt")
      ->capture_default_str();
  collect->add_flag("--json", g.json, "JSON output");
  tagged(collect);

  std::string evidence_id, evidence_out, evidence_host;
  auto* evidence = app.add_subcommand("evidence", "The controller's evidence store");
  evidence->require_subcommand(1);
  auto* ev_list = evidence->add_subcommand("list", "Images and bundles, complete or not");
  ev_list->add_option("--host", evidence_host, "Only this host");
  ev_list->add_flag("--json", g.json, "JSON output");
  auto* ev_show = evidence->add_subcommand(
      "show", "One item: its custody record and the manifest the agent signed");
  ev_show->add_option("ID", evidence_id, "Evidence id")->required();
  ev_show->add_flag("--json", g.json, "JSON output");
  auto* ev_get = evidence->add_subcommand(
      "get", "Copy an item's content (decompressed) to FILE, checking size and SHA-256");
  ev_get->add_option("ID", evidence_id, "Evidence id")->required();
  ev_get->add_option("--out", evidence_out, "File to create (must not exist)")->required();
  ev_get->add_flag("--json", g.json, "JSON output");
  auto* ev_verify = evidence->add_subcommand(
      "verify",
      "Re-read the stored content and check it against the custody record, the agent's signed "
      "manifest and the agent's signed receipt in the action log. Exit 0 verified, 1 not");
  ev_verify->add_option("ID", evidence_id, "Evidence id")->required();
  ev_verify->add_flag("--json", g.json, "JSON output");

  std::string actions_host;
  std::uint32_t actions_limit = 0;
  auto* actions = app.add_subcommand(
      "actions",
      "List actions and where each one is, oldest first (every action: the list is fetched a "
      "page at a time)");
  actions->add_option("--host", actions_host, "Only this host");
  actions->add_option("--limit", actions_limit, "Only the newest N actions (0: all)")
      ->capture_default_str();
  actions->add_flag("--json", g.json, "JSON output (every field, receipt details included)");

  std::string action_id;
  auto* action = app.add_subcommand("action", "Show one action with its receipt details");
  action->add_option("ID", action_id, "Action id")->required();
  action->add_flag("--json", g.json, "JSON output");

  auto* audit = app.add_subcommand(
      "audit",
      "The signed action log: every request, command, receipt, refusal and key, in an RFC 6962 "
      "Merkle tree with signed checkpoints. show/export/prove/checkpoint ask the controller "
      "(any role); verify works offline on an exported file.");
  audit->require_subcommand(1);
  std::string audit_host, audit_out, audit_file, audit_vkey;
  std::uint64_t audit_last = 50, audit_index = 0;
  std::vector<std::string> audit_checkpoints, audit_evidence;
  auto* audit_show = audit->add_subcommand("show", "Timeline: who did what, where, and the result");
  audit_show->add_option("--host", audit_host, "Only entries about this host");
  audit_show->add_option("--last", audit_last, "Show the last N entries (0: all)")
      ->capture_default_str();
  audit_show->add_flag("--json", g.json, "JSON output");
  auto* audit_export = audit->add_subcommand(
      "export", "Write the whole log, its checkpoints and keys to one self-contained file");
  audit_export->add_option("--out", audit_out, "File to write (must not exist)")->required();
  audit_export->add_flag("--json", g.json, "JSON output");
  auto* audit_verify = audit->add_subcommand(
      "verify",
      "Check an exported log offline: every signature, the tree against each checkpoint, the "
      "request -> dispatch -> receipt chains and times. Exit 0 verified, 1 the first bad entry "
      "is printed, 2 unreadable input.");
  audit_verify->add_option("FILE", audit_file, "Export file")->required();
  audit_verify->add_option("--vkey", audit_vkey,
                           "The log's verifier key file (log.vkey) to pin; without it the key "
                           "in the file is trusted");
  audit_verify
      ->add_option("--checkpoint", audit_checkpoints,
                   "A checkpoint saved earlier ('warden audit checkpoint > FILE'): the log must "
                   "extend it (repeatable)")
      ->take_all();
  audit_verify
      ->add_option("--evidence", audit_evidence,
                   "An evidence item copied from the store (ID.img, ID.img.zst, ID.tar.zst or "
                   "ID.manifest, the item's other file beside it): its content must hash to its "
                   "manifest, the manifest carry the agent's signature, and the log the agent's "
                   "receipt naming both (repeatable; needs --vkey)")
      ->take_all();
  audit_verify->add_flag("--json", g.json, "JSON output");
  auto* audit_prove = audit->add_subcommand(
      "prove", "Inclusion proof of one entry against the latest signed checkpoint");
  audit_prove->add_option("INDEX", audit_index, "Entry index (0-based)")->required();
  audit_prove->add_flag("--json", g.json, "JSON output");
  auto* audit_checkpoint =
      audit->add_subcommand("checkpoint", "Print the latest signed checkpoint (a signed note)");
  audit_checkpoint->add_flag("--json", g.json, "JSON output");

  // Automation: alert sources, what arrived and was decided, and the rules.
  auto* alerts_cmd = app.add_subcommand(
      "alerts",
      "Alerts received at the HTTPS intake (Alertmanager, Falco, JSON webhooks), newest first, "
      "each with its decision (acted, dry-run, pending-approval, no-action) and reason code");
  unsigned alerts_limit = 100;
  alerts_cmd->add_option("--limit", alerts_limit, "How many (at most 1000)")->capture_default_str();
  alerts_cmd->add_flag("--json", g.json, "JSON output");
  auto* alerts_source = alerts_cmd->add_subcommand("source", "Named senders of alerts");
  std::string source_name, source_cert_out;
  auto* source_add = alerts_source->add_subcommand(
      "add",
      "Add an alert source and print its bearer token alone on stdout (shown once; the "
      "controller keeps only its hash)");
  source_add->add_option("NAME", source_name, "The source's name, as rules' senders: name it")
      ->required();
  source_add->add_option("--cert-out", source_cert_out,
                         "Also issue a client certificate: writes PREFIX.key and PREFIX.pem");
  source_add->add_flag("--json", g.json, "JSON output");
  auto* rules_cmd = app.add_subcommand("rules", "Alert rules and their guardrails (YAML)");
  rules_cmd->require_subcommand(1);
  std::string rules_file, rules_alert, rules_format, rules_source, rules_reason;
  auto* rules_check = rules_cmd->add_subcommand(
      "check", "Check a rules file offline; errors name their line. Exit 0 good, 2 not");
  rules_check->add_option("FILE", rules_file, "Rules file")->required();
  rules_check->add_flag("--json", g.json, "JSON output");
  auto* rules_test = rules_cmd->add_subcommand(
      "test",
      "Offline: which rule an alert payload matches, which host it names, and the decision "
      "and why (no controller, no history)");
  rules_test->add_option("FILE", rules_file, "Rules file")->required();
  rules_test->add_option("--alert", rules_alert, "A payload as a sender posts it")->required();
  rules_test->add_option("--format", rules_format,
                         "alertmanager | falco | json (default: from the payload's shape)");
  rules_test->add_option("--source", rules_source, "The sending source's name (default: any)");
  rules_test->add_flag("--json", g.json, "JSON output");
  auto* rules_apply = rules_cmd->add_subcommand(
      "apply",
      "Apply a rules file (admin): checked, signed as your request and logged whole; the "
      "version is the request id");
  rules_apply->add_option("FILE", rules_file, "Rules file")->required();
  rules_apply->add_option("--reason", rules_reason, "Why (recorded with the request)");
  rules_apply->add_flag("--json", g.json, "JSON output");
  auto* rules_show = rules_cmd->add_subcommand("show", "The rules version in force, as applied");
  rules_show->add_flag("--json", g.json, "JSON output");

  auto* approvals_cmd = app.add_subcommand(
      "approvals", "Automated decisions waiting for an operator (pending-approval), oldest first");
  approvals_cmd->add_flag("--json", g.json, "JSON output");
  std::string approval_id, approval_reason, approval_timeout = "30s";
  bool approval_no_wait = false;
  auto approval = [&](const char* name, const char* help) {
    auto* cmd = app.add_subcommand(name, help);
    cmd->add_option("ID", approval_id, "The decision id (warden approvals)")->required();
    cmd->add_option("--reason", approval_reason, "Why (recorded with your signed request)");
    cmd->add_flag("--json", g.json, "JSON output");
    return cmd;
  };
  auto* approve_cmd = approval(
      "approve",
      "Approve a pending decision: its action is dispatched as the automation's request naming "
      "your signed approval; waits for the host's receipt like 'isolate'");
  approve_cmd->add_flag("--no-wait", approval_no_wait,
                        "Return at once with the action id (exit 4)");
  approve_cmd->add_option("--timeout", approval_timeout, "How long to wait for the receipt")
      ->capture_default_str();
  auto* reject_cmd = approval("reject", "Reject a pending decision: nothing is done for it");
  auto* breaker = app.add_subcommand(
      "breaker",
      "The automation breaker: 'open' turns every automated action into a pending approval "
      "until 'close'; 'status' shows it");
  std::string breaker_verb, breaker_reason;
  breaker->add_option("VERB", breaker_verb, "open | close | status")
      ->required()
      ->check(CLI::IsMember({"open", "close", "status"}));
  breaker->add_option("--reason", breaker_reason, "Why (recorded with your signed request)");
  breaker->add_flag("--json", g.json, "JSON output");

  // Incidents and their timeline.
  auto* incident = app.add_subcommand(
      "incident",
      "Incidents: an innocuous codename, a severity and a summary; every host-changing command "
      "may name one (--incident or $WARDEN_INCIDENT). Only the incident's id reaches a host.");
  incident->require_subcommand(1);
  IncidentOpenArgs io;
  std::string incident_name, incident_text, incident_out;
  auto* inc_open = incident->add_subcommand(
      "open", "Open an incident and print its codename alone on stdout (generated when not given)");
  inc_open->add_option("--codename", io.codename, "e.g. sapphire-unicorn (lower-case words and -)");
  inc_open->add_option("--sev", io.severity, "Severity, 1 (most severe) to 5")
      ->capture_default_str();
  inc_open->add_option("--summary", io.summary, "What is known so far");
  inc_open->add_flag("--json", g.json, "JSON output");
  auto* inc_list = incident->add_subcommand("list", "Incidents, newest first");
  inc_list->add_flag("--json", g.json, "JSON output");
  auto* inc_show = incident->add_subcommand("show", "One incident with the scribe's notes");
  inc_show->add_option("NAME", incident_name, "Codename or id")->required();
  inc_show->add_flag("--json", g.json, "JSON output");
  auto* inc_close = incident->add_subcommand(
      "close", "Close an incident: no further command may name it (notes still may)");
  inc_close->add_option("NAME", incident_name, "Codename or id")->required();
  inc_close->add_flag("--json", g.json, "JSON output");
  auto* inc_note = incident->add_subcommand("note", "Add the scribe's note: a signed log entry");
  inc_note->add_option("NAME", incident_name, "Codename or id")->required();
  inc_note->add_option("TEXT", incident_text, "The note")->required();
  inc_note->add_flag("--json", g.json, "JSON output");
  auto* inc_report = incident->add_subcommand(
      "report",
      "Write the post-mortem draft (Markdown): summary, responders, hosts, time to contain, the "
      "timeline with a proof per row, evidence with hashes, open items and the covering "
      "checkpoint");
  inc_report->add_option("NAME", incident_name, "Codename or id")->required();
  inc_report->add_option("--out", incident_out, "File to create (default: stdout)");

  auto* timeline = app.add_subcommand("timeline", "The attack and response timeline");
  timeline->require_subcommand(1);
  TimelineArgs ta;
  auto* tl_export = timeline->add_subcommand(
      "export",
      "Write the timeline of an incident, a host or the whole log from the signed log (checked "
      "against its checkpoint): Timesketch JSONL (message, datetime, timestamp_desc, ...), CSV "
      "with the same columns, a Markdown table, or OCSF 1.1 events for a SIEM. Every row names "
      "its log entry (log_index, leaf_hash)");
  tl_export->add_option("--incident", ta.incident, "Only this incident (codename or id)");
  tl_export->add_option("--host", ta.host, "Only this host");
  tl_export->add_option("--format", ta.format, "jsonl | csv | markdown | ocsf")
      ->capture_default_str();
  tl_export->add_option("--out", ta.out, "File to create, or - for stdout")->required();
  tl_export->add_flag("--json", g.json, "JSON summary on stdout");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitBadInput;
  }
  if (*token_create) return tokenCreate(g, ttl, token_host);
  if (*audit_show) return auditShow(g, audit_host, audit_last);
  if (*audit_export) return auditExport(g, audit_out);
  if (*audit_verify) {
    return auditVerify(g, audit_file, audit_vkey, audit_checkpoints, audit_evidence);
  }
  if (*audit_prove) return auditProve(g, audit_index);
  if (*audit_checkpoint) return auditCheckpoint(g);
  if (*hosts_cmd) return listHosts(g);
  if (*label_cmd) return labelHost(g, label_host, label_changes);
  if (*isolate) return submit(g, "isolate", sa);
  if (*release) return submit(g, "release", sa);
  if (*block) return submit(g, "block", sa);
  if (*unblock) return submit(g, "unblock", sa);
  if (*blocks_cmd) return listBlocks(g);
  if (*op_add) return operatorAdd(g, op_name, op_role, op_out);
  if (*op_revoke) return operatorRevoke(g, op_name, op_reason);
  if (*op_renew) return operatorRenew(g);
  if (*sessions) return sessionsCmd(g, one_host);
  if (*image) return imageCmd(g, one_host, ia);
  if (*collect) return collectCmd(g, one_host, ca);
  if (*ev_list) return evidenceList(g, evidence_host);
  if (*ev_show) return evidenceShow(g, evidence_id);
  if (*ev_get) return evidenceGet(g, evidence_id, evidence_out);
  if (*ev_verify) return evidenceVerify(g, evidence_id);
  if (*kill) return killSessionsCmd(g, one_host, sel, dry_run);
  if (*lock) return lockAccountsCmd(g, one_host, sel, all_accounts, rotate_root);
  if (*unlock) return unlockAccountsCmd(g, one_host, sel, all_accounts);
  if (*revoke_keys) return revokeKeysCmd(g, one_host, sel, dry_run);
  if (*restore_keys) return restoreKeysCmd(g, one_host);
  if (*shutdown) return shutdownCmd(g, one_host, reboot, halt, now, yes);
  if (*actions) return listActions(g, actions_host, actions_limit);
  if (*action) return showAction(g, action_id);
  if (*source_add) return alertsSourceAdd(g, source_name, source_cert_out);
  if (*alerts_cmd) return alertsList(g, alerts_limit);
  if (*rules_check) return rulesCheck(g, rules_file);
  if (*rules_test) return rulesTest(g, rules_file, rules_alert, rules_format, rules_source);
  if (*rules_apply) return rulesApply(g, rules_file, rules_reason);
  if (*rules_show) return rulesShow(g);
  if (*approvals_cmd) return approvalsList(g);
  if (*approve_cmd) {
    return approvalSettle(g, approval_id, true, approval_reason, approval_timeout,
                          approval_no_wait);
  }
  if (*reject_cmd) return approvalSettle(g, approval_id, false, approval_reason, "30s", true);
  if (*breaker) return breakerCmd(g, breaker_verb, breaker_reason);
  if (*inc_open) return incidentOpen(g, io);
  if (*inc_list) return incidentList(g);
  if (*inc_show) return incidentShow(g, incident_name);
  if (*inc_close) return incidentClose(g, incident_name);
  if (*inc_note) return incidentNote(g, incident_name, incident_text);
  if (*inc_report) return incidentReport(g, incident_name, incident_out);
  if (*tl_export) return timelineExport(g, ta);
  return kExitBadInput;
}

}  // namespace warden::cli
