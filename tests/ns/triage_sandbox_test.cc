// The sandboxed triage collector (agent/os/triage.h, writeTriageBundleSandboxed): the real
// warden-agent binary is exec'd as the collector over a scratch ROOT (triage_scratch_host.h).
// The bundle must be as sound as an in-process one; the kernel must show the collector
// confined (its own uid, two capabilities, no_new_privs, a seccomp filter) and Landlock must
// keep it from a file that its capabilities alone would let it read; a forbidden system call
// must kill it with SIGSYS and leave a valid bundle that says so; a collector that stalls is
// stopped at the deadline; one that does not confine itself is not listened to.
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/os/triage.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "tests/ns/triage_scratch_host.h"
#include "tests/support/fleet.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace warden::testing {
namespace {

constexpr std::uint32_t kCollectorUid = 65533;

CollectorSandbox sandboxFor(const std::string& root) {
  CollectorSandbox s;
  s.argv = {std::string(WARDEN_BIN_DIR) + "/warden-agent", "triage-collector"};
  s.uid = s.gid = kCollectorUid;
  s.withheld = {root + "/var/lib/warden-agent"};
  s.timeout = absl::Seconds(120);
  return s;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

TEST(TriageSandboxTest, ConfinedCollectorBringsBackThePlantedEvidence) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir root, work;
  plantHost(root.path());
  // A listening socket of this process: the collector, another uid, must see who holds it.
  LoopbackListener listener;
  const std::string local = listener.local();
  const std::string bundle = work.file("bundle.tar.zst");
  const absl::Time start = absl::Now();
  auto result =
      writeTriageBundleSandboxed(bundle, scratchOptions(root.path()), sandboxFor(root.path()));
  listener.close();
  ASSERT_TRUE(result.ok()) << result.status();
  std::printf("sandboxed bundle: %zu members, %llu bytes of content, in %s\n",
              result->members.size(), static_cast<unsigned long long>(result->content_bytes),
              absl::FormatDuration(absl::Now() - start).c_str());
  EXPECT_EQ(result->collector, "exited 0");
  EXPECT_EQ(result->collector_error, "");

  const std::vector<std::string> names = listBundle(bundle);
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names.back(), "MANIFEST.json");
  const Json manifest = extractBundle(bundle, work.file("x"));
  for (const char* name :
       {"commands/host.json", "commands/processes.json", "commands/sockets.json",
        "commands/nft-ruleset.txt", "commands/collector.json", "commands/lastlog.json"}) {
    EXPECT_TRUE(contains(names, name)) << name;
  }
  // The planted files, byte for byte, with the agent's own hash in the manifest.
  for (const std::string rel :
       {"/home/mallory/.ssh/authorized_keys", "/etc/cron.d/evil",
        "/var/spool/cron/crontabs/mallory", "/home/mallory/.bash_history"}) {
    const std::string name = "files" + rel;
    EXPECT_EQ(readAll(work.file("x/" + name)), readAll(root.path() + rel)) << rel;
    EXPECT_EQ(memberNamed(manifest, name).at("sha256"), sha256sum(root.path() + rel)) << rel;
  }

  // The live tables see through other processes (CAP_SYS_PTRACE, before Landlock): this one's
  // executable, its hash and working directory, and the socket it holds.
  const Json processes = loadJson(work.file("x/commands/processes.json"));
  bool found_self = false;
  for (const Json& p : processes) {
    if (p.at("pid").get<int>() != ::getpid()) continue;
    found_self = true;
    const std::string self_exe = fs::read_symlink("/proc/self/exe");
    EXPECT_EQ(p.at("exe").get<std::string>(), self_exe);
    EXPECT_EQ(p.at("exe_sha256").get<std::string>(), sha256sum(self_exe));
    EXPECT_EQ(p.at("cwd").get<std::string>(), fs::current_path().string());
  }
  EXPECT_TRUE(found_self);
  bool found_socket = false;
  for (const Json& s : loadJson(work.file("x/commands/sockets.json"))) {
    if (s.at("proto") != "tcp" || s.at("local").get<std::string>() != local) continue;
    found_socket = true;
    ASSERT_EQ(s.at("pids").size(), 1u);
    EXPECT_EQ(s.at("pids").at(0).get<int>(), ::getpid());
  }
  EXPECT_TRUE(found_socket) << local;

