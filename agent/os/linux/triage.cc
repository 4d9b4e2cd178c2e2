// The triage bundle on Linux (see agent/os/triage.h).
//
// Members, in this order. The total size limit is spent first come, first served, so the small
// tables that matter most come first and the large logs last:
//   commands/host.json          hostname, kernel, boot id, uptime, collection time (UTC)
//   commands/processes.json     every /proc/PID: ids, login uid, audit session, tty, start time,
//                               state, exe and its SHA-256, argv, cwd (see addProcesses)
//   commands/sockets.json       /proc/self/net/{tcp,tcp6,udp,udp6,raw,raw6,unix} of the agent's
//                               network namespace, with the pids holding each socket
//   commands/modules.txt        /proc/modules, commands/tainted.txt /proc/sys/kernel/tainted,
//   commands/mountinfo.txt      /proc/self/mountinfo
//   commands/nft-ruleset.txt    nft list ruleset; commands/iptables-save.txt and
//                               commands/ip6tables-save.txt where those tools exist
//   files/...                   identity and accounts (passwd, group, hostname, machine-id,
//                               os-release, hosts, sudoers, ld.so.preload, rc.local), crontabs
//                               and at jobs, the systemd units of /etc/systemd, /run/systemd/
//                               {system,transient} and /usr/local/lib/systemd in full, sshd
//                               configuration, and for every account of ROOT/etc/passwd: the home
//                               directory's entry (where the account owns it), ~/.ssh's entry,
//                               authorized_keys (also where AuthorizedKeysFile points),
//                               known_hosts, ~/.ssh/config and rc, shell and tool histories, shell
//                               start-up files, ~/.config/systemd/user (never private keys)
//   commands/vendor-units.json  /usr/lib/systemd/{system,user} (and /lib/systemd/... when not the
//                               same directories): package-managed and large, so only names, link
//                               targets, owner, mode, mtime and SHA-256, to compare with the
//                               package database (dpkg --verify, rpm -V)
//   files/...                   sessions (/run/utmp, wtmp*, btmp*, lastlog, lastlog2.db), then
//                               auth.log*, secure*, audit/audit.log*, each set newest first
//   commands/lastlog.json       the lastlog records that are not empty (see addLastlogRecords)
//   commands/journal.txt        journalctl --since=-1d --no-pager -o export
//   MANIFEST.json
//
// Files. Every path is resolved inside ROOT with openat2(RESOLVE_IN_ROOT) for the directories on
// the way, so a symlink there resolves as if ROOT were "/" and can never leave it; the last
// component is opened with O_NOFOLLOW. A symlink is archived as a symlink member with its target
// and never followed. A member is named after the physical path of what was read (a file reached
// through a symlinked directory, e.g. ~/.ssh -> /var/tmp/.k, is "files/var/tmp/.k/..." and its
// `source` is the path that was asked for), so no name ever passes through an archived symlink.
// FIFOs, devices and sockets are listed, never read (opening with O_NONBLOCK makes a FIFO swapped
// in after the lstat harmless). O_NOATIME leaves the access times, which the timeline uses, as
// they were. Contents are streamed in 1 MiB pieces and hashed on the way; the tar header carries
// fstat's size capped by the limits. A file that shrinks while it is read is padded with zeros
// up to that size, one that grows is cut there, and the member's error says so: the archive is
// never corrupt. The same inode reached twice becomes a hard link member to the first. A fixed
// source that is not there is listed as "absent" (that it was looked for is evidence too); the
// per-account files are listed only when they exist.
//
// Outputs whose size is known only at their end (command output, procfs files, generated
// tables) are spooled first, capped by the limits, into an unnamed O_TMPFILE next to the output
// (a memfd where that file system has none), so memory stays bounded.
//
// The journal is exported with -o export rather than short-iso-precise: it keeps every field of
// every entry (the trusted _PID, _UID, _AUDIT_SESSION, _AUDIT_LOGINUID, _EXE, _CMDLINE,
// _SYSTEMD_UNIT, _BOOT_ID and the microsecond __REALTIME_TIMESTAMP) that a timeline is built
// from, and `systemd-journal-remote -o FILE -` turns it back into a journal file journalctl
// reads (see systemd-journal-remote(8)). It is several times larger than text; when it reaches
// the limit the oldest entries are the ones kept (the export is in time order).
//
// Tar (POSIX.1-2001 pax Interchange Format): 512-byte ustar headers with the source's mode,
// numeric uid and gid and mtime (no user or group names: the host's own passwd is in the
// bundle); a pax extended header ('x') precedes an entry whose name or link target is longer
// than 100 bytes, whose size is 8 GiB or more, whose ids do not fit 7 octal digits or whose
// mtime is before 1970 (a timestomped file) or past 2242; then two zero blocks. A long name or
// target that is not UTF-8 comes with hdrcharset=BINARY, as POSIX asks (GNU tar 1.34 does not
// know the keyword, says so once, and extracts the raw bytes all the same). The stream is
// compressed with ZSTD_compressStream2 (level 3, content checksum on) straight into the output.
//
// JSON strings go through jsonString() (common/json.h), which replaces bytes that are not UTF-8
// by U+FFFD. A host string (path, argv, link target) that is not valid UTF-8 also gets a twin
// field "<name>_hex" with its bytes in hex, so nothing the host wrote is lost.
#include "agent/os/triage.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmp.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/os/linux/child_process.h"
#include "agent/os/linux/procfs.h"
#include "agent/os/processes.h"
#include "common/crypto.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr std::size_t kPiece = 1 << 20;  // read, hash and copy unit
constexpr std::size_t kBlock = 512;      // tar block
constexpr int kZstdLevel = 3;
constexpr int kTreeDepth = 8;  // directory levels collected below a tree's top
constexpr std::size_t kMaxAccounts = 1 << 16;
constexpr std::size_t kMaxConfigBytes = 16 << 20;  // passwd, sshd_config, os-release
constexpr std::size_t kMaxKeyFilePatterns = 16;
constexpr std::size_t kMaxArgvBytes = 32 << 10;  // of one /proc/PID/cmdline
constexpr std::size_t kMaxSocketRows = 1 << 17;  // per table
constexpr std::size_t kMaxFdsScanned = 1 << 22;
constexpr std::size_t kMaxVendorUnits = 1 << 16;
constexpr std::uint64_t kMaxLastlogScanBytes = 256ull << 20;  // data extents, holes skipped
constexpr std::size_t kMaxStderrKept = 2048;
constexpr std::uint64_t kMinGeneratedCap = 64;  // below this a JSON table is not started
constexpr unsigned kPfKthread = 0x00200000;     // include/linux/sched.h
constexpr std::uint64_t kUnsetId = 4294967295;  // (uid_t)-1 in loginuid and sessionid
constexpr char kTotalLimitError[] = "not collected: total size limit reached";
const char kZeros[2 * kBlock] = {};

// Home-relative files taken for every account: SSH trust and lateral movement, shell and tool
// histories, shell start-up files (persistence). Private keys are deliberately not taken.
constexpr const char* kHomeFiles[] = {".ssh/authorized_keys",
                                      ".ssh/authorized_keys2",
                                      ".ssh/known_hosts",
                                      ".ssh/config",
                                      ".ssh/rc",
                                      ".bash_history",
                                      ".zsh_history",
                                      ".zhistory",
                                      ".sh_history",
                                      ".ash_history",
                                      ".history",
                                      ".local/share/fish/fish_history",
                                      ".python_history",
                                      ".mysql_history",
                                      ".psql_history",
                                      ".sqlite_history",
                                      ".node_repl_history",
                                      ".rediscli_history",
                                      ".lesshst",
                                      ".viminfo",
                                      ".wget-hsts",
                                      ".bashrc",
                                      ".bash_profile",
                                      ".bash_login",
                                      ".bash_logout",
                                      ".profile",
                                      ".zshrc",
                                      ".zprofile",
                                      ".zshenv",
                                      ".zlogin"};

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

std::string errnoText(const std::string& what, int err) {
  return absl::StrCat(what, ": ", std::strerror(err));
}

std::string rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string octalMode(std::uint32_t mode) { return absl::StrFormat("%04o", mode & 07777); }

// ---- JSON ---------------------------------------------------------------------------------------

bool validUtf8(std::string_view v) {
  while (!v.empty()) {
    const std::size_t n = utf8Length(v);
    if (n == 0) return false;
    v.remove_prefix(n);
  }
  return true;
}

// "key":"value", followed by "key_hex":"..." with the raw bytes when `value` is not UTF-8.
std::string jsonField(const std::string& key, std::string_view value) {
  std::string out = absl::StrCat(jsonString(key), ":", jsonString(value));
  if (!validUtf8(value)) {
    absl::StrAppend(&out, ",", jsonString(absl::StrCat(key, "_hex")), ":",
                    jsonString(crypto::hex(value)));
  }
  return out;
}

std::string jsonArray(const std::vector<std::string>& values, bool hex = false) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ",";
    out += jsonString(hex ? crypto::hex(values[i]) : values[i]);
  }
  return out + "]";
}

// ---- paths --------------------------------------------------------------------------------------

