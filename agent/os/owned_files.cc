// OwnedPath: where the safe walk of a file below a user's directory starts (owned_files.h).
// Pure path logic; the walk itself is agent/os/linux/owned_files.cc.
#include "agent/os/owned_files.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace warden {

OwnedPath ownedPath(std::string_view path, std::string_view home, uid_t owner) {
  OwnedPath p;
  p.owner = owner;
  // The home as the kernel resolves it ("//" and "/./" collapsed, no trailing '/'), as
  // expandKeysPath made the path.
  std::string h;
  if (home.starts_with('/')) {
    for (absl::string_view part :
         absl::StrSplit(absl::string_view(home.data(), home.size()), '/', absl::SkipEmpty())) {
      if (part != ".") absl::StrAppend(&h, "/", part);
    }
    if (h.empty()) h = "/";
  }
  // Under the home: the path goes on after it with a '/' ("/" itself ends in one).
  const std::size_t after = h == "/" ? 1 : h.size() + 1;
  if (!h.empty() && path.size() > after && path.starts_with(h) && path[after - 1] == '/') {
    p.trusted_dir = h;
    p.relative.assign(path.substr(after));
    return p;
  }
  const std::size_t slash = path.rfind('/');
  p.trusted_dir =
      slash == 0 || slash == std::string_view::npos ? "/" : std::string(path.substr(0, slash));
  p.relative =
      slash == std::string_view::npos ? std::string(path) : std::string(path.substr(slash + 1));
  return p;
}

}  // namespace warden
