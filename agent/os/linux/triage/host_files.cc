#include "agent/os/linux/triage/host_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/status.h"

namespace warden::triage {
namespace {

// "WHAT: strerror(err)", as a member's error.
std::string failure(const char* what, int err) {
  return std::string(errnoStatus(err, what).message());
}

TriageMember fileMember(const std::string& path, const std::string& requested, const char* type,
                        const struct stat& st) {
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

std::string clashError(const std::string& in_way) {
  return absl::StrCat("not archived: its name clashes with the archived ", in_way);
}

}  // namespace

absl::Status HostFiles::collectPath(const std::string& requested, int depth, bool list_absent) {
  const std::string path = cleanPath(requested);
  if (path.empty() || path == "/") return absl::OkStatus();
  const std::size_t slash = path.rfind('/');
  const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  const std::string base = path.substr(slash + 1);
  const UniqueFd dir(root_.openPath(parent, O_PATH | O_DIRECTORY));
  if (!dir.ok()) {
    const int err = errno;
    if ((err == ENOENT || err == ENOTDIR) && !list_absent) return absl::OkStatus();
    TriageMember m;
    m.name = memberName(path);
    m.source = path;
    m.type = err == ENOENT || err == ENOTDIR ? "absent" : "unknown";
    m.error = failure("open", err);
    if (bundle_.admit(m.name)) bundle_.list(std::move(m));
    return absl::OkStatus();
  }
  std::string physical_parent = root_.physicalPath(dir.get());
  if (physical_parent.empty()) physical_parent = parent;
  const std::string physical = joinPath(physical_parent, base);
  return collectAt(dir.get(), base, physical, physical == path ? "" : path, depth, list_absent);
}

absl::Status HostFiles::collectAt(int dirfd, const std::string& base, const std::string& path,
                                  const std::string& requested, int depth, bool list_absent) {
  struct stat st {};
  if (::fstatat(dirfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    if (err == ENOENT && !list_absent) return absl::OkStatus();
    TriageMember m;
    m.name = memberName(path);
    m.source = requested.empty() ? path : requested;
    m.type = err == ENOENT ? "absent" : "unknown";
    m.error = failure("stat", err);
    if (bundle_.admit(m.name)) bundle_.list(std::move(m));
    return absl::OkStatus();
  }
  if (st.st_dev == bundle_.writer().dev() && st.st_ino == bundle_.writer().ino()) {
    return absl::OkStatus();
  }
  if (S_ISLNK(st.st_mode)) return addSymlink(dirfd, base, path, requested, st);
  if (S_ISDIR(st.st_mode)) return addDirectory(dirfd, base, path, requested, st, depth);
  if (S_ISREG(st.st_mode)) return addRegular(dirfd, base, path, requested, st);
  addSpecial(path, requested, st);
  return absl::OkStatus();
}

absl::Status HostFiles::archiveHeaderOnly(TriageMember& m, char type) {
  WARDEN_RETURN_IF_ERROR(bundle_.writer().begin(tarEntryFor(m, type, 0)));
  WARDEN_RETURN_IF_ERROR(bundle_.writer().end());
  m.archived = true;
  return absl::OkStatus();
}

void HostFiles::addSpecial(const std::string& path, const std::string& requested,
                           const struct stat& st) {
  TriageMember m = fileMember(path, requested, "special", st);
  if (!bundle_.admit(m.name)) return;
  const char* kind = S_ISFIFO(st.st_mode)   ? "FIFO"
                     : S_ISCHR(st.st_mode)  ? "character device"
                     : S_ISBLK(st.st_mode)  ? "block device"
                     : S_ISSOCK(st.st_mode) ? "socket"
                                            : "unknown file type";
  m.source_size = 0;
  m.error = absl::StrCat("not collected: special file (", kind, ")");
  bundle_.list(std::move(m));
}

absl::Status HostFiles::addSymlink(int dirfd, const std::string& base, const std::string& path,
                                   const std::string& requested, const struct stat& st) {
  TriageMember m = fileMember(path, requested, "symlink", st);
  if (!bundle_.admit(m.name)) return absl::OkStatus();
  int err = 0;
  m.link_target = readLinkAt(dirfd, base.c_str(), &err);
  if (err != 0) {
    m.error = failure("readlink", err);
  } else if (const std::string in_way = bundle_.conflictFor(m.name, false); !in_way.empty()) {
    m.error = clashError(in_way);
  } else {
    WARDEN_RETURN_IF_ERROR(archiveHeaderOnly(m, '2'));
  }
  bundle_.list(std::move(m));
  return absl::OkStatus();
}

absl::Status HostFiles::addDirectory(int dirfd, const std::string& base, const std::string& path,
                                     const std::string& requested, const struct stat& st,
                                     int depth) {
  TriageMember m = fileMember(path, requested, "directory", st);
  m.name += "/";
  m.source_size = 0;
  if (!bundle_.admit(m.name)) return absl::OkStatus();
  const UniqueFd fd(openDirectoryNoFollow(dirfd, base.c_str()));
  const int open_err = errno;
  if (const std::string in_way = bundle_.conflictFor(m.name, true); !in_way.empty()) {
    m.error = clashError(in_way);
    bundle_.list(std::move(m));
    return absl::OkStatus();
  }
  WARDEN_RETURN_IF_ERROR(archiveHeaderOnly(m, '5'));
  if (depth > 0 && !fd.ok()) m.error = failure("open directory", open_err);
  const std::string name = m.name;
  bundle_.list(std::move(m));
  if (depth <= 0 || !fd.ok()) return absl::OkStatus();

  const std::size_t index = bundle_.memberCount() - 1;
  const std::size_t max_members = bundle_.limits().max_members;
  std::vector<std::string> entries;
  std::size_t more = 0;
  if (DIR* d = ::fdopendir(::dup(fd.get())); d != nullptr) {
    while (dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n == "." || n == "..") continue;
      if (entries.size() > max_members) {
        ++more;
        continue;
      }
      entries.emplace_back(n);
    }
    ::closedir(d);
  } else {
    bundle_.member(index).error = failure("list directory", errno);
  }
  if (more > 0) {
    bundle_.noteLimit(
        absl::StrFormat("%s has %d entries more than max_members (%d): those were not looked at",
                        name, more, max_members));
  }
  std::sort(entries.begin(), entries.end());
  for (const std::string& e : entries) {
    WARDEN_RETURN_IF_ERROR(collectAt(fd.get(), e, joinPath(path, e),
                                     requested.empty() ? "" : joinPath(requested, e), depth - 1,
                                     true));
  }
  return absl::OkStatus();
}

absl::Status HostFiles::addRegular(int dirfd, const std::string& base, const std::string& path,
                                   const std::string& requested, const struct stat& lst) {
  TriageMember m = fileMember(path, requested, "file", lst);
  if (!bundle_.admit(m.name)) return absl::OkStatus();
  const UniqueFd fd(openNoFollow(dirfd, base.c_str()));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) {
    m.error = failure("open", errno);
    bundle_.list(std::move(m));
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
    if (const std::string in_way = bundle_.conflictFor(m.name, false); !in_way.empty()) {
      m.error = clashError(in_way);
    } else {
      WARDEN_RETURN_IF_ERROR(archiveHeaderOnly(m, '1'));
    }
    bundle_.list(std::move(m));
    return absl::OkStatus();
  }
  if (const std::string in_way = bundle_.conflictFor(m.name, false); !in_way.empty()) {
    m.error = clashError(in_way);
    bundle_.list(std::move(m));
    return absl::OkStatus();
  }
  const std::uint64_t source_size = static_cast<std::uint64_t>(st.st_size);
  const std::uint64_t cap = bundle_.capNow();
  const char* limit = bundle_.capName();
  if (source_size > 0 && cap == 0) {
    bundle_.listUncollected(std::move(m), kTotalLimitError);
    return absl::OkStatus();
  }
  const std::uint64_t size = std::min(source_size, cap);
  m.truncated = size < source_size;
  BundleOutput& out = bundle_.writer();
  WARDEN_RETURN_IF_ERROR(out.begin(tarEntryFor(m, '0', size)));
  crypto::Sha256 h;
  std::vector<char>& buf = bundle_.buffer();
  std::uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd.get(), buf.data(), std::min<std::uint64_t>(kPiece, size - done));
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
        WARDEN_RETURN_IF_ERROR(out.data(std::string_view(kZeros, z)));
        done += z;
      }
      break;
    }
    const std::string_view piece(buf.data(), static_cast<std::size_t>(n));
    h.update(piece);
    WARDEN_RETURN_IF_ERROR(out.data(piece));
    done += static_cast<std::uint64_t>(n);
  }
  WARDEN_RETURN_IF_ERROR(out.end());
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
  bundle_.countContent(size);
  if (m.truncated) bundle_.noteCut(m, source_size, limit);
  inodes_.emplace(inode, m.name);
  bundle_.list(std::move(m));
  return absl::OkStatus();
}

absl::Status HostFiles::collectMatching(const std::string& dir,
                                        const std::vector<std::string>& prefixes) {
  const UniqueFd fd(root_.openPath(dir, O_RDONLY | O_DIRECTORY));
  if (!fd.ok()) return absl::OkStatus();
  std::string physical = root_.physicalPath(fd.get());
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
      if (found.size() > bundle_.limits().max_members) break;
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

}  // namespace warden::triage
