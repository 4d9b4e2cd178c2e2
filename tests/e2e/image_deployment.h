// The deployment the `warden image` end-to-end tests run against: a controller and host-42 with
// its agent, a read-only loop device full of seeded random data on the controller's test host
// (so its sha256sum is known), and the CLI run with --json for the evidence ids and hashes.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/support/fleet.h"
#include "tests/support/process.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {

// A read-only loop device over `size` bytes of seeded random data, detached on destruction.
struct RandomLoopDevice {
  std::string device;
  std::string sha256;  // sha256sum of the device
  ~RandomLoopDevice() {
    if (!device.empty()) (void)run({"losetup", "-d", device});
  }
};

inline void attachRandomLoopDevice(const std::string& backing, std::size_t size, std::uint64_t seed,
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

inline std::string sha256sum(const std::string& path) {
  auto sum = run({"sha256sum", path});
  return sum.ok() && sum->exit_code == 0 ? sum->out.substr(0, 64) : "";
}
class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WARDEN_REQUIRE_PRIVILEGES();
    auto created =
        WardenDeployment::create(absl::StrFormat("img%d", getpid() % 100000), {{"host-42", 42}});
    ASSERT_TRUE(created.ok()) << created.status();
    d_ = std::move(*created);
    ASSERT_TRUE(d_->enroll("host-42").ok());
    ASSERT_TRUE(d_->startAgent("host-42").ok()) << d_->agentLog("host-42");
    lift_.dir = d_->dataDir() + "/evidence";
  }

  void attach(std::size_t size, std::uint64_t seed) {
    ASSERT_NO_FATAL_FAILURE(attachRandomLoopDevice(
        d_->controllerHost().dir() + absl::StrFormat("/disk%d.img", seed), size, seed, loop_));
  }

  // `warden image host-42 ARGS... --json`: exit 0 expected; returns the evidence id.
  std::string image(std::vector<std::string> args) {
    std::vector<std::string> argv = {"image", "host-42"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--json");
    auto r = d_->cli(argv, absl::Seconds(180));
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return "";
    EXPECT_EQ(r->exit_code, 0) << r->out << r->err << d_->agentLog("host-42")
                               << d_->controllerLog();
    last_out_ = r->out;
    return jsonString(r->out, "evidence_ids");
  }

  // Starts `warden image host-42 DEV --rate 8 --json` (32 MiB: about 4 s) and returns once the
  // controller holds at least 2 MiB of it (waiting at most 60 s), so whatever interrupts the
  // transfer next interrupts it in the middle however slow the machine is.
  void startSlowImage(std::unique_ptr<Process>& out) {
    auto p =
        d_->controllerHost().spawn({wardenBinary("warden"), "--profile", d_->profile(), "image",
                                    "host-42", loop_.device, "--rate", "8", "--json"});
    ASSERT_TRUE(p.ok()) << p.status();
    out = std::move(*p);
    std::uint64_t held = 0;
    std::string listed;
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (held < (2u << 20) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      auto r = d_->cli({"evidence", "list", "--host", "host-42", "--json"}, absl::Seconds(10));
      if (!r.ok() || r->exit_code != 0) continue;
      listed = r->out;
      if (jsonString(listed, "state") != "receiving") continue;
      held = std::stoull("0" + jsonNumber(listed, "size"));
    }
    ASSERT_GE(held, 2u << 20) << "the transfer never got going: " << listed
                              << d_->agentLog("host-42") << d_->controllerLog();
  }

  RunResult cli(const std::vector<std::string>& args) {
    return d_->cliResult(args, absl::Seconds(120));
  }

  std::unique_ptr<WardenDeployment> d_;
  LiftImmutable lift_;
  RandomLoopDevice loop_;
  std::string last_out_;
};

}  // namespace warden::testing