// `p` without empty, "." and ".." components ("/.." is "/"); "" when `p` is not absolute.
std::string cleanPath(const std::string& p) {
  if (p.empty() || p[0] != '/') return "";
  std::vector<absl::string_view> parts;
  for (absl::string_view c : absl::StrSplit(p, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  return parts.empty() ? "/" : absl::StrCat("/", absl::StrJoin(parts, "/"));
}

std::string joinPath(const std::string& dir, const std::string& rel) {
  return cleanPath(absl::StrCat(dir, "/", rel));
}

std::string memberName(const std::string& path) { return absl::StrCat("files", path); }

// Opens `path` (absolute, inside the root behind `root_fd`) with every symlink on the way
// resolved inside that root: openat2(2) RESOLVE_IN_ROOT, magic links refused. Kernels before 5.6
// have no openat2; there the path is opened relative to the root as usual. Unless it is only
// an O_PATH handle, it is opened O_NOATIME where permitted (reading a file or listing a
// directory would otherwise touch an access time the timeline may need).
int openInRoot(int root_fd, const std::string& path, int flags) {
  const std::string rel = path == "/" ? "." : path.substr(1);
  const auto open = [&](int f) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(f | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (int attempt = 0; attempt < 8; ++attempt) {
      const int fd =
          static_cast<int>(::syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof(how)));
      if (fd >= 0 || errno != EAGAIN) {  // EAGAIN: a concurrent rename, see openat2(2)
        if (fd < 0 && errno == ENOSYS) return ::openat(root_fd, rel.c_str(), f | O_CLOEXEC);
        return fd;
      }
    }
    return -1;
  };
  if ((flags & O_PATH) != 0) return open(flags);
  const int fd = open(flags | O_NOATIME);
  return fd >= 0 || errno != EPERM ? fd : open(flags);
}

// Opens the directory `name` in `dirfd` for listing, not following a symlink, O_NOATIME where
// permitted.
int openDirectoryNoFollow(int dirfd, const char* name) {
  const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  const int fd = ::openat(dirfd, name, flags | O_NOATIME);
  return fd >= 0 || errno != EPERM ? fd : ::openat(dirfd, name, flags);
}

// Opens `name` in `dirfd` for reading without following a symlink, blocking on a FIFO or
// touching the access time (O_NOATIME needs ownership or CAP_FOWNER; without it, plain).
int openNoFollow(int dirfd, const char* name) {
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  const int fd = ::openat(dirfd, name, flags | O_NOATIME);
  if (fd >= 0 || errno != EPERM) return fd;
  return ::openat(dirfd, name, flags);
}

std::string readLinkAt(int dirfd, const char* name, int* err) {
  char target[PATH_MAX + 1];
  const ssize_t n = ::readlinkat(dirfd, name, target, sizeof(target));
  if (n < 0) {
    *err = errno;
    return "";
  }
  *err = 0;
  return std::string(target, static_cast<std::size_t>(std::min<ssize_t>(n, PATH_MAX)));
}

// Reads up to `max` bytes of a file (procfs files have no size) into `out`; errno or 0.
int readAll(int fd, std::string& out, std::size_t max) {
  out.clear();
  char buf[65536];
  while (out.size() < max) {
    const ssize_t n = ::read(fd, buf, std::min(sizeof(buf), max - out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return 0;
}

bool readSmall(int dirfd, const std::string& path, std::string& out, std::size_t max = 4096) {
  Fd fd(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return false;
  return readAll(fd.get(), out, max) == 0;
}

// ---- tar ----------------------------------------------------------------------------------------

struct TarEntry {
  std::string name;
  char type = '0';  // '0' file, '1' hard link, '2' symlink, '5' directory, 'x' pax header
  std::uint32_t mode = 0444;
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::int64_t mtime = 0;  // seconds since the epoch
  std::uint64_t size = 0;
  std::string link;
};

bool fitsOctal(std::uint64_t v, std::size_t width) {
  return v < (std::uint64_t{1} << (3 * (width - 1)));
}

// width - 1 octal digits and a NUL, as ustar numeric fields are written.
void putOctal(char* field, std::size_t width, std::uint64_t v) {
  for (std::size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (v & 7));
    v >>= 3;
  }
  field[width - 1] = '\0';
}

// One ustar header. Values that do not fit are left out here; tarHeaders() puts them in a pax
// header first.
std::string ustarHeader(const TarEntry& e) {
  std::string h(kBlock, '\0');
  char* b = h.data();
  std::memcpy(b, e.name.data(), std::min<std::size_t>(e.name.size(), 100));
  putOctal(b + 100, 8, e.mode & 07777);
  putOctal(b + 108, 8, fitsOctal(e.uid, 8) ? e.uid : 0);
  putOctal(b + 116, 8, fitsOctal(e.gid, 8) ? e.gid : 0);
  putOctal(b + 124, 12, fitsOctal(e.size, 12) ? e.size : 0);
  const std::uint64_t mtime = e.mtime < 0 ? 0 : static_cast<std::uint64_t>(e.mtime);
  putOctal(b + 136, 12, fitsOctal(mtime, 12) ? mtime : 0);
  std::memset(b + 148, ' ', 8);
  b[156] = e.type;
  std::memcpy(b + 157, e.link.data(), std::min<std::size_t>(e.link.size(), 100));
  std::memcpy(b + 257, "ustar", 6);  // magic, NUL-terminated
  std::memcpy(b + 263, "00", 2);     // version
  putOctal(b + 329, 8, 0);           // devmajor
  putOctal(b + 337, 8, 0);           // devminor
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(b + 148, 8, "%06o", sum);  // six digits, NUL, and the space left in place
  b[155] = ' ';
  return h;
}

// "LEN key=value\n", LEN counting the whole record, itself included.
std::string paxRecord(const std::string& key, const std::string& value) {
  const std::size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  std::size_t len = body;
  for (;;) {
    const std::size_t next = body + std::to_string(len).size();
    if (next == len) break;
    len = next;
  }
  return absl::StrCat(len, " ", key, "=", value, "\n");
}

// The headers of `e`: a pax extended header (with its data, padded) when ustar cannot hold
// something, then the ustar header.
std::string tarHeaders(const TarEntry& e) {
  std::string pax;
  const bool long_name = e.name.size() > 100;
  const bool long_link = e.link.size() > 100;
  if ((long_name && !validUtf8(e.name)) || (long_link && !validUtf8(e.link))) {
    pax += paxRecord("hdrcharset", "BINARY");
  }
  if (long_name) pax += paxRecord("path", e.name);
  if (long_link) pax += paxRecord("linkpath", e.link);
  if (!fitsOctal(e.size, 12)) pax += paxRecord("size", std::to_string(e.size));
  if (!fitsOctal(e.uid, 8)) pax += paxRecord("uid", std::to_string(e.uid));
  if (!fitsOctal(e.gid, 8)) pax += paxRecord("gid", std::to_string(e.gid));
  if (e.mtime < 0 || !fitsOctal(static_cast<std::uint64_t>(e.mtime), 12)) {
    pax += paxRecord("mtime", std::to_string(e.mtime));
  }
  std::string out;
  if (!pax.empty()) {
    std::string_view base = e.name;
    while (base.size() > 1 && base.back() == '/') base.remove_suffix(1);
    if (const std::size_t slash = base.rfind('/'); slash != std::string_view::npos) {
      base.remove_prefix(slash + 1);
    }
    TarEntry x;
    x.name = absl::StrCat("PaxHeaders/", std::string(base.substr(0, 89)));
    x.type = 'x';
    x.mode = 0644;
    x.mtime = std::max<std::int64_t>(0, std::min<std::int64_t>(e.mtime, 077777777777));
    x.size = pax.size();
    out += ustarHeader(x);
    out += pax;
    out.append((kBlock - pax.size() % kBlock) % kBlock, '\0');
  }
  out += ustarHeader(e);
  return out;
}

// The tar stream, compressed with zstd into the output file as it is produced.
class BundleWriter {
 public:
  BundleWriter() = default;
  ~BundleWriter() {
    discard();
    if (cctx_ != nullptr) ZSTD_freeCCtx(cctx_);
  }
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  absl::Status create(const std::string& path) {
    path_ = path;
    fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd_.ok()) {
      const int err = errno;
      if (err == EEXIST) {
        return absl::AlreadyExistsError(absl::StrCat("Failed to create ", path, ": it exists"));
      }
      return errnoStatus("create", path, err);
    }
    created_ = true;
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) return errnoStatus("stat", path, errno);
    dev_ = st.st_dev;
    ino_ = st.st_ino;
    if (::fchmod(fd_.get(), 0600) != 0) return errnoStatus("chmod", path, errno);
    cctx_ = ZSTD_createCCtx();
    if (cctx_ == nullptr) return absl::ResourceExhaustedError("Failed to create a zstd context");
    for (auto [param, value] :
         {std::pair{ZSTD_c_compressionLevel, kZstdLevel}, std::pair{ZSTD_c_checksumFlag, 1}}) {
      const std::size_t rc = ZSTD_CCtx_setParameter(cctx_, param, value);
      if (ZSTD_isError(rc)) {
        return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(rc)));
      }
    }
    out_.resize(ZSTD_CStreamOutSize());
    return absl::OkStatus();
  }

  dev_t dev() const { return dev_; }
  ino_t ino() const { return ino_; }

  // The headers of the next entry; exactly `e.size` bytes of content must follow via data().
  absl::Status begin(const TarEntry& e) {
    if (entry_left_ != 0) return absl::InternalError("tar entry started before the last ended");
    WARDEN_RETURN_IF_ERROR(push(tarHeaders(e)));
    entry_left_ = e.size;
    entry_pad_ = (kBlock - e.size % kBlock) % kBlock;
    return absl::OkStatus();
  }
  absl::Status data(std::string_view d) {
    if (d.size() > entry_left_) return absl::InternalError("tar entry content overruns its size");
    entry_left_ -= d.size();
    return push(d);
  }
  absl::Status end() {
    if (entry_left_ != 0) return absl::InternalError("tar entry content short of its size");
    return push(std::string_view(kZeros, entry_pad_));
  }

  // The end-of-archive blocks, the end of the zstd frame, fsync. Returns the file's size.
  absl::StatusOr<std::uint64_t> finish() {
    WARDEN_RETURN_IF_ERROR(push(std::string_view(kZeros, 2 * kBlock)));
    WARDEN_RETURN_IF_ERROR(compress({}, ZSTD_e_end));
    if (::fsync(fd_.get()) != 0) return errnoStatus("fsync", path_, errno);
    if (::close(fd_.release()) != 0) return errnoStatus("close", path_, errno);
    created_ = false;
    // The new name is durable too (best effort: the data itself is already on disk).
    const std::size_t slash = path_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path_.substr(0, slash + 1);
    if (Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); d.ok()) {
      ::fsync(d.get());
    }
    return written_;
  }

  // Removes what was written, unless `path` names another file by now.
  void discard() {
    if (!created_) return;
    fd_.reset();
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) {
      ::unlink(path_.c_str());
    }
    created_ = false;
  }

 private:
  absl::Status push(std::string_view in) { return compress(in, ZSTD_e_continue); }

  absl::Status compress(std::string_view in, ZSTD_EndDirective mode) {
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    for (;;) {
      ZSTD_outBuffer output{out_.data(), out_.size(), 0};
      const std::size_t left = ZSTD_compressStream2(cctx_, &output, &input, mode);
      if (ZSTD_isError(left)) {
        return absl::InternalError(absl::StrCat("zstd: ", ZSTD_getErrorName(left)));
      }
      WARDEN_RETURN_IF_ERROR(writeAll(out_.data(), output.pos));
      if (mode == ZSTD_e_end ? left == 0 : input.pos == input.size) return absl::OkStatus();
    }
  }

  absl::Status writeAll(const char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_.get(), p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return errnoStatus("write", path_, errno);
      p += w;
      n -= static_cast<std::size_t>(w);
      written_ += static_cast<std::uint64_t>(w);
    }
    return absl::OkStatus();
  }

  std::string path_;
  Fd fd_;
  bool created_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  ZSTD_CCtx* cctx_ = nullptr;
  std::vector<char> out_;
  std::uint64_t entry_left_ = 0;
  std::size_t entry_pad_ = 0;
  std::uint64_t written_ = 0;
};

// ---- spool --------------------------------------------------------------------------------------

// Scratch space, at most `cap` bytes, for output whose size is known only at its end: the tar
// header needs the size first. Appends past the cap are refused (append) or cut (appendSome)
// and remembered; a write failure is kept in status() and ends all further appends.
class Spool {
 public:
  Spool(Fd fd, std::uint64_t cap, std::string what)
      : fd_(std::move(fd)), cap_(cap), what_(std::move(what)) {}

