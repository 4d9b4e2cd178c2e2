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

// A read-only loop device over `size` bytes of seeded random data, detached on destruction.
struct RandomLoopDevice {
  std::string device;
  std::string sha256;  // sha256sum of the device
  ~RandomLoopDevice() {
    if (!device.empty()) (void)run({"losetup", "-d", device});
  }
};

void attachRandomLoopDevice(const std::string& backing, std::size_t size, std::uint64_t seed,
                            RandomLoopDevice& out) {
  std::mt19937_64 rng(seed);
  std::string data(size, '\0');
  for (std::size_t i = 0; i < data.size(); i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(data.data() + i, &v, 8);
  }
  std::ofstream(backing, std::ios::binary) << data;
  auto attached = run({"losetup", "--find", "--show", "--read-only", backing});
  ASSERT_TRUE(attached.ok() && attached->exit_code == 0);
  out.device = std::string(absl::StripTrailingAsciiWhitespace(attached->out));
  auto sum = run({"sha256sum", out.device});
  ASSERT_TRUE(sum.ok());
  out.sha256 = sum->out.substr(0, 64);
}

// A controller and host-42 with its agent running.
std::unique_ptr<WardenDeployment> deployHost42(const char* label) {
  auto created = WardenDeployment::create(absl::StrFormat("%s%d", label, getpid() % 100000),
                                          {{"host-42", 42}});
  EXPECT_TRUE(created.ok()) << created.status();
  if (!created.ok()) return nullptr;
  EXPECT_TRUE((*created)->enroll("host-42").ok());
  EXPECT_TRUE((*created)->startAgent("host-42").ok());
  return std::move(*created);
}

TEST(ImageTest, LoopDeviceIsStoredWithMatchingHashesAndReadOnly) {
  WARDEN_REQUIRE_PRIVILEGES();
  auto deployment = deployHost42("img");
  ASSERT_NE(deployment, nullptr);
  WardenDeployment& d = *deployment;
  RandomLoopDevice loop;
  ASSERT_NO_FATAL_FAILURE(
      attachRandomLoopDevice(d.controllerHost().dir() + "/disk.img", 24 << 20, 42, loop));
  const std::string& device = loop.device;
  const std::string& expected = loop.sha256;

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
  auto deployment = deployHost42("imr");
  ASSERT_NE(deployment, nullptr);
  WardenDeployment& d = *deployment;
  RandomLoopDevice loop;
  ASSERT_NO_FATAL_FAILURE(
      attachRandomLoopDevice(d.controllerHost().dir() + "/disk.img", 32 << 20, 7, loop));
  const std::string& device = loop.device;
  const std::string& expected = loop.sha256;

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
