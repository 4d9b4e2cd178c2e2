#include "agent/os/linux/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace warden {
namespace {

constexpr unsigned long long kUnsetId = 4294967295;  // (uid_t)-1 in loginuid and sessionid

}  // namespace

bool parseProcStat(const std::string& stat, ProcStat* out) {
  // The command name may contain spaces and ')': fields resume after the last ')'.
  const std::size_t open = stat.find('(');
  const std::size_t close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open ||
      close + 2 >= stat.size()) {
    return false;
  }
  out->comm = stat.substr(open + 1, close - open - 1);
  // Fields 3..22.
  return std::sscanf(stat.c_str() + close + 2,
                     "%c %d %d %d %d %d %u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
                     &out->state, &out->ppid, &out->pgrp, &out->session, &out->tty_nr, &out->tpgid,
                     &out->flags, &out->start_ticks) == 8;
}

// devices.txt: 4 = tty (0-63 ttyN, 64-255 ttySN), 136-143 = pts.
std::string ttyName(unsigned long tty_nr) {
  if (tty_nr == 0) return "";
  const unsigned maj = major(tty_nr);
  const unsigned min = minor(tty_nr);
  if (maj >= 136 && maj <= 143) return absl::StrFormat("pts/%d", (maj - 136) * 256 + min);
  if (maj == 4 && min < 64) return absl::StrFormat("tty%d", min);
  if (maj == 4) return absl::StrFormat("ttyS%d", min - 64);
  return absl::StrFormat("dev-%d:%d", maj, min);
}

bool readProcFile(int dirfd, const char* path, std::string& out, std::size_t max) {
  const UniqueFd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC));
  if (!fd.ok()) return false;
  // One read is usually all: a procfs file is generated whole into the reader's buffer.
  out.resize(max);
  std::size_t got = 0;
  while (got < max) {
    const ssize_t n = ::read(fd.get(), out.data() + got, max - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      out.clear();
      return false;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return true;
}

absl::StatusOr<std::vector<pid_t>> listPids(int proc_fd, std::size_t max, bool* more) {
  std::vector<pid_t> pids;
  if (more != nullptr) *more = false;
  DIR* dir = ::fdopendir(::dup(proc_fd));
  if (dir == nullptr) return errnoStatus(errno, "Failed to read /proc");
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    if (pids.size() >= max) {
      if (more != nullptr) *more = true;
      break;
    }
    pids.push_back(static_cast<pid_t>(std::strtol(e->d_name, nullptr, 10)));
  }
  ::closedir(dir);
  return pids;
}

std::optional<ProcStat> readProcStat(int proc_fd, pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "%d/stat", pid);
  std::string text;
  ProcStat st;
  if (!readProcFile(proc_fd, path, text) || !parseProcStat(text, &st)) return std::nullopt;
  return st;
}

ProcIds parseProcIds(const std::string& status) {
  // `key` is "\nUid:" or "\nGid:"; `format` the same followed by " %u %u".
  const auto line = [&](const char* key,
                        const char* format) -> std::optional<ProcIds::RealEffective> {
    const std::size_t at = status.find(key);
    ProcIds::RealEffective ids;
    if (at == std::string::npos ||
        std::sscanf(status.c_str() + at, format, &ids.real, &ids.effective) != 2) {
      return std::nullopt;
    }
    return ids;
  };
  ProcIds out;
  out.uid = line("\nUid:", "\nUid: %u %u");
  out.gid = line("\nGid:", "\nGid: %u %u");
  return out;
}

bool readProcIds(int proc_fd, pid_t pid, std::size_t max, ProcIds* out) {
  char path[64];
  std::snprintf(path, sizeof(path), "%d/status", pid);
  std::string status;
  if (!readProcFile(proc_fd, path, status, max)) return false;
  *out = parseProcIds(status);
  return true;
}

std::vector<std::string> splitCmdline(std::string_view cmdline) {
  if (!cmdline.empty() && cmdline.back() == '\0') cmdline.remove_suffix(1);
  if (cmdline.empty()) return {};
  return absl::StrSplit(absl::string_view(cmdline.data(), cmdline.size()), '\0');
}

std::string joinedCmdline(std::string_view cmdline) {
  while (!cmdline.empty() && cmdline.back() == '\0') cmdline.remove_suffix(1);
  std::string out(cmdline);
  for (char& c : out) {
    if (c == '\0') c = ' ';
  }
  return out;
}

std::int64_t readAuditId(int proc_fd, pid_t pid, const char* file) {
  char path[64];
  std::snprintf(path, sizeof(path), "%d/%s", pid, file);
  std::string text;
  if (!readProcFile(proc_fd, path, text, 32)) return -1;
  return parseAuditId(text);
}

std::int64_t parseAuditId(const std::string& text) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str() || v >= kUnsetId) return -1;
  return static_cast<std::int64_t>(v);
}

}  // namespace warden
