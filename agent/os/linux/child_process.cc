#include "agent/os/linux/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden::linux_os {
namespace {

constexpr const char* kToolDirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
constexpr const char* kEnvironment[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C",
                                        "SYSTEMD_PAGER="};

// One of the child's output streams, as the parent reads it.
struct Capture {
  UniqueFd fd;
  std::size_t max = 0;
  std::string* keep = nullptr;  // where captured bytes go, unless `sink`
  const std::function<bool(std::string_view)>* sink = nullptr;
  std::size_t kept = 0;
  std::uint64_t total = 0;
  bool cut = false;
};

// Spawns `argv` with `in` (or /dev/null), `out` and `err` as descriptors 0-2 and nothing else
// open, the fixed environment, default signal handling, in a process group of its own.
absl::StatusOr<pid_t> spawn(const std::vector<std::string>& argv, int in, int out, int err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in >= 0) {
    posix_spawn_file_actions_adddup2(&actions, in, 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  posix_spawn_file_actions_adddup2(&actions, out, 1);
  posix_spawn_file_actions_adddup2(&actions, err, 2);
  // close_range(2) in the child: whatever the agent's other threads hold stays with the agent.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (const char* e : kEnvironment) envp.push_back(const_cast<char*>(e));
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errnoStatus(rc, absl::StrCat("Failed to run ", argv[0]));
  return pid;
}

}  // namespace

std::vector<std::string> childEnvironment() {
  return std::vector<std::string>(std::begin(kEnvironment), std::end(kEnvironment));
}

absl::StatusOr<pid_t> spawnChild(const std::vector<std::string>& argv, int in, int out, int err) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to run");
  return spawn(argv, in, out, err);
}

absl::StatusOr<std::string> findTool(const std::string& name) {
  for (const char* dir : kToolDirs) {
    std::string path = absl::StrCat(dir, "/", name);
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return absl::NotFoundError(absl::StrCat(name, " not found in /usr/sbin, /sbin, /usr/bin, /bin"));
}

absl::StatusOr<ChildRun> runChild(const ChildSpec& spec) {
  if (spec.argv.empty()) return absl::InvalidArgumentError("no program to run");
  const std::string& tool = spec.argv[0];
  // stdin is a socketpair rather than a pipe so that a child exiting early gives us EPIPE from
  // send(MSG_NOSIGNAL) instead of a SIGPIPE.
  UniqueFd in_parent, in_child;
  if (!spec.input.empty()) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      return errnoStatus(errno, "Failed to create socketpair");
    }
    in_parent.reset(pair[0]);
    in_child.reset(pair[1]);
  }
  ChildRun run;
  Capture out, err;
  out.max = spec.max_stdout;
  out.keep = &run.out;
  if (spec.on_stdout) out.sink = &spec.on_stdout;
  err.max = spec.max_stderr;
  err.keep = &run.err;
  UniqueFd out_child, err_child;
  for (auto [capture, child] : {std::pair{&out, &out_child}, std::pair{&err, &err_child}}) {
    int pipe[2];
    if (::pipe2(pipe, O_CLOEXEC) != 0) return errnoStatus(errno, "Failed to create pipe");
    capture->fd.reset(pipe[0]);
    child->reset(pipe[1]);
  }
  WARDEN_ASSIGN_OR_RETURN(const pid_t pid,
                          spawn(spec.argv, in_child.get(), out_child.get(), err_child.get()));
  in_child.reset();
  out_child.reset();
  err_child.reset();

  const absl::Time deadline = absl::Now() + spec.timeout;
  std::size_t written = 0;
  char buf[65536];
  while (out.fd.ok() || err.fd.ok()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      run.timed_out = true;
      run.killed =
          absl::StrCat(tool, " did not finish within ", absl::FormatDuration(spec.timeout));
      break;
    }
    pollfd fds[3] = {
        {in_parent.get(), POLLOUT, 0}, {out.fd.get(), POLLIN, 0}, {err.fd.get(), POLLIN, 0}};
    const int n = ::poll(fds, 3, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Cannot wait for it any more: as good as the deadline.
      run.timed_out = true;
      run.killed = absl::StrCat("poll failed: ", std::strerror(errno));
      break;
    }
    if (fds[0].revents != 0) {
      const ssize_t w = ::send(in_parent.get(), spec.input.data() + written,
                               spec.input.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) written += static_cast<std::size_t>(w);
      // A child that stops reading (EPIPE) has failed and will say so on stderr.
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == spec.input.size()) {
        in_parent.reset();
      }
    }
    for (auto [s, revents] : {std::pair{&out, fds[1].revents}, std::pair{&err, fds[2].revents}}) {
      if (!s->fd.ok() || revents == 0) continue;
      const ssize_t r = ::read(s->fd.get(), buf, sizeof(buf));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        s->fd.reset();
        continue;
      }
      const std::size_t got = static_cast<std::size_t>(r);
      s->total += got;
      const std::size_t room = s->max - s->kept;
      if (got > room) {
        s->cut = true;
        if (spec.overflow == ChildSpec::Overflow::kKill) {
          run.killed = absl::StrCat(tool, " wrote more than ", s->max, " bytes");
          break;
        }
      }
      const std::string_view piece(buf, std::min(got, room));
      if (piece.empty()) continue;
      s->kept += piece.size();
      if (s->sink == nullptr) {
        s->keep->append(piece);
      } else if (!(*s->sink)(piece)) {
        run.killed = absl::StrCat("the output of ", tool, " could not be kept");
        break;
      }
    }
    if (!run.killed.empty()) break;
  }
  in_parent.reset();
  out.fd.reset();
  err.fd.reset();
  run.stdout_bytes = out.total;
  run.stdout_cut = out.cut;
  run.stderr_cut = err.cut;

  // Both streams are closed; the child is exiting. Give it until the deadline, then kill it
  // and its process group (what it started is killed with it).
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return errnoStatus(errno, "waitpid failed");
    if (!run.killed.empty() || absl::Now() >= deadline) {
      if (run.killed.empty()) {
        run.timed_out = true;
        run.killed =
            absl::StrCat(tool, " did not exit within ", absl::FormatDuration(spec.timeout));
      }
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  run.exit_code =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return run;
}

absl::StatusOr<ToolResult> runTool(const std::vector<std::string>& argv, const std::string& input,
                                   absl::Duration timeout) {
  ChildSpec spec;
  spec.argv = argv;
  spec.input = input;
  spec.timeout = timeout;
  WARDEN_ASSIGN_OR_RETURN(ChildRun run, runChild(spec));
  if (!run.killed.empty()) return absl::DeadlineExceededError(run.killed);
  return ToolResult{run.exit_code, std::move(run.out), std::move(run.err)};
}

}  // namespace warden::linux_os
