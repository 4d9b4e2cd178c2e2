// End to end: `warden image` on bad input (image_deployment.h). A directory, a missing path,
// a file the agent may not read, unreadable sectors (zero-filled and named in the manifest) and
// a full evidence disk each fail clearly, or are accounted for, and leave nothing listed as
// complete.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/e2e/image_deployment.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

TEST_F(ImageTest, BadSourcesFailClearlyAndNothingIsListedComplete) {
  // A directory and a missing path: bad input (exit 2), the reason named.
  RunResult dir = cli({"image", "host-42", "/etc"});
  EXPECT_EQ(dir.exit_code, 2) << dir.out << dir.err;
  EXPECT_NE((dir.out + dir.err).find("/etc"), std::string::npos) << dir.out << dir.err;
  RunResult missing = cli({"image", "host-42", "/dev/does-not-exist"});
  EXPECT_EQ(missing.exit_code, 2) << missing.out << missing.err;
  EXPECT_EQ(cli({"image", "host-42", "relative/path"}).exit_code, 2);
  EXPECT_EQ(cli({"image", "host-42", "/dev/null", "--compress", "lz4"}).exit_code, 2);

  // A source the agent may not read: an agent without the capability to override file modes
  // and a file that only its owner (nobody) may read.
  ASSERT_TRUE(d_->killAgent("host-42", SIGTERM).ok());
  ASSERT_TRUE(d_->startAgent("host-42", {},
                             {"setpriv", "--bounding-set=-dac_override,-dac_read_search",
                              "--inh-caps=-dac_override,-dac_read_search", "--"})
                  .ok())
      << d_->agentLog("host-42");
  const std::string secret = d_->host("host-42").dir() + "/unreadable.img";
  std::ofstream(secret) << std::string(1 << 20, 's');
  ASSERT_EQ(::chown(secret.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  RunResult denied = cli({"image", "host-42", secret});
  EXPECT_EQ(denied.exit_code, 1) << denied.out << denied.err;
  EXPECT_NE((denied.out + denied.err).find("ermission denied"), std::string::npos)
      << denied.out << denied.err;

  RunResult list = cli({"evidence", "list", "--json"});
  EXPECT_EQ(list.out.find("\"state\": \"complete\""), std::string::npos) << list.out;
}

// A source with bad sectors (a FUSE file on host-42 whose reads of two ranges fail with EIO,
// see tests/support/eio_fuse.h): the image completes, the bad sectors are zeros in it and
// everything else is the source's, the receipt says how much was replaced, the agent-signed
// manifest lists each range, and `evidence verify` passes on what was stored.
TEST_F(ImageTest, UnreadableSectorsAreZeroFilledAndNamedInTheManifest) {
  TestHost& host = d_->host("host-42");
  const std::size_t size = 3 << 20;
  std::mt19937_64 rng(5);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  const std::string content = host.dir() + "/bad-disk.content";
  std::ofstream(content, std::ios::binary) << data;
  const std::string mnt = host.dir() + "/bad-disk";
  std::filesystem::create_directories(mnt);
  const std::uint64_t bad1 = (1 << 20) + (64 << 10), bad2 = (2 << 20) + 512;
  std::string zeroed = data;
  std::memset(zeroed.data() + bad1, 0, 8192);
  std::memset(zeroed.data() + bad2, 0, 512);
  const std::string expected = crypto::hex(crypto::sha256(zeroed));

  auto fs = host.spawn({wardenBinary("warden-test-eiofs"), mnt, content,
                        absl::StrFormat("%d:8192", bad1), absl::StrFormat("%d:512", bad2)});
  ASSERT_TRUE(fs.ok()) << fs.status();
  for (int i = 0; i < 100 && (*fs)->output().find("ready") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_NE((*fs)->output().find("ready"), std::string::npos) << (*fs)->output();

  const std::string id = image({mnt + "/disk.img"});
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(jsonString(last_out_, id + ".sha256"), expected) << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".controller_sha256"), expected) << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".read_errors"), "2") << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".zero_filled_bytes"), "8704") << last_out_;
  EXPECT_NE(last_out_.find("2 unreadable range(s), 8704 bytes replaced by zeros"),
            std::string::npos)
      << last_out_;
  auto manifest = d_->controllerHost().readFile(d_->dataDir() + "/evidence/" + id + ".manifest");
  ASSERT_TRUE(manifest.ok());
  EXPECT_NE(manifest->find(absl::StrFormat("\"read_errors\": [{\"offset\": %d, \"length\": 8192, "
                                           "\"errno\": %d}, {\"offset\": %d, \"length\": 512, "
                                           "\"errno\": %d}]",
                                           bad1, EIO, bad2, EIO)),
            std::string::npos)
      << *manifest;
  EXPECT_EQ(cli({"evidence", "verify", id}).exit_code, 0);
  ASSERT_TRUE((*fs)->signal(SIGTERM).ok());
  auto stopped = (*fs)->wait(absl::Seconds(30));
  ASSERT_TRUE(stopped.ok()) << stopped.status();
  EXPECT_NE((*fs)->output().find("stopping after"), std::string::npos) << (*fs)->output();
  EXPECT_EQ((*fs)->output().find("stopping after 0 failed reads"), std::string::npos)
      << (*fs)->output();
}

