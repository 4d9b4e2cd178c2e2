// The accounts' files: for every account of ROOT/etc/passwd the SSH trust and lateral
// movement files, shell and tool histories and shell start-up files (persistence), and the
// authorized keys files wherever sshd_config's AuthorizedKeysFile points.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/os/linux/triage/collectors.h"

namespace warden::triage {
namespace {

constexpr std::size_t kMaxAccounts = 1 << 16;
constexpr std::size_t kMaxKeyFilePatterns = 16;

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

struct Account {
  std::string name;
  std::string uid;
  std::string home;  // cleaned, absolute
};

// The accounts of ROOT/etc/passwd, at most kMaxAccounts (`cut` says whether there were more).
std::vector<Account> accounts(const TriageRoot& root, bool* cut) {
  std::vector<Account> out;
  *cut = false;
  const std::string passwd = root.readSmall("/etc/passwd");
  for (absl::string_view line : absl::StrSplit(passwd, '\n')) {
    if (out.size() >= kMaxAccounts) {
      *cut = true;
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
std::vector<std::string> authorizedKeysPatterns(const TriageRoot& root) {
  std::vector<std::string> configs = {"/etc/ssh/sshd_config"};
  if (const UniqueFd d(root.openPath("/etc/ssh/sshd_config.d", O_RDONLY | O_DIRECTORY)); d.ok()) {
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
    for (absl::string_view line : absl::StrSplit(root.readSmall(config, 1 << 20), '\n')) {
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
std::string expandKeysPattern(std::string_view pattern, const Account& a) {
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

}  // namespace

std::vector<ReadPath> accountReadPaths(const TriageRoot& root) {
  bool cut = false;
  const std::vector<Account> all = accounts(root, &cut);
  const std::vector<std::string> patterns = authorizedKeysPatterns(root);
  std::vector<ReadPath> paths;
  std::set<std::string> homes;
  for (const Account& a : all) {
    if (homes.insert(a.home).second) {
      for (const char* f : kHomeFiles) paths.push_back({joinPath(a.home, f), false});
      paths.push_back({joinPath(a.home, ".config/systemd/user"), true});
    }
    for (const std::string& p : patterns) {
      const std::string path = expandKeysPattern(p, a);
      if (!path.empty()) paths.push_back({path, false});
    }
  }
  return paths;
}

absl::Status collectAccounts(Bundle& bundle, HostFiles& files, const TriageRoot& root) {
  bool cut = false;
  const std::vector<Account> all = accounts(root, &cut);
  if (cut) {
    bundle.noteLimit(
        absl::StrFormat("/etc/passwd has more than %d accounts: only the first %d were looked at",
                        kMaxAccounts, kMaxAccounts));
  }
  const std::vector<std::string> patterns = authorizedKeysPatterns(root);
  std::set<std::string> homes;
  for (const Account& a : all) {
    if (homes.insert(a.home).second) {
      // The home's own entry (owner, mode, mtime) only where it is the account's: system
      // accounts' "homes" (/usr/sbin, /dev, /bin) are not evidence about them.
      const UniqueFd home(root.openPath(a.home, O_PATH | O_NOFOLLOW));
      struct stat st {};
      if (home.ok() && ::fstat(home.get(), &st) == 0 && std::to_string(st.st_uid) == a.uid) {
        WARDEN_RETURN_IF_ERROR(files.collectPath(a.home, 0, false));
      }
      WARDEN_RETURN_IF_ERROR(files.collectPath(joinPath(a.home, ".ssh"), 0, false));
      for (const char* f : kHomeFiles) {
        WARDEN_RETURN_IF_ERROR(files.collectPath(joinPath(a.home, f), 0, false));
      }
      WARDEN_RETURN_IF_ERROR(
          files.collectPath(joinPath(a.home, ".config/systemd/user"), kTreeDepth, false));
    }
    for (const std::string& p : patterns) {
      const std::string path = expandKeysPattern(p, a);
      if (!path.empty()) WARDEN_RETURN_IF_ERROR(files.collectPath(path, 0, false));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden::triage
