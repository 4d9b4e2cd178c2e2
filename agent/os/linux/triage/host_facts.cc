// commands/host.json: hostname, kernel, boot id, uptime, collection time (UTC), os-release.
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "agent/os/linux/procfs.h"
#include "agent/os/linux/triage/collectors.h"
#include "agent/os/linux/triage/json_fields.h"

namespace warden::triage {

absl::Status addHostFacts(Bundle& bundle, const TriageRoot& root) {
  if (!bundle.admit("commands/host.json")) return absl::OkStatus();
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  utsname uts{};
  ::uname(&uts);
  std::string version, boot_id, uptime;
  readProcFile(AT_FDCWD, "/proc/version", version);
  readProcFile(AT_FDCWD, "/proc/sys/kernel/random/boot_id", boot_id);
  readProcFile(AT_FDCWD, "/proc/uptime", uptime);
  bundle.identify(host, std::string(absl::StripAsciiWhitespace(boot_id)));
  // /proc/uptime has two decimals; so does the table.
  const double up = std::round(std::strtod(uptime.c_str(), nullptr) * 100) / 100;
  Json j;
  putText(j, "hostname", host);
  putText(j, "kernel_release", uts.release);
  putText(j, "machine", uts.machine);
  putText(j, "proc_version", std::string(absl::StripAsciiWhitespace(version)));
  putText(j, "boot_id", std::string(absl::StripAsciiWhitespace(boot_id)));
  j["uptime_seconds"] = up;
  j["boot_time"] = rfc3339(bundle.bootTime());
  j["collected_at"] = rfc3339(bundle.now());
  putText(j, "root", bundle.options().root);
  j["agent_pid"] = ::getpid();
  putText(j, "os_release", root.readSmall("/etc/os-release", 64 << 10));
  const std::string json = dumpJson(j) + "\n";
  TriageMember m =
      bundle.outputMember("commands/host.json", "gethostname, uname, /proc, os-release");
  const char* limit = bundle.capName();
  WARDEN_ASSIGN_OR_RETURN(Spool spool, bundle.newSpool(m.name, bundle.capNow()));
  spool.appendSome(json);
  return bundle.archiveOutput(std::move(m), spool, json.size(), limit);
}

}  // namespace warden::triage
