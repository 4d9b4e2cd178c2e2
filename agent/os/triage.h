// The triage bundle of `warden collect HOST`: the evidence an incident timeline is built from,
// taken from a live host in one pass and written as one file — a POSIX tar archive (ustar
// headers, pax extended headers where ustar cannot say it) compressed with zstd. It holds the
// process and socket tables, sessions, authentication logs and the journal, crontabs and at
// jobs, systemd units, SSH keys and configuration, shell histories, kernel modules, the
// firewall ruleset, mounts and host facts, each file with its original mode, owner and mtime.
// The last member, MANIFEST.json ("warden-triage-manifest/1"), lists every member with its
// source, size and SHA-256, and every source that was found but not collected, with the
// reason. Limits are never silent: whatever is cut short or left out is named in the manifest
// and in TriageResult::limits_hit. The Linux implementation is agent/os/linux/triage/ (its
// collection.cc lists the members in order; each file there describes what it reads, and how).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden {

inline constexpr char kTriageManifestSchema[] = "warden-triage-manifest/1";

// Bounds on what one bundle may hold; a hostile host must not be able to fill the agent's disk
// or memory, or make the collection run forever.
struct TriageLimits {
  // Content of one member (a file, a command's output, a generated table). Also the number of
  // bytes of one executable that are hashed for the process table.
  std::uint64_t max_member_bytes = 64ull << 20;
  // Content of all members together, before compression (the manifest is not counted). Also
  // the number of executable bytes hashed for the process table, all executables together.
  std::uint64_t max_total_bytes = 1ull << 30;
  // Entries listed in the manifest, collected or not (files, directories, links, outputs).
  std::size_t max_members = 20000;
};

struct TriageOptions {
  // Where host files are read from; every path, home directories from ROOT/etc/passwd
  // included, is resolved inside it as if it were "/" (symlinks cannot leave it). /proc, the
  // firewall and the network tables are always the live kernel's, seen from the agent's
  // namespaces. Tests point this at a scratch tree.
  std::string root = "/";
  TriageLimits limits;
  // Run journalctl for the last day (with --root=ROOT when root is not "/").
  bool include_journal = true;
  // Each external tool (journalctl, nft, iptables-save, ip6tables-save) is killed after this;
  // the output it wrote until then is kept and the timeout noted.
  absl::Duration command_timeout = absl::Seconds(60);
};

// One manifest entry.
struct TriageMember {
  // Path inside the archive: "files/etc/crontab" (the physical path of what was read, under
  // root), "commands/processes.json" (outputs). Directories end with "/".
  std::string name;
  // "file", "directory", "symlink", "hardlink", "output" (a command's or a procfs file's output,
  // or a generated table), "special" (FIFO, device, socket: listed, never read), "absent"
  // (looked for, not there) or "unknown" (could not be stat'ed; for these last two, mode, uid,
  // gid, mtime and ctime mean nothing and the manifest has null).
  std::string type;
  // What it was taken from: the path that was asked for (inside root; it differs from `name`
  // when a directory on the way is a symlink), or the command line.
  std::string source;
  bool archived = false;          // the archive has an entry of this name
  std::uint64_t size = 0;         // content bytes in the archive
  std::uint64_t source_size = 0;  // the source's size when known (st_size, all of the output)
  std::string sha256;             // lower-case hex, of the content in the archive; "" if none
  bool truncated = false;         // a limit was hit: the content is not all there was
  // Why the source was not (fully) collected, or what its tool said on stderr; "" if nothing.
  std::string error;
  std::string link_target;  // symlink: its target; hardlink: the earlier member it names
  std::uint32_t mode = 0;   // permission bits (07777)
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  absl::Time mtime = absl::UnixEpoch();
  absl::Time ctime = absl::UnixEpoch();  // the inode change time (outputs: collection time)
};

// How `warden collect` runs the collector (DESIGN "The hostile host"): a separate, exec'd
// child that confines itself before it reads anything (agent/os/linux/triage/
// collector_sandbox.h) and streams what it collects to the agent, which writes the bundle.
struct CollectorSandbox {
  // The collector's program: the agent's own binary (a fresh image: none of the agent's memory,
  // its keys included, comes along) with its hidden subcommand.
  std::vector<std::string> argv = {"/proc/self/exe", "triage-collector"};
  // Its own user and group: an id no account should use (warden-agent --triage-uid).
  std::uint32_t uid = 65533;
  std::uint32_t gid = 65533;
  // Paths it must never be able to read: the agent's state directory (keys, database, bundles).
  std::vector<std::string> withheld;
  // The whole collection, the agent's own steps included; then the collector is killed.
  absl::Duration timeout = absl::Minutes(30);
  // Tests only (WARDEN_FAULT_INJECT=triage:FAULT): "forbidden-syscall" makes the collector
  // call socket(2) once it has applied Landlock; "stall" makes it wait for ever there.
  std::string fault;
};

struct TriageResult {
  // In collection order, which is archive order for those archived; MANIFEST.json not included.
  std::vector<TriageMember> members;
  std::uint64_t content_bytes = 0;  // all members' content, uncompressed
  std::uint64_t bundle_bytes = 0;   // size of the .tar.zst file
  // Human-readable, one line per limit hit, e.g. "files/var/log/auth.log truncated at
  // 67108864 of 90000000 bytes (max_member_bytes)".
  std::vector<std::string> limits_hit;
  std::string manifest_json;  // the MANIFEST.json member's content
  // How the sandboxed collector ended ("exited 0", "killed by signal 31 (SIGSYS: a system call
  // outside its allowlist)", "stopped by the agent: ..."); "" for an in-process collection.
  std::string collector;
  // Why the collection is incomplete because of the collector; "" when it completed.
  std::string collector_error;
};

// Collects the bundle and writes it to `out_path`, which must not exist yet: it is created
// with mode 0600 (O_EXCL) and fsynced when complete. A source that is missing or unreadable
// is listed in the manifest with an error and never fails the bundle. Failing to write the
// output is an error naming the path (ENOSPC: ResourceExhausted), and nothing is left at
// `out_path`. A `root` that cannot be opened is InvalidArgument.
absl::StatusOr<TriageResult> writeTriageBundle(const std::string& out_path,
                                               const TriageOptions& options);

// The same bundle, collected by the sandboxed collector: the agent writes the file and takes
// its own steps (nft, iptables-save, journalctl), the collector sends the rest. A collector
// that dies, is killed or breaks the protocol leaves a complete, valid bundle with what came
// before, the agent's own members, and `collector_error` (also in the manifest's "collector"
// and as the error of the member commands/collector.json).
absl::StatusOr<TriageResult> writeTriageBundleSandboxed(const std::string& out_path,
                                                        const TriageOptions& options,
                                                        const CollectorSandbox& sandbox);

// The collector's side (`warden-agent triage-collector`, exec'd by the agent): reads its orders
// on `in_fd`, confines itself, collects and streams to `out_fd`. The process's exit status.
int runTriageCollector(int in_fd, int out_fd);

}  // namespace warden
