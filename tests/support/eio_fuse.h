// A one-file FUSE file system whose reads fail with EIO where the test says: the kernel's own
// error path for a disk with bad sectors, without device-mapper's `error` target (which not
// every test kernel has). It speaks the FUSE protocol on /dev/fuse directly (see
// <linux/fuse.h> and the kernel's Documentation/filesystems/fuse.rst), serves `disk.img` with
// FOPEN_DIRECT_IO so every read(2) reaches it with its exact offset and length, and answers
// READ with -EIO when the range touches a bad one, or never at all when it touches a range
// that hangs (a hostile file system: the reader sleeps in the kernel until the file system is
// unmounted). The file is executable, so a process can run from it.
//
// Mounting needs CAP_SYS_ADMIN; tests mount it in a private mount namespace (a forked child
// after unshare(CLONE_NEWNS)), so the machine's own mounts never see it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"

namespace warden::testing {

class EioFuse {
 public:
  struct Range {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };

  // `content` is the file's data; reads touching any of `bad` fail with EIO, those touching
  // any of `hang` are never answered (`on_hang` is called for each, on the serving thread).
  EioFuse(std::string content, std::vector<Range> bad, std::vector<Range> hang = {},
          std::function<void()> on_hang = nullptr);
  ~EioFuse();  // unmounts and stops serving
  EioFuse(const EioFuse&) = delete;
  EioFuse& operator=(const EioFuse&) = delete;

  // Mounts on the existing directory `dir` and starts serving; the file is `dir`/disk.img.
  absl::Status mount(const std::string& dir);
  std::string file() const { return dir_ + "/disk.img"; }
  // READ requests answered with EIO so far.
  int failedReads() const { return failed_reads_.load(); }
  // READ requests left unanswered so far.
  int hungReads() const { return hung_reads_.load(); }

 private:
  void serve();
  void handle(const char* request, std::size_t size);
  void reply(std::uint64_t unique, int error, const void* payload, std::size_t size);

  std::string content_;
  std::vector<Range> bad_;
  std::vector<Range> hang_;
  std::function<void()> on_hang_;
  std::string dir_;
  int fd_ = -1;
  bool mounted_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int> failed_reads_{0};
  std::atomic<int> hung_reads_{0};
  std::thread server_;
};

}  // namespace warden::testing