  // All of `d` or nothing, leaving `keep_free` bytes of the cap unused.
  bool append(std::string_view d, std::uint64_t keep_free = 0) {
    if (!status_.ok()) return false;
    if (size_ + d.size() + keep_free > cap_) {
      overflow_ = true;
      return false;
    }
    write(d);
    return status_.ok();
  }
  // As much of `d` as fits.
  void appendSome(std::string_view d) {
    if (!status_.ok()) return;
    const std::uint64_t room = cap_ - size_;
    if (d.size() > room) {
      overflow_ = true;
      d = d.substr(0, room);
    }
    write(d);
  }
  bool overflowed() const { return overflow_; }
  const absl::Status& status() const { return status_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t cap() const { return cap_; }
  int fd() const { return fd_.get(); }

 private:
  void write(std::string_view d) {
    while (!d.empty()) {
      const ssize_t w = ::write(fd_.get(), d.data(), d.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        status_ = errnoStatus("write", what_, errno);
        return;
      }
      d.remove_prefix(static_cast<std::size_t>(w));
      size_ += static_cast<std::uint64_t>(w);
    }
  }

  Fd fd_;
  std::uint64_t cap_;
  std::string what_;
  std::uint64_t size_ = 0;
  bool overflow_ = false;
  absl::Status status_;
};

// ---- commands -----------------------------------------------------------------------------------

struct CommandRun {
  int exit_code = -1;          // 128 + signal when a signal ended it
  bool timed_out = false;      // killed at the deadline
  std::uint64_t produced = 0;  // bytes it wrote to stdout, kept or not
  std::string err;             // the start of its stderr
};

// Runs argv (argv[0] absolute; never a shell) with stdin from /dev/null, its stdout into `out`
// (what does not fit is read and counted, so the size of the whole output is known), in its
// own process group, killed with the group at `timeout`. An error only if it cannot start.
absl::StatusOr<CommandRun> runCommand(const std::vector<std::string>& argv, Spool& out,
                                      absl::Duration timeout) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return errnoStatus("create", "a pipe", errno);
  Fd out_read(out_pipe[0]), out_write(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return errnoStatus("create", "a pipe", errno);
  Fd err_read(err_pipe[0]), err_write(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
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
  char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char env_lang[] = "LC_ALL=C";
  char env_pager[] = "SYSTEMD_PAGER=";
  char* envp[] = {env_path, env_lang, env_pager, nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return errnoStatus("run", argv[0], rc);
  out_write.reset();
  err_write.reset();

  CommandRun run;
  const absl::Time deadline = absl::Now() + timeout;
  std::vector<char> buf(1 << 16);
  while (out_read.ok() || err_read.ok()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      run.timed_out = true;
      break;
    }
    pollfd fds[2] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
    const int n = ::poll(fds, 2, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      run.timed_out = true;  // cannot wait for it any more: treat as the deadline
      break;
    }
    for (int i = 0; i < 2; ++i) {
      Fd& fd = i == 0 ? out_read : err_read;
      if (!fd.ok() || fds[i].revents == 0) continue;
      const ssize_t r = ::read(fd.get(), buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        fd.reset();
        continue;
      }
      const std::string_view got(buf.data(), static_cast<std::size_t>(r));
      if (i == 0) {
        run.produced += got.size();
        out.appendSome(got);
      } else if (run.err.size() < kMaxStderrKept) {
        run.err.append(got.substr(0, kMaxStderrKept - run.err.size()));
      }
    }
    if (!out.status().ok()) break;  // our own scratch space failed: the caller reports it
  }
  out_read.reset();
  err_read.reset();
  int status = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (run.timed_out || absl::Now() >= deadline || !out.status().ok()) {
      run.timed_out = run.timed_out || absl::Now() >= deadline;
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

// ---- procfs -------------------------------------------------------------------------------------

std::string idJson(const std::string& text) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str() || v >= kUnsetId) return "null";
  return std::to_string(v);
}

// SHA-256 of executables through /proc/PID/exe (which still opens a deleted binary), cached
// by file identity so a thousand copies of one binary are hashed once; at most `per_exe` bytes
// of each and `total` bytes of all of them are hashed.
class ExeHasher {
 public:
  struct Facts {
    std::string sha256;
    std::uint64_t size = 0;
    std::uint64_t hashed = 0;
    bool partial = false;
    bool deleted = false;
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    std::string error;
  };

  ExeHasher(std::uint64_t per_exe, std::uint64_t total) : per_exe_(per_exe), budget_(total) {}

  Facts hash(int proc_fd, pid_t pid) {
    Facts f;
    const std::string path = absl::StrCat(pid, "/exe");
    Fd fd(::openat(proc_fd, path.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME));
    if (!fd.ok() && errno == EPERM) fd.reset(::openat(proc_fd, path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
      f.error = errnoText("open", errno);
      return f;
    }
    f.size = static_cast<std::uint64_t>(st.st_size);
    f.deleted = st.st_nlink == 0;
    f.dev = st.st_dev;
    f.ino = st.st_ino;
    if (!S_ISREG(st.st_mode)) {
      f.error = "not a regular file";
      return f;
    }
    const auto key = std::make_tuple(st.st_dev, st.st_ino, st.st_size, st.st_mtim.tv_sec,
                                     st.st_mtim.tv_nsec, st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
    if (auto it = cache_.find(key); it != cache_.end()) {
      Facts cached = it->second;
      cached.deleted = f.deleted;
      return cached;
    }
    const std::uint64_t want = std::min(f.size, per_exe_);
    if (want > budget_) {
      f.error = "not hashed: max_total_bytes of executable hashing used up";
      ++unhashed_;
      return f;
    }
    crypto::Sha256 h;
    std::vector<char> buf(std::min<std::uint64_t>(kPiece, std::max<std::uint64_t>(want, 1)));
    while (f.hashed < want) {
      const ssize_t n =
          ::read(fd.get(), buf.data(), std::min<std::uint64_t>(buf.size(), want - f.hashed));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        f.error = errnoText("read", errno);
        return f;
      }
      if (n == 0) break;
      h.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      f.hashed += static_cast<std::uint64_t>(n);
    }
    budget_ -= f.hashed;
    f.sha256 = crypto::hex(h.finish());
    f.partial = f.hashed < f.size;
    if (f.partial) ++partial_;
    if (cache_.size() < kMaxProcessesScanned) cache_.emplace(key, f);
    return f;
  }

  std::size_t partial() const { return partial_; }
  std::size_t unhashed() const { return unhashed_; }

 private:
  std::uint64_t per_exe_;
  std::uint64_t budget_;
  std::size_t partial_ = 0;
  std::size_t unhashed_ = 0;
  std::map<std::tuple<dev_t, ino_t, off_t, time_t, long, time_t, long>, Facts> cache_;
};

// One row of /proc/net/{tcp,udp,raw,unix}[6].
struct SocketRow {
  std::string proto;
  std::string local;
  std::string remote;
  std::string state;
  std::string type;  // unix: stream, dgram, seqpacket
  std::string path;  // unix: bound path, "@..." abstract, "" unnamed
  std::int64_t uid = -1;
  int ip_protocol = -1;  // raw sockets: the protocol number in place of a port
  std::uint64_t inode = 0;
};

// "0100007F" (an __be32 printed as a host-order word) or 32 hex digits (four such words of an
// IPv6 address), see tcp4_seq_show() and tcp6_seq_show() in net/ipv4/tcp_ipv4.c.
std::string inetAddress(std::string_view hex, unsigned port, bool with_port) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (hex.size() == 8) {
    const std::uint32_t w =
        static_cast<std::uint32_t>(std::strtoul(std::string(hex).c_str(), nullptr, 16));
    in_addr a{};
    std::memcpy(&a, &w, 4);
    ::inet_ntop(AF_INET, &a, text, sizeof(text));
    return with_port ? absl::StrCat(text, ":", port) : std::string(text);
  }
  if (hex.size() == 32) {
    in6_addr a{};
    for (int i = 0; i < 4; ++i) {
      const std::uint32_t w = static_cast<std::uint32_t>(
          std::strtoul(std::string(hex.substr(8 * i, 8)).c_str(), nullptr, 16));
      std::memcpy(a.s6_addr + 4 * i, &w, 4);
    }
    ::inet_ntop(AF_INET6, &a, text, sizeof(text));
    return with_port ? absl::StrCat("[", text, "]:", port) : std::string(text);
  }
  return std::string(hex);
}

// include/net/tcp_states.h; datagram and raw sockets use the same numbers (ss(8) shows 7 as
// UNCONN for them).
std::string socketState(unsigned st, bool stream) {
  static constexpr const char* kNames[] = {
      "",      "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
      "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};
  if (!stream && st == 7) return "UNCONN";
  if (st > 0 && st < sizeof(kNames) / sizeof(kNames[0])) return kNames[st];
  return absl::StrFormat("0x%02X", st);
}

// Calls `fn` for each line of the open file, at most `max_lines` lines; false if it stopped
// there. Lines are read in pieces, so a large table never sits in memory whole.
bool forEachLine(int fd, std::size_t max_lines, const std::function<void(std::string_view)>& fn) {
  std::string pending;
  char buf[65536];
  std::size_t lines = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (lines++ >= max_lines) return false;
      fn(std::string_view(pending).substr(start, nl - start));
    }
    pending.erase(0, start);
    if (pending.size() > (1 << 20)) return false;  // no procfs line is this long
  }
  if (!pending.empty() && lines < max_lines) fn(pending);
  return true;
}

// Parses one line of /proc/net/<proto> (after the header) into `row`; false if it does not
// parse. Formats: tcp4_seq_show() in net/ipv4/tcp_ipv4.c (udp and raw alike), unix_seq_show()
// in net/unix/af_unix.c.
bool parseSocketLine(const std::string& proto, const std::string& line, SocketRow& row) {
  row.proto = proto;
  if (proto == "unix") {
    unsigned flags = 0, type = 0, st = 0;
    unsigned long long inode = 0;
    int used = 0;
    if (std::sscanf(line.c_str(), "%*[0-9a-fA-F]: %*x %*x %x %x %x %llu%n", &flags, &type, &st,
                    &inode, &used) < 4) {
      return false;
    }
    row.inode = inode;
    row.type = type == 1   ? "stream"
               : type == 2 ? "dgram"
               : type == 5 ? "seqpacket"
                           : std::to_string(type);
    row.state = (flags & 0x10000) != 0 ? "LISTEN"  // __SO_ACCEPTCON
                : st == 1              ? "UNCONNECTED"
                : st == 2              ? "CONNECTING"
                : st == 3              ? "CONNECTED"
                : st == 4              ? "DISCONNECTING"
                                       : std::to_string(st);
    const std::size_t at = std::min(line.size(), static_cast<std::size_t>(used));
    row.path = line.substr(at < line.size() && line[at] == ' ' ? at + 1 : at);
    return true;
  }
  char local[65] = {}, remote[65] = {};
  unsigned lport = 0, rport = 0, st = 0, uid = 0;
  unsigned long long inode = 0;
  if (std::sscanf(line.c_str(),
                  " %*u: %64[0-9A-Fa-f]:%x %64[0-9A-Fa-f]:%x %x %*x:%*x %*x:%*x %*x %u %*u %llu",
                  local, &lport, remote, &rport, &st, &uid, &inode) != 7) {
    return false;
  }
  const bool raw = absl::StartsWith(proto, "raw");
  row.local = inetAddress(local, lport, !raw);
  row.remote = inetAddress(remote, rport, !raw);
  if (raw) row.ip_protocol = static_cast<int>(lport);
  row.state = socketState(st, absl::StartsWith(proto, "tcp"));
  row.uid = uid;
  row.inode = inode;
  return true;
}

std::string socketJson(const SocketRow& row,
                       const std::unordered_map<std::uint64_t, std::vector<pid_t>>& owners) {
  std::string r = absl::StrCat("{\"proto\":", jsonString(row.proto));
  if (row.proto == "unix") {
    absl::StrAppend(&r, ",\"type\":", jsonString(row.type), ",", jsonField("path", row.path));
  } else {
    absl::StrAppend(&r, ",\"local\":", jsonString(row.local),
                    ",\"remote\":", jsonString(row.remote));
    if (row.ip_protocol >= 0) absl::StrAppend(&r, ",\"ip_protocol\":", row.ip_protocol);
    absl::StrAppend(&r, ",\"uid\":", row.uid);
  }
  absl::StrAppend(&r, ",\"state\":", jsonString(row.state), ",\"inode\":", row.inode,
                  ",\"pids\":[");
  if (auto it = owners.find(row.inode); it != owners.end()) {
    absl::StrAppend(&r, absl::StrJoin(it->second, ","));
  }
  return r + "]}";
}

// ---- the collection -----------------------------------------------------------------------------

struct Account {
  std::string name;
  std::string uid;
  std::string home;  // cleaned, absolute
};

class Collector {
 public:
  Collector(const TriageOptions& options, const std::string& out_path)
      : options_(options), limits_(options.limits), out_path_(out_path) {
    const std::size_t slash = out_path.rfind('/');
    out_dir_ = slash == std::string::npos ? "." : out_path.substr(0, slash + 1);
  }

