// Evidence sources on the real kernel: a regular file and a read-only loop device over it read
// back byte for byte (SHA-256 equal to sha256sum of the device), with the device's size and
// sector size from its ioctls; directories, character devices and missing paths are refused
// with a clear error; --all-disks never lists loop devices. The loop device is attached
// read-only over a file in a scratch directory and detached on every exit path.
#include "agent/os/evidence_source.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "gtest/gtest.h"
#include "tests/support/eio_fuse.h"
#include "tests/support/fleet.h"
#include "tests/support/mount_namespace.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::warden::testing::TempDir;

// Writes `size` pseudo-random bytes to `path` and returns their SHA-256 (hex).
std::string writeRandomFile(const std::string& path, std::size_t size) {
  std::mt19937_64 rng(size);
  std::string data(size, '\0');
  for (std::size_t i = 0; i < size; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(data.data() + i, &v, std::min<std::size_t>(8, size - i));
  }
  std::ofstream(path, std::ios::binary) << data;
  return crypto::hex(crypto::sha256(data));
}

// Reads the whole source in 1 MiB steps and returns the SHA-256 (hex) of what it read.
std::string hashSource(EvidenceSource& source, std::vector<EvidenceReadError>* errors) {
  const std::size_t step = 1 << 20;
  void* raw = std::aligned_alloc(source.alignment(), step);
  std::string all;
  for (std::uint64_t off = 0; off < source.facts().size_bytes; off += step) {
    auto n = source.read(off, static_cast<char*>(raw), step, errors);
    EXPECT_TRUE(n.ok()) << n.status();
    if (!n.ok() || *n == 0) break;
    all.append(static_cast<char*>(raw), *n);
  }
  std::free(raw);
  EXPECT_EQ(all.size(), source.facts().size_bytes);
  return crypto::hex(crypto::sha256(all));
}

TEST(EvidenceSourceTest, RegularFileReadsBackExactly) {
  TempDir dir;
  const std::string path = dir.path() + "/disk.img";
  // Not a multiple of the block size: the last read is short.
  const std::string expected = writeRandomFile(path, (3 << 20) + 1234);
  auto source = openEvidenceSource(path);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->facts().kind, "file");
  EXPECT_EQ((*source)->facts().size_bytes, (3u << 20) + 1234);
  std::vector<EvidenceReadError> errors;
  EXPECT_EQ(hashSource(**source, &errors), expected);
  EXPECT_TRUE(errors.empty());
  // Unaligned offsets are refused, not silently rounded.
  char buf[8];
  EXPECT_FALSE((*source)->read(100, buf, 8, nullptr).ok());
}

TEST(EvidenceSourceTest, BadPathsAreRefusedClearly) {
  TempDir dir;
  auto missing = openEvidenceSource(dir.path() + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound) << missing.status();
  auto directory = openEvidenceSource(dir.path());
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(directory.status().message().find("is a directory"), std::string::npos);
  auto chr = openEvidenceSource("/dev/null");
  EXPECT_EQ(chr.status().code(), absl::StatusCode::kInvalidArgument) << chr.status();
}

TEST(EvidenceSourceTest, LoopDeviceReadsLikeSha256sum) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir dir;
  const std::string backing = dir.path() + "/backing.img";
  const std::string expected = writeRandomFile(backing, 8 << 20);
  auto attached = testing::run({"losetup", "--find", "--show", "--read-only", backing});
  ASSERT_TRUE(attached.ok() && attached->exit_code == 0)
      << (attached.ok() ? attached->err : attached.status().ToString());
  const std::string device(absl::StripTrailingAsciiWhitespace(attached->out));
  struct Detach {
    std::string device;
    ~Detach() { (void)testing::run({"losetup", "-d", device}); }
  } detach{device};

  auto sum = testing::run({"sha256sum", device});
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->out.substr(0, 64), expected);

  auto source = openEvidenceSource(device);
  ASSERT_TRUE(source.ok()) << source.status();
  const EvidenceSourceFacts& f = (*source)->facts();
  EXPECT_EQ(f.kind, "disk");
  EXPECT_EQ(f.size_bytes, 8u << 20);
  EXPECT_EQ(f.logical_sector_size, 512u);
  EXPECT_EQ(f.read_method, "direct");
  EXPECT_NE(f.major, 0u);
  std::vector<EvidenceReadError> errors;
  EXPECT_EQ(hashSource(**source, &errors), expected);
  EXPECT_TRUE(errors.empty());

  auto disks = listWholeDisks();
  ASSERT_TRUE(disks.ok()) << disks.status();
  for (const auto& d : *disks) EXPECT_EQ(d.find("/dev/loop"), std::string::npos) << d;
}

