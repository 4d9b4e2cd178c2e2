// End to end (issue 5, work in progress): `warden image host-42 /dev/loopN` reads a read-only
// loop device full of known random data on the test host and stores it in the controller's
// evidence store: both hashes equal sha256sum of the device, and the stored file is 0444.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/crypto.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

TEST(ImageTest, LoopDeviceIsStoredWithMatchingHashesAndReadOnly) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("img%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(d.startAgent("host-42").ok());

  const std::string backing = d.controllerHost().dir() + "/disk.img";
  {
    std::mt19937_64 rng(42);
    std::string data(24 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); i += 8) {
      const std::uint64_t v = rng();
      std::memcpy(data.data() + i, &v, 8);
    }
    std::ofstream(backing, std::ios::binary) << data;
  }
  auto attached = run({"losetup", "--find", "--show", "--read-only", backing});
  ASSERT_TRUE(attached.ok() && attached->exit_code == 0);
  const std::string device(absl::StripTrailingAsciiWhitespace(attached->out));
  struct Detach {
    std::string device;
    ~Detach() { (void)run({"losetup", "-d", device}); }
  } detach{device};
  auto sum = run({"sha256sum", device});
  ASSERT_TRUE(sum.ok());
  const std::string expected = sum->out.substr(0, 64);

  auto r = d.cli({"image", "host-42", device, "--json"}, absl::Seconds(120));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->exit_code, 0) << r->out << r->err << d.agentLog("host-42") << d.controllerLog();
  EXPECT_NE(r->out.find("\"sha256\": \"" + expected + "\""), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("\"controller_sha256\": \"" + expected + "\""), std::string::npos)
      << r->out;

  // The stored copy: same bytes, read-only.
  const std::string store = d.dataDir() + "/evidence";
  std::string stored;
  for (const auto& e : std::filesystem::directory_iterator(store)) {
    if (e.path().extension() == ".img") stored = e.path().string();
  }
  ASSERT_FALSE(stored.empty());
  struct stat st {};
  ASSERT_EQ(::stat(stored.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  auto stored_sum = run({"sha256sum", stored});
  ASSERT_TRUE(stored_sum.ok());
  EXPECT_EQ(stored_sum->out.substr(0, 64), expected);
  // Lift the attribute so the deployment's scratch directory can be removed.
  (void)run({"chattr", "-R", "-i", store});

  // Bad input: a directory and a missing device are refused clearly (exit 2).
  auto dir = d.cli({"image", "host-42", "/etc"});
  ASSERT_TRUE(dir.ok());
  EXPECT_EQ(dir->exit_code, 2) << dir->out << dir->err;
  auto missing = d.cli({"image", "host-42", "/dev/does-not-exist"});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->exit_code, 2) << missing->out << missing->err;
}

// The agent is killed part way through a rate-limited transfer and started again: the image
// completes with the right hash, resumed from what the controller held.
TEST(ImageTest, KilledAgentResumesWhereTheControllerStands) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto created =
      WardenDeployment::create(absl::StrFormat("imr%d", getpid() % 100000), {{"host-42", 42}});
  ASSERT_TRUE(created.ok()) << created.status();
  WardenDeployment& d = **created;
  ASSERT_TRUE(d.enroll("host-42").ok());
  ASSERT_TRUE(d.startAgent("host-42").ok());
  const std::string backing = d.controllerHost().dir() + "/disk.img";
  {
    std::mt19937_64 rng(7);
    std::string data(32 << 20, '\0');
    for (std::size_t i = 0; i < data.size(); i += 8) {
      const std::uint64_t v = rng();
      std::memcpy(data.data() + i, &v, 8);
    }
    std::ofstream(backing, std::ios::binary) << data;
  }
  auto attached = run({"losetup", "--find", "--show", "--read-only", backing});
  ASSERT_TRUE(attached.ok() && attached->exit_code == 0);
  const std::string device(absl::StripTrailingAsciiWhitespace(attached->out));
  struct Detach {
    std::string device;
    ~Detach() { (void)run({"losetup", "-d", device}); }
  } detach{device};
  auto sum = run({"sha256sum", device});
  ASSERT_TRUE(sum.ok());
  const std::string expected = sum->out.substr(0, 64);

  // 32 MiB at 8 MB/s: about 4 s; the agent dies after about 1.5 s.
  std::unique_ptr<Process> cli;
  {
    auto p = d.controllerHost().spawn({wardenBinary("warden"), "--profile", d.profile(), "image",
                                       "host-42", device, "--rate", "8", "--json"});
    ASSERT_TRUE(p.ok()) << p.status();
    cli = std::move(*p);
  }
  absl::SleepFor(absl::Milliseconds(1500));
  ASSERT_TRUE(d.killAgent("host-42", SIGKILL).ok());
  ASSERT_TRUE(d.startAgent("host-42").ok());
  auto ended = cli->wait(absl::Seconds(120));
  ASSERT_TRUE(ended.ok()) << ended.status();
  const std::string out = cli->output();
  EXPECT_EQ(ended->exit_code, 0) << out << d.agentLog("host-42") << d.controllerLog();
  EXPECT_NE(out.find("\"controller_sha256\": \"" + expected + "\""), std::string::npos) << out;
  EXPECT_EQ(out.find("\"resumed_from\": \"0\""), std::string::npos)
      << "it resumed where the controller stood: " << out;
  (void)run({"chattr", "-R", "-i", d.dataDir() + "/evidence"});
}

}  // namespace
}  // namespace warden::testing