  absl::StatusOr<TriageResult> run() {
    if (options_.root.empty() || options_.root[0] != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("triage root must be an absolute path, not \"", options_.root, "\""));
    }
    if (limits_.max_member_bytes == 0 || limits_.max_total_bytes == 0 || limits_.max_members == 0) {
      return absl::InvalidArgumentError("triage limits must be positive");
    }
    root_fd_.reset(::open(options_.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd_.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Failed to open triage root ", options_.root, ": ", std::strerror(errno)));
    }
    root_real_ = procFdPath(root_fd_.get());
    if (root_real_.empty()) root_real_ = cleanPath(options_.root);
    now_ = absl::Now();
    timespec real{}, boot{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    boot_time_ = absl::TimeFromTimespec(real) - absl::DurationFromTimespec(boot);
    WARDEN_RETURN_IF_ERROR(out_.create(out_path_));
    absl::StatusOr<TriageResult> result = collectAll();
    if (!result.ok()) out_.discard();
    return result;
  }

 private:
  // ---- bookkeeping ------------------------------------------------------------------------------

  std::uint64_t remaining() const {
    return total_ >= limits_.max_total_bytes ? 0 : limits_.max_total_bytes - total_;
  }
  // The most the next member may hold, and which limit that is.
  std::uint64_t capNow() const { return std::min(limits_.max_member_bytes, remaining()); }
  const char* capName() const {
    return limits_.max_member_bytes <= remaining() ? "max_member_bytes" : "max_total_bytes";
  }

  // Whether a new entry named `name` may be listed: not when that name is listed already (the
  // same file asked for twice), nor past max_members (then it is counted for limits_hit).
  bool admit(const std::string& name) {
    if (names_.contains(name)) return false;
    if (members_.size() >= limits_.max_members) {
      ++over_member_limit_;
      return false;
    }
    return true;
  }

  // The archived entry that extracting `name` would have to go through (a non-directory on
  // its path) or, for a non-directory, an archived entry below it; "" when there is none.
  // Physical names make this impossible short of a race; it keeps the archive sound anyway.
  std::string conflictFor(const std::string& name, bool directory) const {
    for (std::size_t pos = name.find('/'); pos != std::string::npos && pos + 1 < name.size();
         pos = name.find('/', pos + 1)) {
      if (leaves_.contains(name.substr(0, pos))) return name.substr(0, pos);
    }
    if (!directory) {
      const std::string below = name + "/";
      auto it = archived_.lower_bound(below);
      if (it != archived_.end() && absl::StartsWith(*it, below)) return *it;
    }
    return "";
  }

  void list(TriageMember m) {
    names_.insert(m.name);
    if (m.archived) {
      archived_.insert(m.name);
      if (m.type != "directory") leaves_.insert(m.name);
    }
    members_.push_back(std::move(m));
  }

  void noteCut(const TriageMember& m, std::uint64_t of, const char* limit) {
    limits_hit_.push_back(
        absl::StrFormat("%s truncated at %d of %d bytes (%s)", m.name, m.size, of, limit));
  }

  TriageMember outputMember(const std::string& name, const std::string& source) const {
    TriageMember m;
    m.name = name;
    m.type = "output";
    m.source = source;
    m.mode = 0444;
    m.mtime = now_;
    m.ctime = now_;
    return m;
  }

  // Lists an output that is not collected at all: no room left, or its source failed.
  void listUncollected(TriageMember m, std::string error) {
    if (error == kTotalLimitError) ++over_total_limit_;
    m.error = std::move(error);
    list(std::move(m));
  }

  absl::StatusOr<Spool> newSpool(const std::string& member, std::uint64_t cap) {
    const std::string what = absl::StrCat(out_path_, " (scratch space for ", member, ")");
    Fd fd(::open(out_dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!fd.ok()) {
      const int err = errno;
      if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL) {
        return errnoStatus("create", what, err);
      }
      fd.reset(::memfd_create("warden-triage", MFD_CLOEXEC));
      if (!fd.ok()) return errnoStatus("create", what, errno);
    }
    return Spool(std::move(fd), cap, what);
  }

  // Archives what `spool` holds as `m` (whose truncated and source_size the caller set).
  absl::Status archiveSpool(TriageMember m, Spool& spool) {
    WARDEN_RETURN_IF_ERROR(spool.status());
    m.size = spool.size();
    WARDEN_RETURN_IF_ERROR(out_.begin(
        TarEntry{m.name, '0', m.mode, m.uid, m.gid, absl::ToUnixSeconds(m.mtime), m.size, ""}));
    crypto::Sha256 h;
    std::uint64_t off = 0;
    buffer_.resize(kPiece);
    while (off < m.size) {
      const ssize_t n =
          ::pread(spool.fd(), buffer_.data(), std::min<std::uint64_t>(kPiece, m.size - off),
                  static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        return errnoStatus("read", absl::StrCat(out_path_, " (scratch space)"),
                           n == 0 ? EIO : errno);
      }
      const std::string_view piece(buffer_.data(), static_cast<std::size_t>(n));
      h.update(piece);
      WARDEN_RETURN_IF_ERROR(out_.data(piece));
      off += static_cast<std::uint64_t>(n);
    }
    WARDEN_RETURN_IF_ERROR(out_.end());
    m.sha256 = crypto::hex(h.finish());
    m.archived = true;
    total_ += m.size;
    list(std::move(m));
    return absl::OkStatus();
  }

  // An output (command, procfs file) archived from a spool that overflowed: `produced` is all
  // it wrote, or 0 when that is not known.
  absl::Status archiveOutput(TriageMember m, Spool& spool, std::uint64_t produced,
                             const char* limit) {
    m.truncated = spool.overflowed();
    m.source_size = produced;
    const std::string name = m.name;
    WARDEN_RETURN_IF_ERROR(archiveSpool(std::move(m), spool));
    if (spool.overflowed()) {
      limits_hit_.push_back(produced > spool.size()
                                ? absl::StrFormat("%s truncated at %d of %d bytes (%s)", name,
                                                  spool.size(), produced, limit)
                                : absl::StrFormat("%s truncated at %d bytes (%s); there was more",
                                                  name, spool.size(), limit));
    }
    return absl::OkStatus();
  }

  // A generated JSON array: "[\n" rec ",\n" rec ... "\n]\n", records added through `add` until
  // one does not fit. `fill` gets `add` and returns how many records it had in all.
  absl::Status addJsonTable(
      const std::string& name, const std::string& source, const std::string& what,
      const std::function<std::size_t(const std::function<bool(const std::string&)>&)>& fill) {
    if (!admit(name)) return absl::OkStatus();
    TriageMember m = outputMember(name, source);
    const std::uint64_t cap = capNow();
    const char* limit = capName();
    if (cap < kMinGeneratedCap) {
      listUncollected(std::move(m), remaining() < kMinGeneratedCap
                                        ? kTotalLimitError
                                        : "not collected: max_member_bytes is too small");
      return absl::OkStatus();
    }
    WARDEN_ASSIGN_OR_RETURN(Spool spool, newSpool(name, cap));
    spool.append("[");
    std::size_t listed = 0;
    bool full = false;
    const std::size_t all = fill([&](const std::string& record) {
      if (full) return false;
      if (!spool.append(absl::StrCat(listed == 0 ? "\n" : ",\n", record), 3)) {
        full = true;
        return false;
      }
      ++listed;
      return true;
    });
    spool.append("\n]\n");
    WARDEN_RETURN_IF_ERROR(spool.status());
    if (listed < all) {
      // The JSON stays valid but does not hold all there was: truncated, and said why.
      limits_hit_.push_back(
          absl::StrFormat("%s lists %d of %d %s (%s)", name, listed, all, what, limit));
      m.error = absl::StrFormat("%d of %d %s left out: %s reached", all - listed, all, what, limit);
      m.truncated = true;
    } else {
      m.source_size = spool.size();
    }
    return archiveSpool(std::move(m), spool);
  }

  // The physical path of an open directory or file inside the root ("/etc/cron.d"), or "" when
  // it cannot be told (the kernel's own name for it, from /proc/self/fd).
  std::string physicalPath(int fd) const {
    const std::string p = procFdPath(fd);
    if (p.empty() || p[0] != '/' || absl::EndsWith(p, " (deleted)")) return "";
    if (root_real_ == "/") return p;
    if (p == root_real_) return "/";
    if (absl::StartsWith(p, root_real_) && p[root_real_.size()] == '/') {
      return p.substr(root_real_.size());
    }
    return "";
  }

  static std::string procFdPath(int fd) {
    int err = 0;
    return readLinkAt(AT_FDCWD, absl::StrCat("/proc/self/fd/", fd).c_str(), &err);
  }

  // ---- files ------------------------------------------------------------------------------------

  TriageMember fileMember(const std::string& path, const std::string& requested, const char* type,
                          const struct stat& st) const {
    TriageMember m;
    m.name = memberName(path);
    m.type = type;
    m.source = requested.empty() ? path : requested;
    m.source_size = static_cast<std::uint64_t>(st.st_size);
    m.mode = st.st_mode & 07777;
    m.uid = st.st_uid;
    m.gid = st.st_gid;
    m.mtime = absl::TimeFromTimespec(st.st_mtim);
    m.ctime = absl::TimeFromTimespec(st.st_ctim);
    return m;
  }

  TarEntry tarEntryFor(const TriageMember& m, char type, std::uint64_t size) const {
    return TarEntry{m.name, type,         m.mode, m.uid, m.gid, absl::ToUnixSeconds(m.mtime),
                    size,   m.link_target};
  }

  // Collects `path` (absolute, inside the root). A directory is collected `depth` levels deep
  // (0: its own entry only). A missing path is listed as absent when `list_absent`.
  absl::Status collectPath(const std::string& requested, int depth, bool list_absent) {
    const std::string path = cleanPath(requested);
    if (path.empty() || path == "/") return absl::OkStatus();
    const std::size_t slash = path.rfind('/');
    const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    const std::string base = path.substr(slash + 1);
    Fd dir(openInRoot(root_fd_.get(), parent, O_PATH | O_DIRECTORY));
    if (!dir.ok()) {
      const int err = errno;
      if ((err == ENOENT || err == ENOTDIR) && !list_absent) return absl::OkStatus();
      TriageMember m;
      m.name = memberName(path);
      m.source = path;
      m.type = err == ENOENT || err == ENOTDIR ? "absent" : "unknown";
      m.error = errnoText("open", err);
      if (admit(m.name)) list(std::move(m));
      return absl::OkStatus();
    }
    std::string physical_parent = physicalPath(dir.get());
    if (physical_parent.empty()) physical_parent = parent;
    const std::string physical = joinPath(physical_parent, base);
    return collectAt(dir.get(), base, physical, physical == path ? "" : path, depth, list_absent);
  }

  // Collects `base` in `dirfd`, whose physical path is `path`; `requested` is the path that
  // was asked for when it differs.
  absl::Status collectAt(int dirfd, const std::string& base, const std::string& path,
                         const std::string& requested, int depth, bool list_absent) {
    struct stat st {};
    if (::fstatat(dirfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      if (err == ENOENT && !list_absent) return absl::OkStatus();
      TriageMember m;
      m.name = memberName(path);
      m.source = requested.empty() ? path : requested;
      m.type = err == ENOENT ? "absent" : "unknown";
      m.error = errnoText("stat", err);
      if (admit(m.name)) list(std::move(m));
      return absl::OkStatus();
    }
    if (st.st_dev == out_.dev() && st.st_ino == out_.ino()) return absl::OkStatus();
    if (S_ISLNK(st.st_mode)) return addSymlink(dirfd, base, path, requested, st);
    if (S_ISDIR(st.st_mode)) return addDirectory(dirfd, base, path, requested, st, depth);
    if (S_ISREG(st.st_mode)) return addRegular(dirfd, base, path, requested, st);
    addSpecial(path, requested, st);
    return absl::OkStatus();
  }

  void addSpecial(const std::string& path, const std::string& requested, const struct stat& st) {
    TriageMember m = fileMember(path, requested, "special", st);
    if (!admit(m.name)) return;
    const char* kind = S_ISFIFO(st.st_mode)   ? "FIFO"
                       : S_ISCHR(st.st_mode)  ? "character device"
                       : S_ISBLK(st.st_mode)  ? "block device"
                       : S_ISSOCK(st.st_mode) ? "socket"
                                              : "unknown file type";
    m.source_size = 0;
    m.error = absl::StrCat("not collected: special file (", kind, ")");
    list(std::move(m));
  }

  absl::Status addSymlink(int dirfd, const std::string& base, const std::string& path,
                          const std::string& requested, const struct stat& st) {
    TriageMember m = fileMember(path, requested, "symlink", st);
    if (!admit(m.name)) return absl::OkStatus();
    int err = 0;
    m.link_target = readLinkAt(dirfd, base.c_str(), &err);
    if (err != 0) {
      m.error = errnoText("readlink", err);
    } else if (const std::string in_way = conflictFor(m.name, false); !in_way.empty()) {
      m.error = absl::StrCat("not archived: its name clashes with the archived ", in_way);
    } else {
      WARDEN_RETURN_IF_ERROR(out_.begin(tarEntryFor(m, '2', 0)));
      WARDEN_RETURN_IF_ERROR(out_.end());
      m.archived = true;
    }
    list(std::move(m));
    return absl::OkStatus();
  }

  absl::Status addDirectory(int dirfd, const std::string& base, const std::string& path,
                            const std::string& requested, const struct stat& st, int depth) {
    TriageMember m = fileMember(path, requested, "directory", st);
    m.name += "/";
    m.source_size = 0;
    if (!admit(m.name)) return absl::OkStatus();
    Fd fd(openDirectoryNoFollow(dirfd, base.c_str()));
    const int open_err = errno;
    if (const std::string in_way = conflictFor(m.name, true); !in_way.empty()) {
      m.error = absl::StrCat("not archived: its name clashes with the archived ", in_way);
      list(std::move(m));
      return absl::OkStatus();
    }
    WARDEN_RETURN_IF_ERROR(out_.begin(tarEntryFor(m, '5', 0)));
    WARDEN_RETURN_IF_ERROR(out_.end());
    m.archived = true;
    if (depth > 0 && !fd.ok()) m.error = errnoText("open directory", open_err);
    list(std::move(m));
    if (depth <= 0 || !fd.ok()) return absl::OkStatus();

    const std::size_t index = members_.size() - 1;
    std::vector<std::string> entries;
    std::size_t more = 0;
    if (DIR* d = ::fdopendir(::dup(fd.get())); d != nullptr) {
      while (dirent* e = ::readdir(d)) {
        const std::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        if (entries.size() > limits_.max_members) {
          ++more;
          continue;
        }
        entries.emplace_back(n);
      }
      ::closedir(d);
    } else {
      members_[index].error = errnoText("list directory", errno);
    }
    if (more > 0) {
      limits_hit_.push_back(
          absl::StrFormat("%s has %d entries more than max_members (%d): those "
                          "were not looked at",
                          m.name, more, limits_.max_members));
    }
    std::sort(entries.begin(), entries.end());
    for (const std::string& e : entries) {
      WARDEN_RETURN_IF_ERROR(collectAt(fd.get(), e, joinPath(path, e),
                                       requested.empty() ? "" : joinPath(requested, e), depth - 1,
                                       true));
    }
    return absl::OkStatus();
  }

  absl::Status addRegular(int dirfd, const std::string& base, const std::string& path,
                          const std::string& requested, const struct stat& lst) {
    TriageMember m = fileMember(path, requested, "file", lst);
    if (!admit(m.name)) return absl::OkStatus();
    Fd fd(openNoFollow(dirfd, base.c_str()));
    struct stat st {};
    if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
      m.error = errnoText("open", errno);
      list(std::move(m));
      return absl::OkStatus();
    }
    if (!S_ISREG(st.st_mode)) {  // replaced between the lstat and the open
      addSpecial(path, requested, st);
      return absl::OkStatus();
    }
    m = fileMember(path, requested, "file", st);
    const auto inode = std::make_pair(st.st_dev, st.st_ino);
    if (auto it = inodes_.find(inode); it != inodes_.end()) {
      m.type = "hardlink";
      m.link_target = it->second;
      if (const std::string in_way = conflictFor(m.name, false); !in_way.empty()) {
        m.error = absl::StrCat("not archived: its name clashes with the archived ", in_way);
      } else {
        WARDEN_RETURN_IF_ERROR(out_.begin(tarEntryFor(m, '1', 0)));
        WARDEN_RETURN_IF_ERROR(out_.end());
        m.archived = true;
      }
      list(std::move(m));
      return absl::OkStatus();
    }
    if (const std::string in_way = conflictFor(m.name, false); !in_way.empty()) {
      m.error = absl::StrCat("not archived: its name clashes with the archived ", in_way);
      list(std::move(m));
      return absl::OkStatus();
    }
    const std::uint64_t source_size = static_cast<std::uint64_t>(st.st_size);
    const std::uint64_t cap = capNow();
    const char* limit = capName();
    if (source_size > 0 && cap == 0) {
      listUncollected(std::move(m), kTotalLimitError);
      return absl::OkStatus();
    }
    const std::uint64_t size = std::min(source_size, cap);
    m.truncated = size < source_size;
    WARDEN_RETURN_IF_ERROR(out_.begin(tarEntryFor(m, '0', size)));
    crypto::Sha256 h;
    buffer_.resize(kPiece);
    std::uint64_t done = 0;
    while (done < size) {
      const ssize_t n =
          ::read(fd.get(), buffer_.data(), std::min<std::uint64_t>(kPiece, size - done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // The header is written: fill the member up to its size, and say so.
        m.error = n == 0 ? absl::StrFormat(
                               "file shrank while being read: %d of %d bytes read; "
                               "the rest of the member is zeros",
                               done, size)
                         : absl::StrFormat(
                               "read failed at offset %d: %s; the rest of the "
                               "member is zeros",
                               done, std::strerror(errno));
        while (done < size) {
          const std::size_t z = std::min<std::uint64_t>(sizeof(kZeros), size - done);
          h.update(std::string_view(kZeros, z));
          WARDEN_RETURN_IF_ERROR(out_.data(std::string_view(kZeros, z)));
          done += z;
        }
        break;
      }
      const std::string_view piece(buffer_.data(), static_cast<std::size_t>(n));
      h.update(piece);
      WARDEN_RETURN_IF_ERROR(out_.data(piece));
      done += static_cast<std::uint64_t>(n);
    }
    WARDEN_RETURN_IF_ERROR(out_.end());
    struct stat after {};
    if (m.error.empty() && !m.truncated && ::fstat(fd.get(), &after) == 0 &&
        after.st_size != st.st_size) {
      m.error = absl::StrFormat(
          "file changed size while being read: %d bytes when opened, %d "
          "after; the member holds the first %d",
          st.st_size, after.st_size, size);
    }
    m.size = size;
    m.sha256 = crypto::hex(h.finish());
    m.archived = true;
    total_ += size;
    if (m.truncated) noteCut(m, source_size, limit);
    inodes_.emplace(inode, m.name);
    list(std::move(m));
    return absl::OkStatus();
  }

  // Collects the entries of `dir` whose names start with one of `prefixes`, newest first (so
  // the total size limit, if it bites, leaves out the oldest rotated logs).
  absl::Status collectMatching(const std::string& dir, const std::vector<std::string>& prefixes) {
    Fd fd(openInRoot(root_fd_.get(), dir, O_RDONLY | O_DIRECTORY));
    if (!fd.ok()) return absl::OkStatus();
    std::string physical = physicalPath(fd.get());
    if (physical.empty()) physical = cleanPath(dir);
    std::vector<std::pair<std::int64_t, std::string>> found;  // (-mtime ns, name)
    if (DIR* d = ::fdopendir(::dup(fd.get())); d != nullptr) {
      while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        if (std::none_of(prefixes.begin(), prefixes.end(),
                         [&](const std::string& p) { return absl::StartsWith(name, p); })) {
          continue;
        }
        if (found.size() > limits_.max_members) break;
        struct stat st {};
        std::int64_t mtime = 0;
        if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
          mtime = absl::ToUnixNanos(absl::TimeFromTimespec(st.st_mtim));
        }
        found.emplace_back(-mtime, name);
      }
      ::closedir(d);
    }
    std::sort(found.begin(), found.end());
    for (const auto& [unused, name] : found) {
      const std::string path = joinPath(physical, name);
      const std::string requested = joinPath(dir, name);
      WARDEN_RETURN_IF_ERROR(
          collectAt(fd.get(), name, path, requested == path ? std::string() : requested, 0, true));
    }
    return absl::OkStatus();
  }

