// warden-test-eiofs MOUNTPOINT CONTENT_FILE [OFFSET:LENGTH | hang:OFFSET:LENGTH]...
//
// Serves CONTENT_FILE as MOUNTPOINT/disk.img through EioFuse (eio_fuse.h): reads touching any
// OFFSET:LENGTH range fail with EIO, as a disk's bad sectors do; reads touching a
// hang:OFFSET:LENGTH range are never answered (and "hung read" is printed). Mounts in the caller's
// mount namespace (tests start it inside a test host, whose namespace is its own), prints "ready"
// once mounted, and serves until SIGTERM or SIGINT, then unmounts.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "tests/support/eio_fuse.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MOUNTPOINT CONTENT_FILE OFFSET:LENGTH...\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[2], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[2]);
    return 2;
  }
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<warden::testing::EioFuse::Range> bad, hang;
  for (int i = 3; i < argc; ++i) {
    std::vector<std::string> parts = absl::StrSplit(argv[i], ':');
    const bool hangs = !parts.empty() && parts[0] == "hang";
    if (hangs) parts.erase(parts.begin());
    warden::testing::EioFuse::Range r;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &r.offset) ||
        !absl::SimpleAtoi(parts[1], &r.length)) {
      std::fprintf(stderr, "not [hang:]OFFSET:LENGTH: %s\n", argv[i]);
      return 2;
    }
    (hangs ? hang : bad).push_back(r);
  }
  // Block the stop signals before any thread starts, then wait for one of them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  warden::testing::EioFuse fs(std::move(content), std::move(bad), std::move(hang), [] {
    std::printf("hung read\n");
    std::fflush(stdout);
  });
  if (auto s = fs.mount(argv[1]); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  std::printf("stopping after %d failed reads\n", fs.failedReads());
  return 0;
}