  // How the kernel showed the collector to the agent while it ran.
  const Json& collector = manifest.at("collector");
  const Json& confinement = collector.at("confinement");
  EXPECT_EQ(confinement.at("Seccomp"), "2");
  EXPECT_EQ(confinement.at("NoNewPrivs"), "1");
  EXPECT_EQ(confinement.at("Uid"), "65533 65533 65533 65533");
  EXPECT_EQ(confinement.at("Gid"), "65533 65533 65533 65533");
  EXPECT_EQ(confinement.at("Groups"), "");
  // CAP_DAC_READ_SEARCH, nothing else, and nothing more to gain: the collector sends its first
  // message once it has dropped CAP_SYS_PTRACE, which only its live links needed (and which
  // stays in the bounding set, where no_new_privs and no exec make it worthless).
  EXPECT_EQ(confinement.at("CapEff"), "0000000000000004");
  EXPECT_EQ(confinement.at("CapPrm"), "0000000000000004");
  EXPECT_EQ(confinement.at("CapAmb"), "0000000000000000");
  EXPECT_EQ(confinement.at("CapBnd"), "0000000000080004");
  EXPECT_GE(collector.at("landlock").at("abi").get<int>(), 1);
  EXPECT_EQ(collector.at("ended"), "exited 0");
  const Json record = loadJson(work.file("x/commands/collector.json"));
  EXPECT_EQ(record.at("confinement"), confinement);
  EXPECT_EQ(memberNamed(manifest, "commands/collector.json").at("error"), "");
}

// CAP_DAC_READ_SEARCH lets the collector read any file; Landlock is what keeps it from those
// it does not collect. sshd_config points AuthorizedKeysFile into the agent's state directory:
// the collector asks for that file, and Landlock refuses it.
TEST(TriageSandboxTest, LandlockKeepsTheAgentsStateDirectoryOut) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir root, work;
  plantHost(root.path());
  plant(root.path() + "/etc/ssh/sshd_config",
        "AuthorizedKeysFile .ssh/authorized_keys /var/lib/warden-agent/%u.key\n");
  plant(root.path() + "/var/lib/warden-agent/mallory.key", "the agent's secret\n", 0600);
  const std::string bundle = work.file("bundle.tar.zst");
  auto result =
      writeTriageBundleSandboxed(bundle, scratchOptions(root.path()), sandboxFor(root.path()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->collector_error, "");
  const Json manifest = extractBundle(bundle, work.file("x"));
  const Json secret = memberNamed(manifest, "files/var/lib/warden-agent/mallory.key");
  EXPECT_FALSE(secret.at("archived").get<bool>());
  EXPECT_TRUE(absl::StrContains(secret.at("error").get<std::string>(), "Permission denied"))
      << secret.dump();
  EXPECT_FALSE(fs::exists(work.file("x/files/var/lib/warden-agent/mallory.key")));
  const Json& landlock = manifest.at("collector").at("landlock");
  EXPECT_TRUE(std::find(landlock.at("withheld").begin(), landlock.at("withheld").end(),
                        "/var/lib/warden-agent/mallory.key") != landlock.at("withheld").end())
      << landlock.dump();
  // The keys file the same line names for the account's home still comes.
  EXPECT_TRUE(memberNamed(manifest, "files/home/mallory/.ssh/authorized_keys").at("archived"));
}

