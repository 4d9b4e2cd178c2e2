// commands/vendor-units.json: /usr/lib/systemd/{system,user} (and /lib/systemd/... when not
// the same directories) are package-managed and large, so only names, link targets, owner,
// mode, mtime and SHA-256 are taken, to compare with the package database (dpkg --verify,
// rpm -V).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <utility>

#include "agent/os/linux/triage/collectors.h"
#include "agent/os/linux/triage/json_fields.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/status.h"

namespace warden::triage {
namespace {

constexpr std::size_t kMaxVendorUnits = 1 << 16;

void vendorEntries(Bundle& bundle, int dirfd, const std::string& path, int depth, std::size_t& all,
                   const Bundle::AddRecord& add) {
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
    Json r;
    putText(r, "path", full);
    r["type"] = S_ISREG(st.st_mode)   ? "file"
                : S_ISLNK(st.st_mode) ? "symlink"
                : S_ISDIR(st.st_mode) ? "directory"
                                      : "special";
    r["size"] = st.st_size;
    r["mode"] = octalMode(st.st_mode);
    r["uid"] = st.st_uid;
    r["gid"] = st.st_gid;
    r["mtime"] = rfc3339(absl::TimeFromTimespec(st.st_mtim));
    if (S_ISLNK(st.st_mode)) {
      int err = 0;
      const std::string target = readLinkAt(dirfd, name.c_str(), &err);
      putText(r, "target", err == 0 ? target : std::string(errnoStatus(err, "readlink").message()));
    } else if (S_ISREG(st.st_mode)) {
      const UniqueFd fd(openNoFollow(dirfd, name.c_str()));
      crypto::Sha256 h;
      std::uint64_t hashed = 0;
      const std::uint64_t want = std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_size),
                                                         bundle.limits().max_member_bytes);
      std::vector<char>& buf = bundle.buffer();
      while (fd.ok() && hashed < want) {
        const ssize_t n =
            ::read(fd.get(), buf.data(), std::min<std::uint64_t>(kPiece, want - hashed));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        h.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        hashed += static_cast<std::uint64_t>(n);
      }
      if (fd.ok()) {
        r["sha256"] = crypto::hex(h.finish());
        r["hashed_bytes"] = hashed;
      }
    }
    ++all;
    add(r);
    if (S_ISDIR(st.st_mode) && depth > 1) {
      const UniqueFd sub(openDirectoryNoFollow(dirfd, name.c_str()));
      if (sub.ok()) vendorEntries(bundle, sub.get(), full, depth - 1, all, add);
    }
  }
}

}  // namespace

absl::Status addVendorUnits(Bundle& bundle, const TriageRoot& root) {
  std::set<std::pair<dev_t, ino_t>> seen;
  std::vector<std::pair<UniqueFd, std::string>> tops;
  for (const char* dir : {"/usr/lib/systemd/system", "/usr/lib/systemd/user", "/lib/systemd/system",
                          "/lib/systemd/user"}) {
    UniqueFd fd(root.openPath(dir, O_RDONLY | O_DIRECTORY));
    struct stat st {};
    if (!fd.ok() || ::fstat(fd.get(), &st) != 0) continue;
    if (!seen.insert({st.st_dev, st.st_ino}).second) continue;  // merged /usr: /lib -> usr/lib
    std::string physical = root.physicalPath(fd.get());
    tops.emplace_back(std::move(fd), physical.empty() ? dir : physical);
  }
  if (tops.empty()) return absl::OkStatus();
  return bundle.addJsonTable(
      "commands/vendor-units.json",
      "/usr/lib/systemd/{system,user}, /lib/systemd/{system,user} (names and SHA-256 only)",
      "unit directory entries", [&](const Bundle::AddRecord& add) {
        std::size_t all = 0;
        for (const auto& [fd, path] : tops) vendorEntries(bundle, fd.get(), path, 2, all, add);
        return all;
      });
}

}  // namespace warden::triage
