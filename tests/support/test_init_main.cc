// warden-test-init: PID 1 of a test host's PID namespace (see tests/support/fleet.h).
//
//   warden-test-init --hostname NAME --fleet-dir DIR [--ready-fd FD] [--lifetime SECONDS]
//
// The harness starts it with clone(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS) inside the
// host's network namespace. It then
//   - makes every mount private, so nothing it mounts reaches the real host;
//   - mounts a proc for its PID namespace on /proc and a sysfs for its network namespace on
//     /sys (keeping the real /sys/fs/cgroup);
//   - overlays /etc and /run with upper directories in DIR (etc.upper, run.upper), so the
//     host's /etc/passwd, /etc/shadow, /etc/group and /run/utmp are private copies: writes,
//     including write-to-temporary-and-rename, land in DIR and never in the real files.
//     /run/utmp starts empty. Without overlayfs it falls back to bind-mounting copies of
//     those four files and an empty tmpfs on /etc/ssh;
//   - sets the host name;
//   - writes "ok\n" to FD (or "error: ...\n" and exits 1);
// and then reaps orphans until a signal ends it:
//   SIGTERM  exit status 0 (the harness's normal teardown);
//   SIGINT   reboot(RB_POWER_OFF): inside a PID namespace that ends this init as if killed by
//            SIGINT (see reboot(2)), exactly what a power-off from inside the host does;
//   SIGHUP   reboot(RB_AUTOBOOT): ends this init as if killed by SIGHUP, like a reboot;
//   --lifetime elapsed (default one week): exit status 0, so a forgotten host does not live
//            forever.
// So whoever forked the init sees, through waitpid(2), how the host went down: exit 0,
// WTERMSIG SIGINT (power off or halt) or WTERMSIG SIGHUP (restart). If reboot(2) is refused,
// the init exits with 128 + the signal instead.
//
// It refuses to run unless it is PID 1 of a PID namespace other than the initial one, so it
// can never call reboot(2) on the real machine.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

namespace {

// The inode of the initial PID namespace (PROC_PID_INIT_INO in include/linux/proc_ns.h).
constexpr ino_t kInitialPidNamespaceInode = 0xEFFFFFFCU;
// Files that must be private to the host even without overlayfs.
constexpr const char* kPrivateEtcFiles[] = {"passwd", "shadow", "group", "gshadow"};
// Orphans reaped per SIGCHLD round; more just wait for the next round.
constexpr int kMaxReapsPerRound = 100000;
constexpr long kDefaultLifetimeSeconds = 7L * 24 * 3600;

int ready_fd = -1;

void report(const std::string& line) {
  std::fprintf(stderr, "warden-test-init: %s\n", line.c_str());
  if (ready_fd >= 0) {
    const std::string msg = line + "\n";
    [[maybe_unused]] ssize_t n = ::write(ready_fd, msg.data(), msg.size());
  }
}

[[noreturn]] void fail(const std::string& what) {
  report("error: " + what);
  std::exit(1);
}

std::string errnoText(const std::string& what) {
  return "Failed to " + what + ": " + std::strerror(errno);
}

bool copyFile(const std::string& from, const std::string& to) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return false;
  struct stat st {};
  if (::fstat(in, &st) < 0) {
    ::close(in);
    return false;
  }
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, st.st_mode & 07777);
  if (out < 0) {
    ::close(in);
    return false;
  }
  bool ok = ::fchown(out, st.st_uid, st.st_gid) == 0 && ::fchmod(out, st.st_mode & 07777) == 0;
  char buf[65536];
  for (int i = 0; ok && i < (1 << 20); ++i) {
    const ssize_t n = ::read(in, buf, sizeof(buf));
    if (n == 0) break;
    ok = n > 0 && ::write(out, buf, static_cast<size_t>(n)) == n;
  }
  ::close(in);
  return ::close(out) == 0 && ok;
}

