#include "tests/support/fleet_state.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "tests/support/process.h"

namespace warden::testing {
namespace {

constexpr char kDefaultStateRoot[] = "/run/warden-testfleet";
constexpr char kDefaultScratchRoot[] = "/tmp/warden-testfleet";
constexpr std::size_t kMaxLabelLength = 24;
constexpr std::size_t kMaxHostNameLength = 32;
constexpr int kMaxDirEntries = 1'000'000;  // bound on any directory scan

bool isExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

bool validLabel(const std::string& label) {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  return std::all_of(label.begin(), label.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

bool validHostName(const std::string& name) {
  if (name.empty() || name.size() > kMaxHostNameLength || name == "lan") return false;
  if (name.front() == '-' || name.back() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string envOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

FleetOptions resolve(FleetOptions o) {
  if (o.state_root.empty()) o.state_root = envOr("WARDEN_TESTFLEET_STATE_DIR", kDefaultStateRoot);
  if (o.scratch_root.empty()) {
    o.scratch_root = envOr("WARDEN_TESTFLEET_SCRATCH_DIR", kDefaultScratchRoot);
  }
  while (o.state_root.size() > 1 && o.state_root.back() == '/') o.state_root.pop_back();
  while (o.scratch_root.size() > 1 && o.scratch_root.back() == '/') o.scratch_root.pop_back();
  return o;
}

absl::StatusOr<std::string> initPath(const FleetOptions& o) {
  std::vector<std::string> candidates;
  if (!o.init_path.empty()) {
    candidates.push_back(o.init_path);
  } else {
    if (const char* env = std::getenv("WARDEN_TEST_INIT"); env != nullptr && *env != '\0') {
      candidates.push_back(env);
    }
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) candidates.push_back((self.parent_path() / "warden-test-init").string());
#ifdef WARDEN_BIN_DIR
    candidates.push_back(std::string(WARDEN_BIN_DIR) + "/warden-test-init");
#endif
  }
  for (const std::string& c : candidates) {
    if (isExecutableFile(c)) return c;
  }
  std::string tried;
  for (const std::string& c : candidates) absl::StrAppend(&tried, tried.empty() ? "" : ", ", c);
  return absl::NotFoundError(
      absl::StrCat("warden-test-init not found (build it; tried: ", tried, ")"));
}

absl::StatusOr<std::map<std::string, std::string>> readKeyValues(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errnoStatus("open", path, errno);
  std::map<std::string, std::string> kv;
  std::string line;
  for (int i = 0; i < 1000 && std::getline(in, line); ++i) {
    const std::size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

long long numberOr(const std::map<std::string, std::string>& kv, const std::string& key,
                   long long fallback) {
  auto it = kv.find(key);
  long long v = 0;
  if (it == kv.end() || !absl::SimpleAtoi(it->second, &v)) return fallback;
  return v;
}

absl::Status writeAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    out.flush();
    if (!out) return errnoStatus("write", tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) < 0) {
    return errnoStatus(errno, absl::StrCat("Failed to rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::Status makeDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("Failed to create ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status removeTree(const std::string& path) {
  if (path.empty() || path == "/") return absl::InvalidArgumentError("refusing to remove /");
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0 && errno == ENOENT) return absl::OkStatus();
  absl::StatusOr<RunResult> r =
      run({"rm", "-rf", "--one-file-system", "--", path}, absl::Seconds(60));
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return absl::InternalError(absl::StrCat("Failed to remove ", path, ": ", r->err));
  }
  return absl::OkStatus();
}

std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  for (int i = 0; i < kMaxDirEntries; ++i) {
    const struct dirent* e = ::readdir(d);
    if (e == nullptr) break;
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string ownerLine() {
  return absl::StrCat("owner_pid=", ::getpid(), "\nowner_start=", processStartTime(::getpid()),
                      "\n");
}

}  // namespace warden::testing
