// Outputs of procfs files (modules, tainted, mountinfo) and of the host's own tools (nft,
// iptables-save, ip6tables-save, journalctl), run through the agent's child-process runner
// (agent/os/linux/child_process.h): each is killed after TriageOptions::command_timeout, and
// what it wrote until then is kept.
//
// The journal is exported with -o export rather than short-iso-precise: it keeps every field of
// every entry (the trusted _PID, _UID, _AUDIT_SESSION, _AUDIT_LOGINUID, _EXE, _CMDLINE,
// _SYSTEMD_UNIT, _BOOT_ID and the microsecond __REALTIME_TIMESTAMP) that a timeline is built
// from, and `systemd-journal-remote -o FILE -` turns it back into a journal file journalctl
// reads (see systemd-journal-remote(8)). It is several times larger than text; when it reaches
// the limit the oldest entries are the ones kept (the export is in time order).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/os/linux/child_process.h"
#include "agent/os/linux/triage/collectors.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr std::size_t kMaxStderrKept = 2048;

}  // namespace

absl::Status addProcFile(Bundle& bundle, const std::string& name, const std::string& path) {
  if (!bundle.admit(name)) return absl::OkStatus();
  TriageMember m = bundle.outputMember(name, path);
  const std::uint64_t cap = bundle.capNow();
  const char* limit = bundle.capName();
  if (cap == 0) {
    bundle.listUncollected(std::move(m), kTotalLimitError);
    return absl::OkStatus();
  }
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) {
    bundle.listUncollected(std::move(m), std::string(errnoStatus(errno, "open").message()));
    return absl::OkStatus();
  }
  WARDEN_ASSIGN_OR_RETURN(Spool spool, bundle.newSpool(name, cap));
  std::uint64_t produced = 0;
  std::string error;
  std::vector<char>& buf = bundle.buffer();
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error = std::string(errnoStatus(errno, "read").message());
    if (n <= 0) break;
    produced += static_cast<std::uint64_t>(n);
    spool.appendSome(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    if (spool.overflowed() || !spool.status().ok()) break;
  }
  m.error = error;
  return bundle.archiveOutput(std::move(m), spool, spool.overflowed() ? 0 : produced, limit);
}

absl::Status addCommand(Bundle& bundle, const std::string& name, const std::string& tool,
                        const std::vector<std::string>& args) {
  if (!bundle.admit(name)) return absl::OkStatus();
  std::vector<std::string> argv = {tool};
  argv.insert(argv.end(), args.begin(), args.end());
  TriageMember m = bundle.outputMember(name, absl::StrJoin(argv, " "));
  absl::StatusOr<std::string> path = linux_os::findTool(tool);
  if (!path.ok()) {
    bundle.listUncollected(std::move(m), absl::StrCat("not collected: ", path.status().message()));
    return absl::OkStatus();
  }
  argv[0] = *path;
  m.source = absl::StrJoin(argv, " ");
  const std::uint64_t cap = bundle.capNow();
  const char* limit = bundle.capName();
  if (cap == 0) {
    bundle.listUncollected(std::move(m), kTotalLimitError);
    return absl::OkStatus();
  }
  WARDEN_ASSIGN_OR_RETURN(Spool spool, bundle.newSpool(name, cap));
  const absl::Duration timeout = bundle.options().command_timeout;
  linux_os::ChildSpec spec;
  spec.argv = argv;
  spec.timeout = timeout;
  // All of stdout is read and counted, so the size of the whole output is known; what does not
  // fit the spool is dropped.
  spec.overflow = linux_os::ChildSpec::Overflow::kCut;
  spec.max_stdout = cap;
  spec.max_stderr = kMaxStderrKept;
  spec.on_stdout = [&spool](std::string_view piece) {
    spool.appendSome(piece);
    return spool.status().ok();
  };
  absl::StatusOr<linux_os::ChildRun> run = linux_os::runChild(spec);
  WARDEN_RETURN_IF_ERROR(spool.status());
  if (!run.ok()) {
    bundle.listUncollected(std::move(m), std::string(run.status().message()));
    return absl::OkStatus();
  }
  if (run->stdout_cut) spool.noteOverflow();
  const std::string err = std::string(absl::StripAsciiWhitespace(run->err));
  if (run->timed_out) {
    m.error = absl::StrFormat("killed after %s; the output written until then is kept",
                              absl::FormatDuration(timeout));
  } else if (run->exit_code != 0) {
    m.error = absl::StrFormat("exit status %d%s%s", run->exit_code, err.empty() ? "" : ": ",
                              err.substr(0, 512));
  } else if (!err.empty()) {
    // Exit 0 but something to say ("No journal files were found.", iptables-nft's "legacy
    // tables present"): worth as much as the output.
    m.error = absl::StrCat("stderr: ", err.substr(0, 512));
  }
  return bundle.archiveOutput(std::move(m), spool, run->timed_out ? 0 : run->stdout_bytes, limit);
}

}  // namespace warden::triage