void mkdirs(const std::string& dir) {
  ::mkdir(dir.c_str(), 0755);  // EEXIST is fine; failures surface at mount time
}

// Overlays `target` (lower layer) with DIR/NAME.upper; false if overlayfs is unusable here.
bool overlay(const std::string& target, const std::string& fleet_dir, const std::string& name) {
  const std::string upper = fleet_dir + "/" + name + ".upper";
  const std::string work = fleet_dir + "/" + name + ".work";
  mkdirs(upper);
  mkdirs(work);
  const std::string options = "lowerdir=" + target + ",upperdir=" + upper + ",workdir=" + work;
  if (::mount("overlay", target.c_str(), "overlay", 0, options.c_str()) == 0) return true;
  std::fprintf(stderr, "warden-test-init: %s; falling back to bind mounts\n",
               errnoText("mount overlay on " + target).c_str());
  return false;
}

void privateEtc(const std::string& fleet_dir) {
  if (overlay("/etc", fleet_dir, "etc")) return;
  // The SSH configuration a test writes (revoke-keys) stays in the host: an empty tmpfs.
  if (::access("/etc/ssh", F_OK) == 0 &&
      ::mount("tmpfs", "/etc/ssh", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
    fail(errnoText("mount a tmpfs on /etc/ssh"));
  }
  const std::string copies = fleet_dir + "/etc.files";
  mkdirs(copies);
  for (const char* file : kPrivateEtcFiles) {
    const std::string real = std::string("/etc/") + file;
    const std::string copy = copies + "/" + file;
    if (::access(real.c_str(), F_OK) != 0) continue;
    if (!copyFile(real, copy)) fail(errnoText("copy " + real + " to " + copy));
    if (::mount(copy.c_str(), real.c_str(), nullptr, MS_BIND, nullptr) < 0) {
      fail(errnoText("bind-mount " + copy + " on " + real));
    }
  }
}

void privateRun(const std::string& fleet_dir) {
  struct stat real_utmp {};
  const bool have_utmp = ::stat("/run/utmp", &real_utmp) == 0;
  if (!overlay("/run", fleet_dir, "run")) {
    if (::mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0) {
      fail(errnoText("mount tmpfs on /run"));
    }
    mkdirs("/run/lock");
  }
  // A fresh, empty login record, like a host that just booted.
  const int fd = ::open("/run/utmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0664);
  if (fd < 0) fail(errnoText("create /run/utmp"));
  if (have_utmp && ::fchown(fd, real_utmp.st_uid, real_utmp.st_gid) < 0) {
    fail(errnoText("chown /run/utmp"));
  }
  ::close(fd);
}

// A sysfs of the host's network namespace (so /sys/class/net shows its interfaces), with the
// real cgroup hierarchy carried over. Best effort: on any failure /sys stays as it was.
void privateSys(const std::string& fleet_dir) {
  const std::string hold = fleet_dir + "/cgroup.hold";
  mkdirs(hold);
  const bool cgroup =
      ::mount("/sys/fs/cgroup", hold.c_str(), nullptr, MS_BIND | MS_REC, nullptr) == 0;
  if (::mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) {
    std::fprintf(stderr, "warden-test-init: %s\n", errnoText("mount sysfs").c_str());
    if (cgroup) ::umount2(hold.c_str(), MNT_DETACH);
    return;
  }
  if (cgroup && ::mount(hold.c_str(), "/sys/fs/cgroup", nullptr, MS_MOVE, nullptr) < 0) {
    std::fprintf(stderr, "warden-test-init: %s\n", errnoText("move the cgroup mount").c_str());
    ::umount2("/sys", MNT_DETACH);
    ::umount2(hold.c_str(), MNT_DETACH);
  }
}

void reapOrphans() {
  for (int i = 0; i < kMaxReapsPerRound; ++i) {
    if (::waitpid(-1, nullptr, WNOHANG) <= 0) return;
  }
}

// Powers off (SIGINT) or restarts (SIGHUP) this PID namespace, as reboot(2) from inside the
// host would.
[[noreturn]] void goDown(int sig) {
  struct stat ns {};
  const bool nested = ::getpid() == 1 && ::stat("/proc/self/ns/pid", &ns) == 0 &&
                      ns.st_ino != kInitialPidNamespaceInode;
  if (nested) {
    ::reboot(sig == SIGINT ? RB_POWER_OFF : RB_AUTOBOOT);  // does not return on success
    std::fprintf(stderr, "warden-test-init: %s\n", errnoText("reboot").c_str());
  }
  std::_Exit(128 + sig);
}

void noteSignal(int) {}

}  // namespace

int main(int argc, char** argv) {
  std::string hostname;
  std::string fleet_dir;
  long lifetime = kDefaultLifetimeSeconds;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--hostname") {
      hostname = argv[i + 1];
    } else if (flag == "--fleet-dir") {
      fleet_dir = argv[i + 1];
    } else if (flag == "--ready-fd") {
      ready_fd = std::atoi(argv[i + 1]);
    } else if (flag == "--lifetime") {
      lifetime = std::atol(argv[i + 1]);
    } else {
      fail("unknown flag " + flag);
    }
  }
  if (hostname.empty() || fleet_dir.empty()) {
    fail("usage: warden-test-init --hostname NAME --fleet-dir DIR [--ready-fd FD]");
  }
  if (::getpid() != 1) fail("must run as PID 1 of a new PID namespace");

  // Block the signals we wait for first: a signal that arrives while we set up waits for the
  // loop instead of being dropped (an init ignores signals it has no handler for).
  sigset_t wanted;
  sigemptyset(&wanted);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) {
    sigaddset(&wanted, sig);
    struct sigaction action {};
    action.sa_handler = noteSignal;
    sigemptyset(&action.sa_mask);
    ::sigaction(sig, &action, nullptr);
  }
  ::sigprocmask(SIG_BLOCK, &wanted, nullptr);

  // A mount and UTS namespace of our own even if the caller forgot to ask for them.
  if (::unshare(CLONE_NEWNS | CLONE_NEWUTS) < 0) fail(errnoText("unshare mount and UTS"));
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) {
    fail(errnoText("make / private"));
  }
  if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0) {
    fail(errnoText("mount /proc"));
  }
  struct stat ns {};
  if (::stat("/proc/self/ns/pid", &ns) < 0) fail(errnoText("stat /proc/self/ns/pid"));
  if (ns.st_ino == kInitialPidNamespaceInode) fail("running in the initial PID namespace");
  privateEtc(fleet_dir);
  privateRun(fleet_dir);
  privateSys(fleet_dir);
  if (::sethostname(hostname.data(), hostname.size()) < 0) fail(errnoText("set the host name"));
  if (::chdir("/") < 0) fail(errnoText("chdir /"));
  report("ok");
  if (ready_fd >= 0) ::close(ready_fd);
  ready_fd = -1;

  // Wait for signals until the lifetime is over; each round handles at most one.
  const std::time_t end = std::time(nullptr) + (lifetime > 0 ? lifetime : kDefaultLifetimeSeconds);
  for (std::time_t now = std::time(nullptr); now < end; now = std::time(nullptr)) {
    siginfo_t info{};
    const struct timespec tick { 60, 0 };
    const int sig = ::sigtimedwait(&wanted, &info, &tick);
    if (sig < 0) continue;  // EAGAIN (tick) or EINTR
    switch (sig) {
      case SIGCHLD:
        reapOrphans();
        break;
      case SIGTERM:
        std::fprintf(stderr, "warden-test-init: SIGTERM, exiting\n");
        return 0;
      default:
        std::fprintf(stderr, "warden-test-init: %s, going down\n", strsignal(sig));
        goDown(sig);
    }
  }
  std::fprintf(stderr, "warden-test-init: lifetime over, exiting\n");
  return 0;
}
