#include "tests/support/fleet_plumbing.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/support/fleet_state.h"
#include "tests/support/process.h"

namespace warden::testing {
namespace {

constexpr absl::Duration kPlumbingTimeout = absl::Seconds(20);

}  // namespace

absl::Status ip(const std::vector<std::string>& args, const std::string& input) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<RunResult> r = run(argv, kPlumbingTimeout, input);
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    std::string cmd;
    for (const std::string& a : argv) absl::StrAppend(&cmd, cmd.empty() ? "" : " ", a);
    return absl::InternalError(absl::StrCat("`", cmd, "` failed (", r->exit_code,
                                            "): ", absl::StripTrailingAsciiWhitespace(r->err)));
  }
  return absl::OkStatus();
}

bool alive(pid_t pid, unsigned long long start) {
  return pid > 0 && start != 0 && processStartTime(pid) == start;
}

int openVerified(pid_t pid, unsigned long long start) {
  if (pid <= 0 || pid == ::getpid()) return -1;
  const int fd = pidfdOpen(pid, 0);
  if (fd < 0) return -1;
  // Checked after opening: if it matches now, the pidfd refers to that very process.
  const unsigned long long now = processStartTime(pid);
  if (now == 0 || (start != 0 && now != start)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::vector<pid_t> pidsInNetns(const std::string& netns_path) {
  std::vector<pid_t> pids;
  struct stat target {};
  if (::stat(netns_path.c_str(), &target) < 0) return pids;
  for (const std::string& entry : listDir("/proc")) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry, &pid) || pid <= 0) continue;
    struct stat st {};
    if (::stat(absl::StrCat("/proc/", pid, "/ns/net").c_str(), &st) == 0 &&
        st.st_ino == target.st_ino && st.st_dev == target.st_dev) {
      pids.push_back(pid);
    }
  }
  return pids;
}

absl::Status killAll(std::vector<int>& pidfds, const std::string& what) {
  for (int fd : pidfds) pidfdSendSignal(fd, SIGKILL);
  absl::Status status;
  for (int fd : pidfds) {
    if (!pidfdEnded(fd, kDeathTimeout) && status.ok()) {
      status = absl::DeadlineExceededError(absl::StrCat(what, " still alive after SIGKILL"));
    }
    ::close(fd);
  }
  pidfds.clear();
  return status;
}

void keepFirst(absl::Status& into, const absl::Status& s) {
  if (into.ok() && !s.ok()) into = s;
}

}  // namespace warden::testing
