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
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden::linux_os {
namespace {

constexpr std::size_t kMaxStdout = 64u << 20;  // a large iptables-save (k8s node) fits
constexpr std::size_t kMaxStderr = 1u << 20;
constexpr const char* kToolDirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};

std::string errnoText(int err) { return std::strerror(err); }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

}  // namespace

// The tool's absolute path, looked up in the usual sbin/bin directories rather than in PATH,
// which a daemon's environment may not have.
absl::StatusOr<std::string> findTool(const std::string& name) {
  for (const char* dir : kToolDirs) {
    std::string path = absl::StrCat(dir, "/", name);
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return absl::NotFoundError(absl::StrCat(name, " not found in /usr/sbin, /sbin, /usr/bin, /bin"));
}

// Runs `argv` (argv[0] an absolute path) with `input` on stdin; collects stdout and stderr up
// to their limits. The child is killed when it outlives `timeout` or writes too much.
// stdin is a socketpair rather than a pipe so that a child exiting early gives us EPIPE from
// send(MSG_NOSIGNAL) instead of a SIGPIPE.
absl::StatusOr<ToolResult> runTool(const std::vector<std::string>& argv, const std::string& input,
                                   absl::Duration timeout) {
  int in_pair[2], out_pipe[2], err_pipe[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pair) != 0) {
    return absl::InternalError(absl::StrCat("Failed to create socketpair: ", errnoText(errno)));
  }
  Fd in_parent(in_pair[0]), in_child(in_pair[1]);
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("Failed to create pipe: ", errnoText(errno)));
  }
  Fd out_parent(out_pipe[0]), out_child(out_pipe[1]);
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("Failed to create pipe: ", errnoText(errno)));
  }
  Fd err_parent(err_pipe[0]), err_child(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_child.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_child.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_child.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char env_lang[] = "LC_ALL=C";
  char* envp[] = {env_path, env_lang, nullptr};

  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    return absl::InternalError(absl::StrCat("Failed to run ", argv[0], ": ", errnoText(rc)));
  }
  in_child.reset();
  out_child.reset();
  err_child.reset();

  const auto deadline = absl::Now() + timeout;
  ToolResult result;
  std::string failure;
  std::size_t written = 0;
  if (input.empty()) in_parent.reset();
  while (out_parent.get() >= 0 || err_parent.get() >= 0) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      failure = absl::StrCat(argv[0], " did not finish within ", absl::FormatDuration(timeout));
      break;
    }
    pollfd fds[3] = {{in_parent.get(), POLLOUT, 0},
                     {out_parent.get(), POLLIN, 0},
                     {err_parent.get(), POLLIN, 0}};
    const int n = poll(fds, 3, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0) {
      if (errno == EINTR) continue;
      failure = absl::StrCat("poll failed: ", errnoText(errno));
      break;
    }
    if (fds[0].revents) {
      const ssize_t w = send(in_parent.get(), input.data() + written, input.size() - written,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) written += static_cast<std::size_t>(w);
      // A child that stops reading (EPIPE) has failed and will say so on stderr.
      if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
        in_parent.reset();
      }
    }
    struct Stream {
      Fd* fd;
      std::string* buf;
      std::size_t max;
      short revents;
    } streams[] = {{&out_parent, &result.out, kMaxStdout, fds[1].revents},
                   {&err_parent, &result.err, kMaxStderr, fds[2].revents}};
    for (Stream& s : streams) {
      if (s.fd->get() < 0 || s.revents == 0) continue;
      char buf[65536];
      const ssize_t r = read(s.fd->get(), buf, sizeof(buf));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        s.fd->reset();
        continue;
      }
      if (s.buf->size() + static_cast<std::size_t>(r) > s.max) {
        failure = absl::StrCat(argv[0], " wrote more than ", s.max, " bytes");
        break;
      }
      s.buf->append(buf, static_cast<std::size_t>(r));
    }
    if (!failure.empty()) break;
  }
  in_parent.reset();
  out_parent.reset();
  err_parent.reset();

  // Both streams are closed; the child is exiting. Give it until the deadline, then kill.
  int status = 0;
  for (;;) {
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid failed: ", errnoText(errno)));
    }
    if (!failure.empty() || absl::Now() >= deadline) {
      if (failure.empty()) {
        failure = absl::StrCat(argv[0], " did not exit within ", absl::FormatDuration(timeout));
      }
      kill(pid, SIGKILL);
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!failure.empty()) return absl::DeadlineExceededError(failure);
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else {
    result.exit_code = 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  }
  return result;
}

}  // namespace warden::linux_os
