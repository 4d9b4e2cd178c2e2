// See eio_fuse.h.
#include "tests/support/eio_fuse.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"

namespace warden::testing {
namespace {

constexpr std::uint64_t kRootNode = FUSE_ROOT_ID;
constexpr std::uint64_t kFileNode = 2;
constexpr std::uint32_t kMaxWrite = 128 << 10;

void fillAttr(fuse_attr& a, std::uint64_t node, std::uint64_t size) {
  std::memset(&a, 0, sizeof(a));
  a.ino = node;
  a.mode = node == kRootNode ? (S_IFDIR | 0555) : (S_IFREG | 0555);
  a.nlink = node == kRootNode ? 2 : 1;
  a.size = node == kRootNode ? 0 : size;
  a.blocks = (a.size + 511) / 512;
  a.blksize = 4096;
}

}  // namespace

EioFuse::EioFuse(std::string content, std::vector<Range> bad, std::vector<Range> hang,
                 std::function<void()> on_hang)
    : content_(std::move(content)),
      bad_(std::move(bad)),
      hang_(std::move(hang)),
      on_hang_(std::move(on_hang)) {}

EioFuse::~EioFuse() {
  stop_ = true;
  if (mounted_) (void)::umount2(dir_.c_str(), MNT_DETACH);
  if (server_.joinable()) server_.join();
  if (fd_ >= 0) ::close(fd_);
}

absl::Status EioFuse::mount(const std::string& dir) {
  dir_ = dir;
  fd_ = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fd_ < 0) return absl::UnavailableError(absl::StrFormat("/dev/fuse: %s", strerror(errno)));
  const std::string options =
      absl::StrFormat("fd=%d,rootmode=40000,user_id=0,group_id=0,max_read=%d", fd_, kMaxWrite);
  if (::mount("warden-eio", dir.c_str(), "fuse", MS_NOSUID | MS_NODEV | MS_RDONLY,
              options.c_str()) != 0) {
    return absl::UnavailableError(
        absl::StrFormat("mounting FUSE on %s: %s", dir, std::strerror(errno)));
  }
  mounted_ = true;
  server_ = std::thread([this] { serve(); });
  return absl::OkStatus();
}

// Requests until unmounted (ENODEV) or stopped; each poll waits at most 50 ms, so a stop is
// seen promptly even when nothing more comes.
void EioFuse::serve() {
  std::vector<char> buffer(kMaxWrite + FUSE_MIN_READ_BUFFER);
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, 50);
    if (ready <= 0) continue;
    const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT)) continue;
    if (n < static_cast<ssize_t>(sizeof(fuse_in_header))) return;  // ENODEV: unmounted
    handle(buffer.data(), static_cast<std::size_t>(n));
  }
}

void EioFuse::reply(std::uint64_t unique, int error, const void* payload, std::size_t size) {
  fuse_out_header out{};
  out.unique = unique;
  out.error = -error;
  out.len = static_cast<std::uint32_t>(sizeof(out) + (error == 0 ? size : 0));
  iovec iov[2] = {{&out, sizeof(out)}, {const_cast<void*>(payload), error == 0 ? size : 0}};
  (void)::writev(fd_, iov, 2);
}

void EioFuse::handle(const char* request, std::size_t size) {
  fuse_in_header in;
  std::memcpy(&in, request, sizeof(in));
  const char* arg = request + sizeof(in);
  const std::size_t arg_size = size - sizeof(in);
  switch (in.opcode) {
    case FUSE_INIT: {
      fuse_init_in init{};
      std::memcpy(&init, arg, std::min(arg_size, sizeof(init)));
      fuse_init_out out{};
      out.major = FUSE_KERNEL_VERSION;
      out.minor = std::min<std::uint32_t>(init.minor, FUSE_KERNEL_MINOR_VERSION);
      out.max_readahead = init.max_readahead;
      out.max_background = 16;
      out.congestion_threshold = 12;
      out.max_write = kMaxWrite;
      out.time_gran = 1;
      reply(in.unique, 0, &out, sizeof(out));
      return;
    }
    case FUSE_LOOKUP: {
      const std::string name(arg, strnlen(arg, arg_size));
      if (in.nodeid != kRootNode || name != "disk.img") return reply(in.unique, ENOENT, nullptr, 0);
      fuse_entry_out out{};
      out.nodeid = kFileNode;
      out.generation = 1;
      fillAttr(out.attr, kFileNode, content_.size());
      return reply(in.unique, 0, &out, sizeof(out));
    }
    case FUSE_GETATTR: {
      if (in.nodeid != kRootNode && in.nodeid != kFileNode) {
        return reply(in.unique, ENOENT, nullptr, 0);
      }
      fuse_attr_out out{};
      fillAttr(out.attr, in.nodeid, content_.size());
      return reply(in.unique, 0, &out, sizeof(out));
    }
    case FUSE_OPEN:
    case FUSE_OPENDIR: {
      fuse_open_out out{};
      out.fh = in.nodeid;
      out.open_flags = in.opcode == FUSE_OPEN ? FOPEN_DIRECT_IO : 0;
      return reply(in.unique, 0, &out, sizeof(out));
    }
    case FUSE_READ: {
      fuse_read_in r{};
      std::memcpy(&r, arg, std::min(arg_size, sizeof(r)));
      if (in.nodeid != kFileNode) return reply(in.unique, EISDIR, nullptr, 0);
      const std::uint64_t end = r.offset + r.size;
      for (const Range& h : hang_) {
        if (r.offset < h.offset + h.length && h.offset < end) {
          ++hung_reads_;
          if (on_hang_) on_hang_();
          return;  // never answered: the reader waits until the file system goes away
        }
      }
      for (const Range& b : bad_) {
        if (r.offset < b.offset + b.length && b.offset < end) {
          ++failed_reads_;
          return reply(in.unique, EIO, nullptr, 0);
        }
      }
      const std::uint64_t from = std::min<std::uint64_t>(r.offset, content_.size());
      const std::uint64_t to = std::min<std::uint64_t>(end, content_.size());
      return reply(in.unique, 0, content_.data() + from, to - from);
    }
    case FUSE_STATFS: {
      fuse_statfs_out out{};
      out.st.bsize = 4096;
      out.st.frsize = 4096;
      out.st.namelen = 255;
      return reply(in.unique, 0, &out, sizeof(out));
    }
    case FUSE_RELEASE:
    case FUSE_RELEASEDIR:
    case FUSE_FLUSH:
      return reply(in.unique, 0, nullptr, 0);
    case FUSE_FORGET:
    case FUSE_BATCH_FORGET:
    case FUSE_INTERRUPT:
      return;  // no answer expected
    default:
      return reply(in.unique, ENOSYS, nullptr, 0);
  }
}

}  // namespace warden::testing
