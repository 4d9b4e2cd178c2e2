// warden-test-syscall-filter: installs the agent's syscall filter on itself, then makes
// denied calls from the filtered process, from a second thread and from an exec'd child, and
// prints what each got ("bpf: EPERM"). The supervisor's log lines go to stderr. Used by
// tests/ns/syscall_filter_test.cc; needs no privileges (no_new_privs makes the filter legal).
#include <linux/bpf.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "agent/os/linux/syscall_filter.h"

namespace {

std::string outcome(long rc) {
  return rc == -1 ? (errno == EPERM ? "EPERM" : std::strerror(errno)) : "allowed";
}

void deniedCalls(const char* who) {
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  std::printf("%s bpf: %s\n", who,
              outcome(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr))).c_str());
  std::printf("%s init_module: %s\n", who,
              outcome(syscall(SYS_init_module, nullptr, 0, "")).c_str());
  std::printf("%s getpid: %s\n", who, outcome(syscall(SYS_getpid) > 0 ? 0 : -1).c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--child") {
    std::printf("child no_new_privs: %d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    deniedCalls("child");
    return 0;
  }
  if (auto s = warden::linux_os::installAgentSyscallFilter(); !s.ok()) {
    std::fprintf(stderr, "install: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  deniedCalls("agent");
  std::thread([] { deniedCalls("thread"); }).join();
  const pid_t pid = fork();
  if (pid == 0) {
    execl("/proc/self/exe", argv[0], "--child", static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::printf("child exit: %s\n",
              WIFEXITED(status)
                  ? std::to_string(WEXITSTATUS(status)).c_str()
                  : (std::string("signal ") + std::to_string(WTERMSIG(status))).c_str());
  std::printf("denied: %llu\n",
              static_cast<unsigned long long>(warden::linux_os::deniedSyscallCount()));
  return 0;
}
