// See mount_namespace.h.
#include "tests/support/mount_namespace.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden::testing {

std::string runInPrivateMountNamespace(const std::function<std::string()>& body,
                                       absl::Duration timeout) {
  int report[2];
  if (::pipe(report) != 0) return absl::StrCat("set-up failed: pipe: ", std::strerror(errno));
  const pid_t child = ::fork();
  if (child < 0) {
    const int err = errno;
    ::close(report[0]);
    ::close(report[1]);
    return absl::StrCat("set-up failed: fork: ", std::strerror(err));
  }
  if (child == 0) {
    ::close(report[0]);
    std::string verdict;
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      verdict = absl::StrCat("set-up failed: ", std::strerror(errno));
    } else {
      verdict = body();
    }
    (void)!::write(report[1], verdict.data(), verdict.size());
    ::_exit(0);
  }
  ::close(report[1]);
  std::string verdict;
  char buf[512];
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    pollfd p{report[0], POLLIN, 0};
    const int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0 || ::poll(&p, 1, left) <= 0) {
      verdict = "timed out: " + verdict;
      ::kill(child, SIGKILL);
      break;
    }
    const ssize_t n = ::read(report[0], buf, sizeof(buf));
    if (n <= 0) break;
    verdict.append(buf, static_cast<std::size_t>(n));
  }
  ::close(report[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return verdict;
}

}  // namespace warden::testing