// Where /proc is mounted hidepid=invisible, only CAP_SYS_PTRACE shows another user's process
// at all. The live snapshot reads each process whole before the collector drops it, so the
// table still holds them. (In a child with a mount namespace and a procfs of its own.)
TEST(TriageSandboxTest, AHidepidProcStillShowsEveryProcess) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir root, work;
  plantHost(root.path());
  const std::string bundle = work.file("bundle.tar.zst");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int rc = 3;
    if (::unshare(CLONE_NEWNS) == 0 &&
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
        ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") ==
            0) {
      auto r =
          writeTriageBundleSandboxed(bundle, scratchOptions(root.path()), sandboxFor(root.path()));
      rc = r.ok() && r->collector == "exited 0" ? 0 : 2;
    }
    ::_exit(rc);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child ended " << status;
  extractBundle(bundle, work.file("x"));
  bool found = false;
  for (const Json& p : loadJson(work.file("x/commands/processes.json"))) {
    if (p.at("pid").get<int>() != ::getpid()) continue;  // root's: hidden from uid 65533
    found = true;
    EXPECT_EQ(p.at("uid").get<int>(), 0);
    EXPECT_EQ(p.at("exe").get<std::string>(), fs::read_symlink("/proc/self/exe").string());
    EXPECT_FALSE(p.at("cmdline").empty());
  }
  EXPECT_TRUE(found);
}

// A user fills ~/.config/systemd/user with symlinks of 4 KiB targets, 11,000 of them: 42 MiB of
// names and targets, under max_members. The collector stops listing at the members' text bound
// and says so; the agent, which holds the collector to a looser bound of its own, takes the
// bundle as sound: the collection ends normally.
TEST(TriageSandboxTest, AHomeFullOfLongSymlinksStopsTheListingNotTheCollection) {
  WARDEN_REQUIRE_PRIVILEGES();
  // 11,000 symlinks with targets of a block each: on tmpfs (seconds on disk, for each of
  // making and removing them).
  const std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : TempDir::defaultBase();
  TempDir root(base), work(base);
  plantHost(root.path());
  const std::string dir = root.path() + "/home/mallory/.config/systemd/user";
  fs::create_directories(dir);
  const std::string target = "/" + std::string(4000, 't');
  for (int i = 0; i < 11000; ++i) {
    ASSERT_EQ(::symlink(target.c_str(), absl::StrCat(dir, "/l", i).c_str()), 0);
  }
  const std::string bundle = work.file("bundle.tar.zst");
  auto result =
      writeTriageBundleSandboxed(bundle, scratchOptions(root.path()), sandboxFor(root.path()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->collector, "exited 0");
  EXPECT_EQ(result->collector_error, "");
  const Json manifest = extractBundle(bundle, work.file("x"));
  bool noted = false;
  for (const Json& line : manifest.at("limits_hit")) {
    noted = noted || absl::StrContains(line.get<std::string>(), "names, sources and errors");
  }
  EXPECT_TRUE(noted) << manifest.at("limits_hit").dump();
  EXPECT_LT(manifest.at("members").size(), 11000u);
}

// Between dropping CAP_SYS_PTRACE and its exact Landlock rules, the collector parses
// /etc/passwd and sshd_config for the accounts' paths: the first bytes the host wrote that it
// parses. By then the agent's memory (its keys), which CAP_SYS_PTRACE would have opened, is
// closed, and a first Landlock layer keeps the withheld directory and the disks in /dev from
// it, which CAP_DAC_READ_SEARCH alone would open; what it collects stays readable.
TEST(TriageSandboxTest, WhileItParsesTheAccountsTheWithheldAndTheDisksAreClosed) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir root, work;
  plantHost(root.path());
  plant(root.path() + "/var/lib/warden-agent/agent.key", "the agent's secret\n", 0600);
  // A block device node of this machine, if /dev shows one.
  std::string disk;
  for (const auto& e : fs::directory_iterator("/dev")) {
    if (e.is_block_file()) {
      disk = e.path().string();
      break;
    }
  }
  CollectorSandbox sandbox = sandboxFor(root.path());
  const std::string secret = root.path() + "/var/lib/warden-agent/agent.key";
  const std::string passwd = root.path() + "/etc/passwd";
  const std::string memory = absl::StrCat("/proc/", ::getpid(), "/mem");  // the agent's
  sandbox.fault =
      absl::StrCat("open-early:", memory, ",", secret, ",", passwd, disk.empty() ? "" : ",", disk);
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundleSandboxed(bundle, scratchOptions(root.path()), sandbox);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->collector, "exited 0");
  extractBundle(bundle, work.file("x"));
  const Json record = loadJson(work.file("x/commands/collector.json"));
  const std::string err = record.at("stderr").get<std::string>();
  EXPECT_TRUE(absl::StrContains(err, absl::StrCat("open ", memory, ": Permission denied"))) << err;
  EXPECT_TRUE(absl::StrContains(err, absl::StrCat("open ", secret, ": Permission denied"))) << err;
  EXPECT_TRUE(absl::StrContains(err, absl::StrCat("open ", passwd, ": opened"))) << err;
  if (!disk.empty()) {
    EXPECT_TRUE(absl::StrContains(err, absl::StrCat("open ", disk, ": Permission denied"))) << err;
  }
  // The exact layer lets it read /proc, where the live tables come from, and says so.
  EXPECT_EQ(record.at("landlock").at("live_read_paths"), Json::array({"/proc"}));
}

