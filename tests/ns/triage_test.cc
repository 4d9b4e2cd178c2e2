// The triage bundle, read back with the system's own tools (triage_scratch_host.h): the planted
// files of a scratch ROOT go through writeTriageBundle, and then `zstd -t`, `tar --zstd -t` and
// `tar --zstd -x` must accept the bundle, the planted files must come out byte for byte with
// their owner, mode and mtime, MANIFEST.json must be the last member and carry the SHA-256 that
// sha256sum computes, and the live tables must show this very process (its exe hash, its
// listening socket) and a process whose binary was deleted. Nothing outside the scratch
// directories is written; the live tables and firewall are only read.
#include "agent/os/triage.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "tests/ns/triage_scratch_host.h"
#include "tests/support/fleet.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace warden::testing {
namespace {

TEST(TriageTest, PlantedEvidenceComesBackExactly) {
  TempDir root, work;
  plantHost(root.path());
  // A listening socket of this process: it must show up with this pid as its owner.
  LoopbackListener listener;
  const std::string local = listener.local();

  TriageOptions options = scratchOptions(root.path());
  options.include_journal = true;  // journalctl --root=SCRATCH: no journal there, still listed
  const std::string bundle = work.file("bundle.tar.zst");
  const absl::Time start = absl::Now();
  auto result = writeTriageBundle(bundle, options);
  const absl::Duration took = absl::Now() - start;
  listener.close();
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
  const Json manifest = extractBundle(bundle, out);
  ASSERT_TRUE(manifest.is_object());
  EXPECT_EQ(manifest.at("schema").get<std::string>(), kTriageManifestSchema);
  EXPECT_EQ(readAll(out + "/MANIFEST.json"), result->manifest_json);
  EXPECT_EQ(manifest.at("members").size(), result->members.size());
  EXPECT_EQ(manifest.at("limits").at("max_member_bytes").get<std::uint64_t>(), 64ull << 20);

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
    const Json m = memberNamed(manifest, "files" + p.path);
    ASSERT_TRUE(m.is_object());
    EXPECT_EQ(m.at("sha256").get<std::string>(), sha256sum(root.path() + p.path));
    EXPECT_EQ(m.at("type").get<std::string>(), "file");
    EXPECT_EQ(m.at("source").get<std::string>(), p.path);
    EXPECT_EQ(m.at("size").get<std::uint64_t>(), p.content.size());
    EXPECT_FALSE(m.at("truncated").get<bool>());
    EXPECT_EQ(m.at("error").get<std::string>(), "");
    EXPECT_EQ(m.at("mode").get<std::string>(), p.mode);
    EXPECT_EQ(m.at("uid").get<unsigned>(), p.uid);
    EXPECT_EQ(m.at("mtime").get<std::string>(), "2023-04-05T06:07:08Z");
    struct stat st {};
    ASSERT_EQ(::stat(extracted.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, p.uid);
    EXPECT_EQ(st.st_mtim.tv_sec, kPlantedMtime);
  }
  // Symlinks are recorded, never followed; the FIFO is listed, never opened.
  EXPECT_EQ(fs::read_symlink(out + "/files/etc/cron.d/linked"), "/etc/passwd");
  EXPECT_EQ(memberNamed(manifest, "files/etc/cron.d/linked").at("link_target").get<std::string>(),
            "/etc/passwd");
  EXPECT_EQ(fs::read_symlink(out + "/files/etc/systemd/system/multi-user.target.wants/"
                                   "evil.service"),
            "/etc/systemd/system/evil.service");
  const Json fifo = memberNamed(manifest, "files/etc/cron.d/pipe");
  EXPECT_EQ(fifo.at("type").get<std::string>(), "special");
  EXPECT_FALSE(fifo.at("archived").get<bool>());
  EXPECT_FALSE(fs::exists(fs::symlink_status(out + "/files/etc/cron.d/pipe")));
  EXPECT_TRUE(fs::is_directory(out + "/files/home/mallory/.ssh"));
  EXPECT_EQ(memberNamed(manifest, "files/home/mallory/").at("uid").get<unsigned>(), 1002u);
  EXPECT_EQ(testing::modeOf(out + "/files/home/mallory/.ssh"), 0700u);
  // Fixed sources are listed even when absent: that they were looked for is evidence too.
  EXPECT_EQ(memberNamed(manifest, "files/etc/passwd").at("type").get<std::string>(), "file");
  const Json crontab = memberNamed(manifest, "files/etc/crontab");
  EXPECT_EQ(crontab.at("type").get<std::string>(), "absent");
  EXPECT_TRUE(crontab.at("mtime").is_null());

  // The live tables: this process, with the SHA-256 of its own executable, and its socket.
  const Json processes = loadJson(out + "/commands/processes.json");
  ASSERT_TRUE(processes.is_array());
  const std::string self_exe = fs::read_symlink("/proc/self/exe");
  bool found_self = false;
  for (const Json& p : processes) {
    if (p.at("pid").get<int>() != ::getpid()) continue;
    found_self = true;
    EXPECT_EQ(p.at("exe").get<std::string>(), self_exe);
    EXPECT_EQ(p.at("exe_sha256").get<std::string>(), sha256sum(self_exe));
    EXPECT_FALSE(p.at("exe_deleted").get<bool>());
    EXPECT_FALSE(p.at("kernel_thread").get<bool>());
    EXPECT_EQ(p.at("ppid").get<int>(), ::getppid());
    EXPECT_EQ(p.at("uid").get<unsigned>(), ::getuid());
    EXPECT_EQ(p.at("cwd").get<std::string>(), fs::current_path().string());
    EXPECT_EQ(p.at("cmdline").at(0).get<std::string>(), readAll("/proc/self/cmdline").c_str());
  }
  EXPECT_TRUE(found_self);
  const Json sockets = loadJson(out + "/commands/sockets.json");
  ASSERT_TRUE(sockets.is_array());
  bool found_socket = false;
  for (const Json& s : sockets) {
    if (s.at("proto").get<std::string>() != "tcp" || s.at("local").get<std::string>() != local)
      continue;
    found_socket = true;
    EXPECT_EQ(s.at("state").get<std::string>(), "LISTEN");
    ASSERT_EQ(s.at("pids").size(), 1u);
    EXPECT_EQ(s.at("pids").at(0).get<int>(), ::getpid());
  }
  EXPECT_TRUE(found_socket) << local;
  const Json lastlog = loadJson(out + "/commands/lastlog.json");
  ASSERT_EQ(lastlog.size(), 1u);
  EXPECT_EQ(lastlog.at(0).at("uid").get<int>(), 1002);
  EXPECT_EQ(lastlog.at(0).at("host").get<std::string>(), "203.0.113.9");
  EXPECT_EQ(lastlog.at(0).at("time").get<std::string>(), "2023-04-05T06:07:08Z");

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
    const Json modules = memberNamed(manifest, "commands/modules.txt");
    EXPECT_FALSE(modules.at("archived").get<bool>());
    EXPECT_TRUE(absl::StrContains(modules.at("error").get<std::string>(), "No such file"));
  }
  EXPECT_TRUE(fs::exists(out + "/commands/tainted.txt"));
  const Json host = loadJson(out + "/commands/host.json");
  EXPECT_EQ(host.at("boot_id").get<std::string>() + "\n",
            readAll("/proc/sys/kernel/random/boot_id"));
  EXPECT_EQ(memberNamed(manifest, "commands/nft-ruleset.txt").at("type").get<std::string>(),
            "output");
  const Json journal = memberNamed(manifest, "commands/journal.txt");
  EXPECT_TRUE(absl::StrContains(journal.at("source").get<std::string>(), "-o export"));
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
  const Json manifest = extractBundle(bundle, work.file("out"));
  const Json processes = loadJson(work.file("out") + "/commands/processes.json");
  bool found = false;
  for (const Json& p : processes) {
    if (p.at("pid").get<int>() != (*implant)->pid()) continue;
    found = true;
    EXPECT_EQ(p.at("exe").get<std::string>(), copy + " (deleted)");
    EXPECT_TRUE(p.at("exe_deleted").get<bool>());
    EXPECT_EQ(p.at("exe_sha256").get<std::string>(), expected);
    EXPECT_EQ(p.at("cmdline").at(1).get<std::string>(), "120");
  }
  EXPECT_TRUE(found);
}
}  // namespace
}  // namespace warden::testing
