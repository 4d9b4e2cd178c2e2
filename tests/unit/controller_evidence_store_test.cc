// controller/evidence_store.h: transfers that resume where the store stands (with the hash of
// what it holds), complete only with the agent's size and hash, read-only when complete, and
// verify that catches a changed byte.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/crypto.h"
#include "controller/evidence_store.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::warden::testing::TempDir;

// Complete evidence is immutable where the file system allows it (ext4, run as root): lift the
// attribute so the scratch directory can be removed. Declare after the TempDir.
struct LiftImmutable {
  std::string dir;
  ~LiftImmutable() {
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
      const int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
      if (fd < 0) continue;
      int flags = 0;
      if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_IMMUTABLE_FL) != 0) {
        flags &= ~FS_IMMUTABLE_FL;
        (void)::ioctl(fd, FS_IOC_SETFLAGS, &flags);
      }
      ::close(fd);
    }
  }
};

TEST(EvidenceStoreTest, ResumesWithThePrefixHashAndCompletesReadOnly) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  const std::string data = std::string(300000, 'a') + std::string(200000, 'b');
  {
    auto store = EvidenceStore::open(dir.path() + "/evidence");
    ASSERT_TRUE(store.ok()) << store.status();
    auto rp = (*store)->begin("e-1");
    ASSERT_TRUE(rp.ok()) << rp.status();
    EXPECT_EQ(rp->offset, 0u);
    ASSERT_TRUE((*store)->append("e-1", 0, std::string_view(data).substr(0, 300000)).ok());
    EXPECT_EQ((*store)->append("e-1", 5, "x").code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(*(*store)->sync("e-1"), 300000u);
    EXPECT_EQ((*store)->begin("e-1").status().code(), absl::StatusCode::kFailedPrecondition)
        << "one transfer per id";
    (*store)->end("e-1");
  }
  // A new store (a restarted controller) resumes from the bytes on disk.
  auto store = EvidenceStore::open(dir.path() + "/evidence");
  ASSERT_TRUE(store.ok());
  auto rp = (*store)->begin("e-1");
  ASSERT_TRUE(rp.ok()) << rp.status();
  EXPECT_EQ(rp->offset, 300000u);
  EXPECT_EQ(rp->prefix_sha256, crypto::sha256(data.substr(0, 300000)));
  ASSERT_TRUE((*store)->append("e-1", 300000, std::string_view(data).substr(300000)).ok());
  auto listed = (*store)->list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_FALSE((*listed)[0].complete) << "not complete before finish()";

  auto done = (*store)->finish("e-1", data.size(), crypto::sha256(data), "{\"manifest\": 1}\n");
  ASSERT_TRUE(done.ok()) << done.status();
  struct stat st {};
  ASSERT_EQ(::stat(done->path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  if (done->immutable) {
    EXPECT_LT(::open(done->path.c_str(), O_WRONLY | O_CLOEXEC), 0) << "immutable even for root";
  }
  listed = (*store)->list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_TRUE((*listed)[0].complete);
  EXPECT_EQ((*store)->begin("e-1").status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE((*store)->verify("e-1", crypto::sha256(data)).ok());
  EXPECT_EQ((*store)->verify("e-1", crypto::sha256("other")).code(), absl::StatusCode::kDataLoss);
}

TEST(EvidenceStoreTest, WrongSizeOrHashStaysIncomplete) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  auto store = EvidenceStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->begin("e-2").ok());
  ASSERT_TRUE((*store)->append("e-2", 0, "hello").ok());
  auto bad = (*store)->finish("e-2", 5, crypto::sha256("hellO"), "{}");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  auto listed = (*store)->list();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_FALSE((*listed)[0].complete);
  EXPECT_FALSE(EvidenceStore::validId("../etc"));
  EXPECT_EQ((*store)->begin("../x").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace warden