// The controller's evidence disk fills up part way: the action fails saying so, and the partial
// copy is listed as incomplete, never as complete.
TEST_F(ImageTest, FullEvidenceDiskFailsClearlyAndLeavesNoCompleteItem) {
  ASSERT_NO_FATAL_FAILURE(attach(32 << 20, 5));
  // A 16 MiB ext4 file system mounted over the evidence directory, in the controller's own
  // mount namespace only.
  TestHost& ctl = d_->controllerHost();
  const std::string fs = ctl.dir() + "/small-evidence.ext4";
  ASSERT_EQ(run({"truncate", "-s", "16M", fs})->exit_code, 0);
  auto mkfs = run({"mkfs.ext4", "-q", "-F", "-m", "0", fs});
  ASSERT_TRUE(mkfs.ok() && mkfs->exit_code == 0) << (mkfs.ok() ? mkfs->err : "");
  const std::string store = d_->dataDir() + "/evidence";
  auto mounted = ctl.exec({"mount", "-o", "loop", fs, store});
  ASSERT_TRUE(mounted.ok() && mounted->exit_code == 0) << (mounted.ok() ? mounted->err : "");
  struct Unmount {
    TestHost& host;
    std::string dir;
    ~Unmount() {
      (void)run({"chattr", "-R", "-i", dir});
      (void)host.exec({"umount", dir});
    }
  } unmount{ctl, store};
  ASSERT_EQ(ctl.exec({"chmod", "0700", store})->exit_code, 0);

  RunResult r = cli({"image", "host-42", loop_.device});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("No space left on device"), std::string::npos)
      << r.out << r.err << d_->controllerLog();
  RunResult list = cli({"evidence", "list", "--json"});
  EXPECT_EQ(list.out.find("\"state\": \"complete\""), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("\"state\": \"incomplete\""), std::string::npos) << list.out;
}

// The evidence quota (warden-controller serve --evidence-quota): an image that would pass it is
// refused clearly and nothing is listed complete, and the action log goes on taking entries:
// containment still works.
TEST_F(ImageTest, EvidenceQuotaRefusesTheImageAndTheLogKeepsAcceptingEntries) {
  ASSERT_NO_FATAL_FAILURE(attach(16 << 20, 5));
  ASSERT_TRUE(d_->restartController({}, {"--evidence-quota", "4MiB"}).ok()) << d_->controllerLog();
  ASSERT_TRUE(d_->waitConnected("host-42", true, absl::Seconds(30)).ok());
  RunResult r = cli({"image", "host-42", loop_.device});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("the evidence store is full"), std::string::npos)
      << r.out << r.err << d_->controllerLog();
  RunResult list = cli({"evidence", "list", "--json"});
  EXPECT_EQ(list.out.find("\"state\": \"complete\""), std::string::npos) << list.out;
  EXPECT_NE(d_->controllerLog().find("refused: the evidence store is full"), std::string::npos)
      << d_->controllerLog();
  RunResult isolate = cli({"isolate", "host-42"});
  EXPECT_EQ(isolate.exit_code, 0) << isolate.out << isolate.err;
  RunResult release = cli({"release", "host-42"});
  EXPECT_EQ(release.exit_code, 0) << release.out << release.err;
}

}  // namespace
}  // namespace warden::testing