  // Reads a small file inside the root for parsing (passwd, sshd_config); "" when absent.
  std::string readInRoot(const std::string& path, std::size_t max = kMaxConfigBytes) {
    Fd fd(openInRoot(root_fd_.get(), path, O_RDONLY | O_NONBLOCK));
    struct stat st {};
    if (!fd.ok() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return "";
    std::string out;
    readAll(fd.get(), out, max);
    return out;
  }

  std::vector<Account> accounts() {
    std::vector<Account> out;
    const std::string passwd = readInRoot("/etc/passwd");
    for (absl::string_view line : absl::StrSplit(passwd, '\n')) {
      if (out.size() >= kMaxAccounts) {
        limits_hit_.push_back(absl::StrFormat(
            "/etc/passwd has more than %d accounts: only the first %d were looked at", kMaxAccounts,
            kMaxAccounts));
        break;
      }
      const std::vector<absl::string_view> f = absl::StrSplit(line, ':');
      if (f.size() < 7 || f[0].empty()) continue;
      const std::string home = cleanPath(std::string(f[5]));
      if (home.empty()) continue;
      out.push_back(Account{std::string(f[0]), std::string(f[2]), home});
    }
    return out;
  }

  // AuthorizedKeysFile values of sshd_config and sshd_config.d/*.conf (sshd_config(5)).
  std::vector<std::string> authorizedKeysPatterns() {
    std::vector<std::string> configs = {"/etc/ssh/sshd_config"};
    if (Fd d(openInRoot(root_fd_.get(), "/etc/ssh/sshd_config.d", O_RDONLY | O_DIRECTORY));
        d.ok()) {
      if (DIR* dir = ::fdopendir(::dup(d.get())); dir != nullptr) {
        while (dirent* e = ::readdir(dir)) {
          if (absl::EndsWith(e->d_name, ".conf") && configs.size() < 64) {
            configs.push_back(absl::StrCat("/etc/ssh/sshd_config.d/", e->d_name));
          }
        }
        ::closedir(dir);
      }
    }
    std::vector<std::string> patterns;
    for (const std::string& config : configs) {
      for (absl::string_view line : absl::StrSplit(readInRoot(config, 1 << 20), '\n')) {
        std::vector<absl::string_view> words =
            absl::StrSplit(line, absl::ByAnyChar(" \t="), absl::SkipEmpty());
        if (words.size() < 2 || !absl::EqualsIgnoreCase(words[0], "AuthorizedKeysFile")) continue;
        for (std::size_t i = 1; i < words.size() && patterns.size() < kMaxKeyFilePatterns; ++i) {
          absl::string_view w = absl::StripPrefix(absl::StripSuffix(words[i], "\""), "\"");
          if (!w.empty() && w != "none") patterns.emplace_back(w);
        }
      }
    }
    return patterns;
  }

  // An AuthorizedKeysFile token for one account: %% %h %u %U expanded, relative to the home
  // directory; "" when it uses a token this does not know.
  static std::string expandKeysPattern(std::string_view pattern, const Account& a) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] != '%') {
        out += pattern[i];
        continue;
      }
      if (++i == pattern.size()) return "";
      switch (pattern[i]) {
        case '%':
          out += '%';
          break;
        case 'h':
          out += a.home;
          break;
        case 'u':
          out += a.name;
          break;
        case 'U':
          out += a.uid;
          break;
        default:
          return "";
      }
    }
    return out.empty() || out[0] == '/' ? cleanPath(out) : joinPath(a.home, out);
  }

  absl::Status collectAccounts() {
    const std::vector<Account> all = accounts();
    const std::vector<std::string> patterns = authorizedKeysPatterns();
    std::set<std::string> homes;
    for (const Account& a : all) {
      if (homes.insert(a.home).second) {
        // The home's own entry (owner, mode, mtime) only where it is the account's: system
        // accounts' "homes" (/usr/sbin, /dev, /bin) are not evidence about them.
        Fd home(openInRoot(root_fd_.get(), a.home, O_PATH | O_NOFOLLOW));
        struct stat st {};
        if (home.ok() && ::fstat(home.get(), &st) == 0 && std::to_string(st.st_uid) == a.uid) {
          WARDEN_RETURN_IF_ERROR(collectPath(a.home, 0, false));
        }
        WARDEN_RETURN_IF_ERROR(collectPath(joinPath(a.home, ".ssh"), 0, false));
        for (const char* f : kHomeFiles) {
          WARDEN_RETURN_IF_ERROR(collectPath(joinPath(a.home, f), 0, false));
        }
        WARDEN_RETURN_IF_ERROR(
            collectPath(joinPath(a.home, ".config/systemd/user"), kTreeDepth, false));
      }
      for (const std::string& p : patterns) {
        const std::string path = expandKeysPattern(p, a);
        if (!path.empty()) WARDEN_RETURN_IF_ERROR(collectPath(path, 0, false));
      }
    }
    return absl::OkStatus();
  }

  // ---- outputs ----------------------------------------------------------------------------------

  // A procfs file (no size until read) as an output member.
  absl::Status addProcFile(const std::string& name, const std::string& path) {
    if (!admit(name)) return absl::OkStatus();
    TriageMember m = outputMember(name, path);
    const std::uint64_t cap = capNow();
    const char* limit = capName();
    if (cap == 0) {
      listUncollected(std::move(m), kTotalLimitError);
      return absl::OkStatus();
    }
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.ok()) {
      listUncollected(std::move(m), errnoText("open", errno));
      return absl::OkStatus();
    }
    WARDEN_ASSIGN_OR_RETURN(Spool spool, newSpool(name, cap));
    std::uint64_t produced = 0;
    std::string error;
    buffer_.resize(kPiece);
    for (;;) {
      const ssize_t n = ::read(fd.get(), buffer_.data(), buffer_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) error = errnoText("read", errno);
      if (n <= 0) break;
      produced += static_cast<std::uint64_t>(n);
      spool.appendSome(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
      if (spool.overflowed() || !spool.status().ok()) break;
    }
    m.error = error;
    return archiveOutput(std::move(m), spool, spool.overflowed() ? 0 : produced, limit);
  }

  // An external tool's stdout as an output member; a missing tool is listed with the reason.
  absl::Status addCommand(const std::string& name, const std::string& tool,
                          const std::vector<std::string>& args) {
    if (!admit(name)) return absl::OkStatus();
    std::vector<std::string> argv = {tool};
    argv.insert(argv.end(), args.begin(), args.end());
    TriageMember m = outputMember(name, absl::StrJoin(argv, " "));
    absl::StatusOr<std::string> path = linux_os::findTool(tool);
    if (!path.ok()) {
      listUncollected(std::move(m), absl::StrCat("not collected: ", path.status().message()));
      return absl::OkStatus();
    }
    argv[0] = *path;
    m.source = absl::StrJoin(argv, " ");
    const std::uint64_t cap = capNow();
    const char* limit = capName();
    if (cap == 0) {
      listUncollected(std::move(m), kTotalLimitError);
      return absl::OkStatus();
    }
    WARDEN_ASSIGN_OR_RETURN(Spool spool, newSpool(name, cap));
    absl::StatusOr<CommandRun> run = runCommand(argv, spool, options_.command_timeout);
    WARDEN_RETURN_IF_ERROR(spool.status());
    if (!run.ok()) {
      listUncollected(std::move(m), std::string(run.status().message()));
      return absl::OkStatus();
    }
    const std::string err = std::string(absl::StripAsciiWhitespace(run->err));
    if (run->timed_out) {
      m.error = absl::StrFormat("killed after %s; the output written until then is kept",
                                absl::FormatDuration(options_.command_timeout));
    } else if (run->exit_code != 0) {
      m.error = absl::StrFormat("exit status %d%s%s", run->exit_code, err.empty() ? "" : ": ",
                                err.substr(0, 512));
    } else if (!err.empty()) {
      // Exit 0 but something to say ("No journal files were found.", iptables-nft's "legacy
      // tables present"): worth as much as the output.
      m.error = absl::StrCat("stderr: ", err.substr(0, 512));
    }
    return archiveOutput(std::move(m), spool, run->timed_out ? 0 : run->produced, limit);
  }

  absl::Status addHostFacts() {
    if (!admit("commands/host.json")) return absl::OkStatus();
    char host[256] = {};
    ::gethostname(host, sizeof(host) - 1);
    hostname_ = host;
    utsname uts{};
    ::uname(&uts);
    std::string version, boot_id, uptime;
    readSmall(AT_FDCWD, "/proc/version", version);
    readSmall(AT_FDCWD, "/proc/sys/kernel/random/boot_id", boot_id);
    readSmall(AT_FDCWD, "/proc/uptime", uptime);
    boot_id_ = std::string(absl::StripAsciiWhitespace(boot_id));
    const double up = std::strtod(uptime.c_str(), nullptr);
    const std::string os_release = readInRoot("/etc/os-release", 64 << 10);
    const std::string json = absl::StrCat(
        "{", jsonField("hostname", hostname_), ",", jsonField("kernel_release", uts.release), ",",
        jsonField("machine", uts.machine), ",",
        jsonField("proc_version", std::string(absl::StripAsciiWhitespace(version))), ",",
        jsonField("boot_id", boot_id_), ",\"uptime_seconds\":", absl::StrFormat("%.2f", up),
        ",\"boot_time\":", jsonString(rfc3339(boot_time_)),
        ",\"collected_at\":", jsonString(rfc3339(now_)), ",", jsonField("root", options_.root),
        ",\"agent_pid\":", ::getpid(), ",", jsonField("os_release", os_release), "}\n");
    TriageMember m = outputMember("commands/host.json", "gethostname, uname, /proc, os-release");
    const char* limit = capName();
    WARDEN_ASSIGN_OR_RETURN(Spool spool, newSpool(m.name, capNow()));
    spool.appendSome(json);
    return archiveOutput(std::move(m), spool, json.size(), limit);
  }

  // commands/processes.json: one object per /proc/PID, by pid. Kernel threads are marked and
  // have no exe, argv or cwd. start_time is boot time plus field 22 of /proc/PID/stat.
  absl::Status addProcesses() {
    Fd proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!proc.ok()) {
      if (admit("commands/processes.json")) {
        listUncollected(outputMember("commands/processes.json", "/proc"),
                        errnoText("open /proc", errno));
      }
      return absl::OkStatus();
    }
    std::vector<pid_t> pids;
    if (DIR* d = ::fdopendir(::dup(proc.get())); d != nullptr) {
      while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        if (pids.size() >= kMaxProcessesScanned) {
          limits_hit_.push_back(
              absl::StrFormat("more than %d processes: only the first %d were read",
                              kMaxProcessesScanned, kMaxProcessesScanned));
          break;
        }
        pids.push_back(static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10)));
      }
      ::closedir(d);
    }
    std::sort(pids.begin(), pids.end());
    ExeHasher hasher(limits_.max_member_bytes, limits_.max_total_bytes);
    const long hz = ::sysconf(_SC_CLK_TCK);
    const std::int64_t ticks = hz > 0 ? hz : 100;
    WARDEN_RETURN_IF_ERROR(addJsonTable(
        "commands/processes.json", "/proc/PID/{stat,status,loginuid,sessionid,cmdline,exe,cwd}",
        "processes", [&](const auto& add) {
          std::size_t all = 0;
          for (pid_t pid : pids) {
            std::string record = processRecord(proc.get(), pid, hasher, ticks);
            if (record.empty()) continue;  // gone meanwhile
            ++all;
            add(record);
          }
          return all;
        }));
    if (hasher.partial() > 0) {
      limits_hit_.push_back(absl::StrFormat(
          "%d executables are larger than max_member_bytes (%d): only that many bytes of each "
          "were hashed (exe_hash_truncated in commands/processes.json)",
          hasher.partial(), limits_.max_member_bytes));
    }
    if (hasher.unhashed() > 0) {
      limits_hit_.push_back(absl::StrFormat(
          "%d executables were not hashed: max_total_bytes (%d) of executable hashing used up",
          hasher.unhashed(), limits_.max_total_bytes));
    }
    return absl::OkStatus();
  }

  std::string processRecord(int proc_fd, pid_t pid, ExeHasher& hasher, std::int64_t ticks) {
    std::string stat;
    if (!readSmall(proc_fd, absl::StrCat(pid, "/stat"), stat)) return "";
    ProcStat st;
    if (!parseProcStat(stat, &st)) return "";
    // PF_KTHREAD alone: "pid 2 or a child of it" would mark a container's ordinary processes.
    const bool kthread = (st.flags & kPfKthread) != 0;
    const absl::Time started =
        boot_time_ + absl::Milliseconds(static_cast<std::int64_t>(st.start_ticks) * 1000 / ticks);
    std::string r = absl::StrFormat(
        "{\"pid\":%d,\"ppid\":%d,%s,\"state\":\"%c\",\"kernel_thread\":%s,\"pgrp\":%d,"
        "\"sid\":%d,%s,\"tty_nr\":%d,\"start_ticks\":%d,\"start_time\":%s",
        pid, st.ppid, jsonField("comm", st.comm), st.state, kthread ? "true" : "false", st.pgrp,
        st.session, jsonField("tty", ttyName(static_cast<unsigned>(st.tty_nr))), st.tty_nr,
        st.start_ticks, jsonString(rfc3339(started)));
    std::string status;
    if (readSmall(proc_fd, absl::StrCat(pid, "/status"), status, 16384)) {
      unsigned ids[4] = {0, 0, 0, 0};
      if (const std::size_t at = status.find("\nUid:");
          at != std::string::npos &&
          std::sscanf(status.c_str() + at, "\nUid: %u %u", &ids[0], &ids[1]) == 2) {
        absl::StrAppendFormat(&r, ",\"uid\":%d,\"euid\":%d", ids[0], ids[1]);
      }
      if (const std::size_t at = status.find("\nGid:");
          at != std::string::npos &&
          std::sscanf(status.c_str() + at, "\nGid: %u %u", &ids[2], &ids[3]) == 2) {
        absl::StrAppendFormat(&r, ",\"gid\":%d,\"egid\":%d", ids[2], ids[3]);
      }
    }
    std::string id;
    absl::StrAppend(
        &r, ",\"loginuid\":",
        readSmall(proc_fd, absl::StrCat(pid, "/loginuid"), id, 32) ? idJson(id) : "null");
    absl::StrAppend(
        &r, ",\"sessionid\":",
        readSmall(proc_fd, absl::StrCat(pid, "/sessionid"), id, 32) ? idJson(id) : "null");
    if (kthread) return r + "}";

    int err = 0;
    const std::string exe = readLinkAt(proc_fd, absl::StrCat(pid, "/exe").c_str(), &err);
    if (err != 0) {
      absl::StrAppend(&r, ",", jsonField("exe_error", errnoText("readlink", err)));
    } else {
      absl::StrAppend(&r, ",", jsonField("exe", exe));
      const ExeHasher::Facts f = hasher.hash(proc_fd, pid);
      absl::StrAppendFormat(&r, ",\"exe_deleted\":%s,\"exe_dev\":\"%d:%d\",\"exe_inode\":%d",
                            f.deleted ? "true" : "false", major(f.dev), minor(f.dev), f.ino);
      if (f.sha256.empty()) {
        absl::StrAppend(&r, ",", jsonField("exe_hash_error", f.error));
      } else {
        absl::StrAppendFormat(&r,
                              ",\"exe_sha256\":\"%s\",\"exe_size\":%d,\"exe_hashed_bytes\":%d,"
                              "\"exe_hash_truncated\":%s",
                              f.sha256, f.size, f.hashed, f.partial ? "true" : "false");
      }
    }
    std::string cmdline;
    if (readSmall(proc_fd, absl::StrCat(pid, "/cmdline"), cmdline, kMaxArgvBytes + 1)) {
      const bool cut = cmdline.size() > kMaxArgvBytes;
      if (cut) cmdline.resize(kMaxArgvBytes);
      if (!cmdline.empty() && cmdline.back() == '\0') cmdline.pop_back();
      std::vector<std::string> argv;
      if (!cmdline.empty()) argv = absl::StrSplit(cmdline, '\0');
      absl::StrAppend(&r, ",\"cmdline\":", jsonArray(argv));
      if (!validUtf8(cmdline)) absl::StrAppend(&r, ",\"cmdline_hex\":", jsonArray(argv, true));
      absl::StrAppend(&r, ",\"cmdline_truncated\":", cut ? "true" : "false");
    }
    const std::string cwd = readLinkAt(proc_fd, absl::StrCat(pid, "/cwd").c_str(), &err);
    if (err == 0) absl::StrAppend(&r, ",", jsonField("cwd", cwd));
    const std::string root = readLinkAt(proc_fd, absl::StrCat(pid, "/root").c_str(), &err);
    if (err == 0) absl::StrAppend(&r, ",", jsonField("root", root));
    return r + "}";
  }

  // commands/sockets.json: the agent's network namespace's sockets, each with the pids that
  // hold a descriptor for it (the "socket:[INODE]" links in /proc/PID/fd). Two passes over the
  // tables, so no more than the inodes and their owners are held in memory: the first finds
  // the inodes, the second writes the rows (a socket opened in between has no owners listed).
  absl::Status addSockets() {
    std::unordered_map<std::uint64_t, std::vector<pid_t>> owners;
    std::vector<std::string> problems;
    const bool complete = forEachSocket(
        [&](const SocketRow& row) {
          if (row.inode != 0) owners[row.inode];
        },
        &problems);
    if (!complete) {
      limits_hit_.push_back(absl::StrFormat(
          "commands/sockets.json: more than %d lines in a socket table, the rest were not read",
          kMaxSocketRows));
    }
    if (!owners.empty() && !findSocketOwners(owners)) {
      limits_hit_.push_back(absl::StrFormat(
          "commands/sockets.json: more than %d open descriptors, the owners of some sockets "
          "were not looked for",
          kMaxFdsScanned));
    }
    const std::size_t before = members_.size();
    WARDEN_RETURN_IF_ERROR(addJsonTable(
        "commands/sockets.json", "/proc/self/net/{tcp,tcp6,udp,udp6,raw,raw6,unix}, /proc/PID/fd",
        "sockets", [&](const auto& add) {
          std::size_t all = 0;
          forEachSocket(
              [&](const SocketRow& row) {
                ++all;
                add(socketJson(row, owners));
              },
              nullptr);
          return all;
        }));
    if (!problems.empty() && members_.size() > before && members_.back().error.empty()) {
      members_.back().error = absl::StrJoin(problems, "; ");
    }
    return absl::OkStatus();
  }

  // Calls `fn` for every row of the socket tables, at most kMaxSocketRows per table; false if
  // a table had more. Tables that cannot be opened (other than missing, e.g. IPv6 disabled) go
  // to `problems`.
  static bool forEachSocket(const std::function<void(const SocketRow&)>& fn,
                            std::vector<std::string>* problems) {
    bool complete = true;
    for (const char* table : {"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix"}) {
      const std::string path = absl::StrCat("/proc/self/net/", table);
      Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd.ok()) {
        if (errno != ENOENT && problems != nullptr) {
          problems->push_back(errnoText(absl::StrCat("open ", path), errno));
        }
        continue;
      }
      bool header = true;
      complete &= forEachLine(fd.get(), kMaxSocketRows + 1, [&](std::string_view line) {
        if (std::exchange(header, false)) return;
        SocketRow row;
        if (parseSocketLine(table, std::string(line), row)) fn(row);
      });
    }
    return complete;
  }

  // Adds to `owners` (keyed by the inodes wanted) the pids holding each socket; false if it
  // stopped at kMaxFdsScanned descriptors.
  static bool findSocketOwners(std::unordered_map<std::uint64_t, std::vector<pid_t>>& owners) {
    Fd proc(::open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* d = proc.ok() ? ::fdopendir(::dup(proc.get())) : nullptr;
    if (d == nullptr) return true;
    std::size_t seen = 0;
    bool complete = true;
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      const pid_t pid = static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10));
      Fd fd_dir(::openat(proc.get(), absl::StrCat(pid, "/fd").c_str(),
                         O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      DIR* fds = fd_dir.ok() ? ::fdopendir(fd_dir.get()) : nullptr;
      if (fds == nullptr) continue;
      fd_dir.release();  // closedir() closes it
      while (dirent* f = ::readdir(fds)) {
        if (f->d_name[0] == '.') continue;
        if (++seen > kMaxFdsScanned) {
          complete = false;
          break;
        }
        int err = 0;
        const std::string target = readLinkAt(::dirfd(fds), f->d_name, &err);
        unsigned long long inode = 0;
        if (err == 0 && std::sscanf(target.c_str(), "socket:[%llu]", &inode) == 1) {
          if (auto it = owners.find(inode); it != owners.end()) {
            if (it->second.empty() || it->second.back() != pid) it->second.push_back(pid);
          }
        }
      }
      ::closedir(fds);
      if (!complete) break;
    }
    ::closedir(d);
    return complete;
  }

  // commands/vendor-units.json: the package-managed unit directories by name and hash only.
  absl::Status addVendorUnits() {
    std::set<std::pair<dev_t, ino_t>> seen;
    std::vector<std::pair<Fd, std::string>> tops;
    for (const char* dir : {"/usr/lib/systemd/system", "/usr/lib/systemd/user",
                            "/lib/systemd/system", "/lib/systemd/user"}) {
      Fd fd(openInRoot(root_fd_.get(), dir, O_RDONLY | O_DIRECTORY));
      struct stat st {};
      if (!fd.ok() || ::fstat(fd.get(), &st) != 0) continue;
      if (!seen.insert({st.st_dev, st.st_ino}).second) continue;  // merged /usr: /lib -> usr/lib
      std::string physical = physicalPath(fd.get());
      tops.emplace_back(std::move(fd), physical.empty() ? dir : physical);
    }
    if (tops.empty()) return absl::OkStatus();
    return addJsonTable(
        "commands/vendor-units.json",
        "/usr/lib/systemd/{system,user}, /lib/systemd/{system,user} (names and SHA-256 only)",
        "unit directory entries", [&](const auto& add) {
          std::size_t all = 0;
          for (const auto& [fd, path] : tops) vendorEntries(fd.get(), path, 2, all, add);
          return all;
        });
  }

  void vendorEntries(int dirfd, const std::string& path, int depth, std::size_t& all,
                     const std::function<bool(const std::string&)>& add) {
    std::vector<std::string> names;
    if (DIR* d = ::fdopendir(::dup(dirfd)); d != nullptr) {
      while (dirent* e = ::readdir(d)) {
        const std::string_view n = e->d_name;
        if (n != "." && n != ".." && names.size() < kMaxVendorUnits) names.emplace_back(n);
      }
      ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      if (all >= kMaxVendorUnits) return;
      struct stat st {};
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      const std::string full = joinPath(path, name);
      const char* type = S_ISREG(st.st_mode)   ? "file"
                         : S_ISLNK(st.st_mode) ? "symlink"
                         : S_ISDIR(st.st_mode) ? "directory"
                                               : "special";
      std::string r = absl::StrFormat(
          "{%s,\"type\":\"%s\",\"size\":%d,\"mode\":\"%s\",\"uid\":%d,\"gid\":%d,\"mtime\":%s",
          jsonField("path", full), type, st.st_size, octalMode(st.st_mode), st.st_uid, st.st_gid,
          jsonString(rfc3339(absl::TimeFromTimespec(st.st_mtim))));
      if (S_ISLNK(st.st_mode)) {
        int err = 0;
        const std::string target = readLinkAt(dirfd, name.c_str(), &err);
        absl::StrAppend(&r, ",",
                        jsonField("target", err == 0 ? target : errnoText("readlink", err)));
      } else if (S_ISREG(st.st_mode)) {
        Fd fd(openNoFollow(dirfd, name.c_str()));
        crypto::Sha256 h;
        std::uint64_t hashed = 0;
        const std::uint64_t want = std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_size),
                                                           limits_.max_member_bytes);
        buffer_.resize(kPiece);
        while (fd.ok() && hashed < want) {
          const ssize_t n =
              ::read(fd.get(), buffer_.data(), std::min<std::uint64_t>(kPiece, want - hashed));
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) break;
          h.update(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
          hashed += static_cast<std::uint64_t>(n);
        }
        if (fd.ok()) {
          absl::StrAppendFormat(&r, ",\"sha256\":\"%s\",\"hashed_bytes\":%d",
                                crypto::hex(h.finish()), hashed);
        }
      }
      ++all;
      add(r + "}");
      if (S_ISDIR(st.st_mode) && depth > 1) {
        Fd sub(openDirectoryNoFollow(dirfd, name.c_str()));
        if (sub.ok()) vendorEntries(sub.get(), full, depth - 1, all, add);
      }
    }
  }

  // commands/lastlog.json. lastlog(8)'s file is indexed by uid (record uid at uid * 292 bytes),
  // so one high uid (nfsnobody, a container's 100000+) makes a sparse file of gigabytes. The raw
  // file is a member like any other (cut at the limit; its holes read as zeros); this table
  // lists the records that are not all zero, found with SEEK_DATA/SEEK_HOLE (lseek(2)) so holes
  // are never read, scanning at most kMaxLastlogScanBytes of data.
  absl::Status addLastlogRecords() {
    Fd fd(openInRoot(root_fd_.get(), "/var/log/lastlog", O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
    struct stat st {};
    if (!fd.ok() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return absl::OkStatus();
    constexpr std::size_t kRecord = sizeof(struct lastlog);
    const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    bool scan_cut = false;
    WARDEN_RETURN_IF_ERROR(addJsonTable(
        "commands/lastlog.json", "/var/log/lastlog (records that are not empty)", "records",
        [&](const auto& add) {
          std::size_t all = 0;
          std::uint64_t scanned = 0;
          std::vector<char> buf(kRecord * 3591);  // ~1 MiB of whole records
          off_t off = 0;
          while (static_cast<std::uint64_t>(off) < size) {
            const off_t data = ::lseek(fd.get(), off, SEEK_DATA);
            if (data < 0) break;  // ENXIO: no data after `off`
            off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
            if (hole < 0) hole = static_cast<off_t>(size);
            std::uint64_t pos = static_cast<std::uint64_t>(data) / kRecord * kRecord;
            while (pos < static_cast<std::uint64_t>(hole)) {
              if (scanned >= kMaxLastlogScanBytes) {
                scan_cut = true;
                return all;
              }
              const ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(pos));
              if (n < 0 && errno == EINTR) continue;
              if (n <= 0) return all;
              scanned += static_cast<std::uint64_t>(n);
              for (std::size_t i = 0; i + kRecord <= static_cast<std::size_t>(n); i += kRecord) {
                struct lastlog ll;
                std::memcpy(&ll, buf.data() + i, kRecord);
                if (std::all_of(buf.data() + i, buf.data() + i + kRecord,
                                [](char c) { return c == 0; })) {
                  continue;
                }
                ++all;
                add(absl::StrCat(
                    "{\"uid\":", (pos + i) / kRecord,
                    ",\"time\":", jsonString(rfc3339(absl::FromUnixSeconds(ll.ll_time))), ",",
                    jsonField("line",
                              std::string(ll.ll_line, ::strnlen(ll.ll_line, sizeof(ll.ll_line)))),
                    ",",
                    jsonField("host",
                              std::string(ll.ll_host, ::strnlen(ll.ll_host, sizeof(ll.ll_host)))),
                    "}"));
              }
              pos += static_cast<std::uint64_t>(n) / kRecord * kRecord;
              if (static_cast<std::size_t>(n) < kRecord) break;
            }
            off =
                static_cast<off_t>(std::max<std::uint64_t>(pos, static_cast<std::uint64_t>(hole)));
          }
          return all;
        }));
    if (scan_cut) {
      limits_hit_.push_back(absl::StrFormat(
          "commands/lastlog.json: only the first %d bytes of data in /var/log/lastlog were "
          "scanned",
          kMaxLastlogScanBytes));
    }
    return absl::OkStatus();
  }

  // ---- the whole bundle -------------------------------------------------------------------------

  absl::StatusOr<TriageResult> collectAll() {
    WARDEN_RETURN_IF_ERROR(addHostFacts());
    WARDEN_RETURN_IF_ERROR(addProcesses());
    WARDEN_RETURN_IF_ERROR(addSockets());
    WARDEN_RETURN_IF_ERROR(addProcFile("commands/modules.txt", "/proc/modules"));
    WARDEN_RETURN_IF_ERROR(addProcFile("commands/tainted.txt", "/proc/sys/kernel/tainted"));
    WARDEN_RETURN_IF_ERROR(addProcFile("commands/mountinfo.txt", "/proc/self/mountinfo"));
    WARDEN_RETURN_IF_ERROR(addCommand("commands/nft-ruleset.txt", "nft", {"list", "ruleset"}));
    WARDEN_RETURN_IF_ERROR(addCommand("commands/iptables-save.txt", "iptables-save", {}));
    WARDEN_RETURN_IF_ERROR(addCommand("commands/ip6tables-save.txt", "ip6tables-save", {}));

    // Identity and accounts, then persistence: cron and at, systemd, sshd, accounts' homes.
    for (const char* f :
         {"/etc/passwd", "/etc/group", "/etc/hostname", "/etc/machine-id", "/etc/os-release",
          "/usr/lib/os-release", "/etc/timezone", "/etc/localtime", "/etc/hosts", "/etc/sudoers",
          "/etc/ld.so.preload", "/etc/rc.local", "/etc/crontab", "/etc/anacrontab",
          "/etc/cron.allow", "/etc/cron.deny", "/etc/at.allow", "/etc/at.deny"}) {
      WARDEN_RETURN_IF_ERROR(collectPath(f, 0, true));
    }
    for (const char* d :
         {"/etc/sudoers.d", "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily",
          "/etc/cron.weekly", "/etc/cron.monthly", "/etc/cron.yearly", "/var/spool/anacron"}) {
      WARDEN_RETURN_IF_ERROR(collectPath(d, 1, true));
    }
    // Debian: crontabs/, atjobs/, atspool/; RHEL: one file per user, and at jobs in /var/spool/at.
    WARDEN_RETURN_IF_ERROR(collectPath("/var/spool/cron", 3, true));
    WARDEN_RETURN_IF_ERROR(collectPath("/var/spool/at", 2, false));
    for (const char* d : {"/etc/systemd", "/run/systemd/system", "/run/systemd/transient",
                          "/usr/local/lib/systemd"}) {
      WARDEN_RETURN_IF_ERROR(collectPath(d, kTreeDepth, true));
    }
    WARDEN_RETURN_IF_ERROR(collectPath("/etc/ssh/sshd_config", 0, true));
    WARDEN_RETURN_IF_ERROR(collectPath("/etc/ssh/sshd_config.d", 1, false));
    WARDEN_RETURN_IF_ERROR(collectAccounts());
    WARDEN_RETURN_IF_ERROR(addVendorUnits());

    // Sessions, then the authentication logs, then the journal: the largest come last.
    WARDEN_RETURN_IF_ERROR(collectPath("/run/utmp", 0, true));
    WARDEN_RETURN_IF_ERROR(collectPath("/var/run/utmp", 0, false));
    WARDEN_RETURN_IF_ERROR(collectMatching("/var/log", {"wtmp", "btmp"}));
    WARDEN_RETURN_IF_ERROR(collectPath("/var/log/lastlog", 0, true));
    WARDEN_RETURN_IF_ERROR(collectPath("/var/lib/lastlog/lastlog2.db", 0, false));
    WARDEN_RETURN_IF_ERROR(addLastlogRecords());
    WARDEN_RETURN_IF_ERROR(collectMatching("/var/log", {"auth.log", "secure"}));
    WARDEN_RETURN_IF_ERROR(collectMatching("/var/log/audit", {"audit.log"}));
    if (options_.include_journal) {
      std::vector<std::string> args = {"--since=-1d", "--no-pager", "-o", "export"};
      if (cleanPath(options_.root) != "/") args.push_back(absl::StrCat("--root=", options_.root));
      WARDEN_RETURN_IF_ERROR(addCommand("commands/journal.txt", "journalctl", args));
    }

    if (over_total_limit_ > 0) {
      limits_hit_.push_back(
          absl::StrFormat("max_total_bytes (%d) reached: %d sources listed but not collected",
                          limits_.max_total_bytes, over_total_limit_));
    }
    if (over_member_limit_ > 0) {
      limits_hit_.push_back(absl::StrFormat(
          "max_members (%d) reached: %d further sources neither collected nor listed",
          limits_.max_members, over_member_limit_));
    }

    TriageResult result;
    result.manifest_json = manifest();
    TriageMember m = outputMember("MANIFEST.json", "warden triage");
    WARDEN_RETURN_IF_ERROR(
        out_.begin(tarEntryFor(m, '0', static_cast<std::uint64_t>(result.manifest_json.size()))));
    WARDEN_RETURN_IF_ERROR(out_.data(result.manifest_json));
    WARDEN_RETURN_IF_ERROR(out_.end());
    WARDEN_ASSIGN_OR_RETURN(result.bundle_bytes, out_.finish());
    result.members = std::move(members_);
    result.content_bytes = total_;
    result.limits_hit = std::move(limits_hit_);
    return result;
  }

  std::string memberJson(const TriageMember& m) const {
    std::string r = absl::StrCat(
        "{", jsonField("name", m.name), ",\"type\":", jsonString(m.type), ",",
        jsonField("source", m.source), ",\"archived\":", m.archived ? "true" : "false",
        ",\"size\":", m.size, ",\"source_size\":", m.source_size,
        ",\"sha256\":", jsonString(m.sha256), ",\"truncated\":", m.truncated ? "true" : "false",
        ",", jsonField("error", m.error));
    if (m.type == "absent" || m.type == "unknown") {  // nothing could be stat'ed
      absl::StrAppend(&r, ",\"mode\":null,\"uid\":null,\"gid\":null,\"mtime\":null,\"ctime\":null");
    } else {
      absl::StrAppend(&r, ",\"mode\":", jsonString(octalMode(m.mode)), ",\"uid\":", m.uid,
                      ",\"gid\":", m.gid, ",\"mtime\":", jsonString(rfc3339(m.mtime)),
                      ",\"ctime\":", jsonString(rfc3339(m.ctime)));
    }
    if (!m.link_target.empty()) absl::StrAppend(&r, ",", jsonField("link_target", m.link_target));
    return r + "}";
  }

  std::string manifest() const {
    std::string j = absl::StrCat(
        "{\n\"schema\":", jsonString(kTriageManifestSchema),
        ",\n\"collected_at\":", jsonString(rfc3339(now_)),
        ",\n\"finished_at\":", jsonString(rfc3339(absl::Now())), ",\n",
        jsonField("hostname", hostname_), ",\n", jsonField("boot_id", boot_id_), ",\n",
        jsonField("root", options_.root), ",\n\"agent_pid\":", ::getpid(),
        ",\n\"string_encoding\":",
        jsonString("UTF-8; bytes that are not UTF-8 appear as U+FFFD, and such a field has a "
                   "twin \"<field>_hex\" with the raw bytes in hex"),
        ",\n\"limits\":{\"max_member_bytes\":", limits_.max_member_bytes,
        ",\"max_total_bytes\":", limits_.max_total_bytes, ",\"max_members\":", limits_.max_members,
        "}", ",\n\"limits_hit\":", jsonArray(limits_hit_), ",\n\"content_bytes\":", total_,
        ",\n\"member_count\":", members_.size(), ",\n\"members\":[");
    for (std::size_t i = 0; i < members_.size(); ++i) {
      absl::StrAppend(&j, i == 0 ? "\n" : ",\n", memberJson(members_[i]));
    }
    return j + "\n]\n}\n";
  }

  const TriageOptions& options_;
  const TriageLimits limits_;
  const std::string out_path_;
  std::string out_dir_;
  Fd root_fd_;
  std::string root_real_;
  absl::Time now_;
  absl::Time boot_time_;
  std::string hostname_;
  std::string boot_id_;
  BundleWriter out_;
  std::vector<char> buffer_;
  std::vector<TriageMember> members_;
  std::set<std::string> names_;     // every listed name
  std::set<std::string> archived_;  // names with an entry in the archive
  std::set<std::string> leaves_;    // archived names that are not directories
  std::map<std::pair<dev_t, ino_t>, std::string> inodes_;  // archived regular files
  std::uint64_t total_ = 0;
  std::size_t over_total_limit_ = 0;
  std::size_t over_member_limit_ = 0;
  std::vector<std::string> limits_hit_;
};

}  // namespace

absl::StatusOr<TriageResult> writeTriageBundle(const std::string& out_path,
                                               const TriageOptions& options) {
  Collector collector(options, out_path);
  return collector.run();
}

}  // namespace warden