TEST(TriageSandboxTest, ForbiddenSyscallKillsTheCollectorAndTheBundleSaysSo) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir root, work;
  plantHost(root.path());
  CollectorSandbox sandbox = sandboxFor(root.path());
  sandbox.fault = "forbidden-syscall";  // socket(2) after the network tables
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundleSandboxed(bundle, scratchOptions(root.path()), sandbox);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(absl::StrContains(result->collector, "SIGSYS")) << result->collector;
  EXPECT_TRUE(absl::StrContains(result->collector_error, "SIGSYS")) << result->collector_error;

  const std::vector<std::string> names = listBundle(bundle);
  const Json manifest = extractBundle(bundle, work.file("x"));
  // What came before the kill, and the agent's own members, are there; the files are not.
  EXPECT_TRUE(contains(names, "commands/processes.json"));
  EXPECT_TRUE(contains(names, "commands/nft-ruleset.txt"));
  EXPECT_FALSE(contains(names, "files/etc/passwd"));
  const Json failed = memberNamed(manifest, "commands/collector.json");
  EXPECT_TRUE(absl::StrContains(failed.at("error").get<std::string>(), "SIGSYS")) << failed.dump();
  EXPECT_TRUE(absl::StrContains(manifest.at("collector").at("ended").get<std::string>(),
                                "killed by signal 31"));
}

TEST(TriageSandboxTest, StalledCollectorIsStoppedAtTheDeadline) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir root, work;
  plantHost(root.path());
  CollectorSandbox sandbox = sandboxFor(root.path());
  sandbox.fault = "stall";
  sandbox.timeout = absl::Seconds(3);
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundleSandboxed(bundle, scratchOptions(root.path()), sandbox);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(absl::StrContains(result->collector, "did not finish within 3s"))
      << result->collector;
  EXPECT_NE(result->collector_error, "");
  const Json manifest = extractBundle(bundle, work.file("x"));
  EXPECT_NE(memberNamed(manifest, "commands/collector.json").at("error"), "");
}

// A program that speaks first without having confined itself gets nothing written.
TEST(TriageSandboxTest, UnconfinedCollectorIsNotListenedTo) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir root, work;
  CollectorSandbox sandbox = sandboxFor(root.path());
  // A well-formed frame (an empty message), sent by a plain shell as root.
  sandbox.argv = {"/bin/sh", "-c", "printf '\\000\\000\\000\\000'; cat >/dev/null"};
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundleSandboxed(bundle, scratchOptions(root.path()), sandbox);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(absl::StrContains(result->collector, "it is not confined")) << result->collector;
  const std::vector<std::string> names = listBundle(bundle);
  EXPECT_EQ(names.size(), 5u) << absl::StrJoin(names, ",");  // the agent's own members only
  EXPECT_TRUE(contains(names, "commands/collector.json"));
}

}  // namespace
}  // namespace warden::testing
