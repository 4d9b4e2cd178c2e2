// The triage bundle's archive and where it is written (triage_scratch_host.h): long and
// non-UTF-8 names and pre-1970 mtimes survive (pax headers); an output that cannot be written is
// a clear error and leaves nothing behind (a missing directory, an existing file, ENOSPC on a
// small tmpfs in a private mount namespace).
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/os/triage.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "gtest/gtest.h"
#include "tests/ns/triage_scratch_host.h"
#include "tests/support/fleet.h"
#include "tests/support/mount_namespace.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace warden::testing {
namespace {

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
  const Json manifest =
      extractBundle(bundle, out, {"implausibly old time stamp", "keyword 'hdrcharset'"});
  EXPECT_GT(std::string("files" + long_file).size(), 100u);
  EXPECT_EQ(readAll(out + "/files" + long_file), "[Service]\nExecStart=/bin/true\n");
  EXPECT_EQ(memberNamed(manifest, "files" + long_file).at("sha256").get<std::string>(),
            sha256sum(root.path() + long_file));
  EXPECT_EQ(fs::read_symlink(out + "/files/etc/cron.d/long-link").string(), long_target);
  EXPECT_EQ(readAll(out + "/files" + odd), "odd\n");
  EXPECT_EQ(readAll(out + "/files" + odd_long), "odd and long\n");
  // The manifest stays valid JSON: U+FFFD in the text, the raw bytes in hex.
  bool found_odd = false;
  for (const Json& m : manifest.at("members")) {
    if (m.contains("name_hex") &&
        m.at("name_hex").get<std::string>() == crypto::hex("files" + odd)) {
      found_odd = true;
      EXPECT_EQ(m.at("name").get<std::string>(), "files/etc/cron.d/odd\xef\xbf\xbd\xef\xbf\xbd");
    }
  }
  EXPECT_TRUE(found_odd);
  struct stat st {};
  ASSERT_EQ(::stat((out + "/files/etc/cron.d/old").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, -86400);
  EXPECT_EQ(memberNamed(manifest, "files/etc/cron.d/old").at("mtime").get<std::string>(),
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
}  // namespace warden::testing
