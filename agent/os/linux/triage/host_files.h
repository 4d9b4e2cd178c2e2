// Host files and trees as bundle members ("files/..."), read inside the triage root
// (root.h). A symlink is archived as a symlink member with its target and never followed.
// FIFOs, devices and sockets are listed, never read (opening with O_NONBLOCK makes a FIFO
// swapped in after the lstat harmless). Contents are streamed in 1 MiB pieces and hashed on
// the way; the tar header carries fstat's size capped by the limits. A file that shrinks while
// it is read is padded with zeros up to that size, one that grows is cut there, and the
// member's error says so: the archive is never corrupt. The same inode reached twice becomes a
// hard link member to the first. A fixed source that is not there is listed as "absent" (that
// it was looked for is evidence too); the per-account files are listed only when they exist.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "agent/os/linux/triage/bundle.h"
#include "agent/os/linux/triage/root.h"

namespace warden::triage {

inline constexpr int kTreeDepth = 8;  // directory levels collected below a tree's top

class HostFiles {
 public:
  HostFiles(Bundle& bundle, const TriageRoot& root) : bundle_(bundle), root_(root) {}

  // Collects `path` (absolute, inside the root). A directory is collected `depth` levels deep
  // (0: its own entry only). A missing path is listed as absent when `list_absent`.
  absl::Status collectPath(const std::string& requested, int depth, bool list_absent);

  // Collects the entries of `dir` whose names start with one of `prefixes`, newest first (so
  // the total size limit, if it bites, leaves out the oldest rotated logs).
  absl::Status collectMatching(const std::string& dir, const std::vector<std::string>& prefixes);

 private:
  // Collects `base` in `dirfd`, whose physical path is `path`; `requested` is the path that
  // was asked for when it differs.
  absl::Status collectAt(int dirfd, const std::string& base, const std::string& path,
                         const std::string& requested, int depth, bool list_absent);
  void addSpecial(const std::string& path, const std::string& requested, const struct stat& st);
  absl::Status addSymlink(int dirfd, const std::string& base, const std::string& path,
                          const std::string& requested, const struct stat& st);
  absl::Status addDirectory(int dirfd, const std::string& base, const std::string& path,
                            const std::string& requested, const struct stat& st, int depth);
  absl::Status addRegular(int dirfd, const std::string& base, const std::string& path,
                          const std::string& requested, const struct stat& lst);
  // A member with no content: symlink ('2'), hard link ('1') or directory ('5').
  absl::Status archiveHeaderOnly(TriageMember& m, char type);

  Bundle& bundle_;
  const TriageRoot& root_;
  std::map<std::pair<dev_t, ino_t>, std::string> inodes_;  // archived regular files
};

}  // namespace warden::triage