// Bad sectors, as the kernel reports them (EIO from read(2)), on a FUSE file whose reads fail
// over two ranges: the 1 MiB read that meets one is retried sector by sector, exactly the bad
// sectors come back as zeros, every other byte is the source's, and the errors name each range
// once (adjacent bad sectors merged), as dc3dd's "bad sectors replaced by zeros" log does.
TEST(EvidenceSourceTest, UnreadableSectorsAreZeroFilledAndListed) {
  WARDEN_REQUIRE_PRIVILEGES();
  TempDir dir;
  const std::string mountpoint = dir.path() + "/mnt";
  std::filesystem::create_directories(mountpoint);
  const std::size_t size = (3 << 20) + 1234;
  std::mt19937_64 rng(42);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  const std::vector<testing::EioFuse::Range> bad = {{(1 << 20) + (64 << 10), 8192},
                                                    {(2 << 20) + 512, 512}};
  std::string expected = data;
  for (const auto& b : bad) std::memset(expected.data() + b.offset, 0, b.length);
  const std::string expected_sha = crypto::hex(crypto::sha256(expected));

  // The mount lives in a child's private mount namespace: the machine never sees it, and it
  // goes away with the child whatever happens.
  const std::string verdict = testing::runInPrivateMountNamespace([&]() -> std::string {
    testing::EioFuse fs(data, bad);
    if (absl::Status m = fs.mount(mountpoint); !m.ok()) {
      return absl::StrCat("set-up failed: ", m.message());
    }
    auto source = openEvidenceSource(fs.file());
    if (!source.ok()) return absl::StrCat("open failed: ", source.status().ToString());
    std::vector<EvidenceReadError> errors;
    const std::string sha = hashSource(**source, &errors);
    std::string out = absl::StrFormat(
        "ok size=%d method=%s sha=%s failed_reads=%d errors=", (*source)->facts().size_bytes,
        (*source)->facts().read_method, sha, fs.failedReads());
    for (const auto& e : errors) {
      absl::StrAppendFormat(&out, "%d+%d:%s;", e.offset, e.length, std::strerror(e.error));
    }
    return out;
  });
  std::printf("%s\n", verdict.c_str());
  ASSERT_TRUE(absl::StartsWith(verdict, "ok ")) << verdict;
  EXPECT_TRUE(absl::StrContains(verdict, absl::StrCat(" size=", size, " "))) << verdict;
  EXPECT_TRUE(absl::StrContains(verdict, " sha=" + expected_sha + " ")) << verdict;
  EXPECT_FALSE(absl::StrContains(verdict, " failed_reads=0 ")) << verdict;
  const std::string listed = absl::StrFormat("errors=%d+8192:%s;%d+512:%s;", bad[0].offset,
                                             std::strerror(EIO), bad[1].offset, std::strerror(EIO));
  EXPECT_TRUE(absl::EndsWith(verdict, listed)) << verdict << "\nwanted " << listed;
}

// The enumeration rules on a directory laid out like /sys/block.
TEST(EvidenceSourceTest, AllDisksSkipsLoopRamZramAndEmptyDevices) {
  TempDir dir;
  for (const auto& [name, size] :
       std::vector<std::pair<std::string, std::string>>{{"sda", "1000"},
                                                        {"nvme0n1", "2000"},
                                                        {"loop0", "10"},
                                                        {"ram0", "10"},
                                                        {"zram0", "10"},
                                                        {"sr0", "0"},
                                                        {"cciss!c0d0", "30"}}) {
    std::filesystem::create_directories(dir.path() + "/" + name);
    std::ofstream(dir.path() + "/" + name + "/size") << size << "\n";
    std::filesystem::create_directories(dir.path() + "/" + name + "/slaves");
  }
  // dm-0 stacks on sda: its data is sda's.
  std::filesystem::create_directories(dir.path() + "/dm-0/slaves/sda");
  std::ofstream(dir.path() + "/dm-0/size") << "900\n";
  auto disks = listWholeDisks(dir.path());
  ASSERT_TRUE(disks.ok()) << disks.status();
  EXPECT_EQ(*disks, (std::vector<std::string>{"/dev/cciss/c0d0", "/dev/nvme0n1", "/dev/sda"}));
  EXPECT_FALSE(listWholeDisks(dir.path() + "/missing").ok());
}

}  // namespace
}  // namespace warden
