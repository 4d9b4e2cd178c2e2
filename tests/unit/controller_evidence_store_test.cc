// controller/evidence/store.h: transfers that resume where the store stands (with the hash of
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
#include <vector>

#include "common/crypto/hash.h"
#include "controller/evidence/store.h"
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

// Appends `data` to `id` in chunks of `chunk` bytes from `from`.
void appendChunks(EvidenceStore& store, const std::string& id, const std::string& data,
                  std::size_t from, std::size_t chunk) {
  for (std::size_t at = from; at < data.size(); at += chunk) {
    ASSERT_TRUE(store.append(id, at, std::string_view(data).substr(at, chunk)).ok());
  }
}

std::string stateOf(EvidenceStore& store, const std::string& id) {
  auto listed = store.list();
  EXPECT_TRUE(listed.ok());
  if (!listed.ok()) return "";
  for (const auto& e : *listed) {
    if (e.id == id) return e.state;
  }
  return "absent";
}

class EvidenceStoreTest : public ::testing::TestWithParam<Compression> {};

TEST_P(EvidenceStoreTest, ResumesWithThePrefixHashAndCompletesReadOnly) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  const Compression c = GetParam();
  std::string data = std::string(300000, 'a') + std::string(200000, 'b');
  for (std::size_t i = 0; i < data.size(); i += 7) data[i] = static_cast<char>(i * 31);
  {
    auto store = EvidenceStore::open(dir.path() + "/evidence");
    ASSERT_TRUE(store.ok()) << store.status();
    auto rp = (*store)->begin("e-1", c);
    ASSERT_TRUE(rp.ok()) << rp.status();
    EXPECT_EQ(rp->offset, 0u);
    ASSERT_TRUE((*store)->append("e-1", 0, std::string_view(data).substr(0, 100000)).ok());
    ASSERT_TRUE(
        (*store)->append("e-1", 100000, std::string_view(data).substr(100000, 200000)).ok());
    EXPECT_EQ((*store)->append("e-1", 5, "x").code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(*(*store)->sync("e-1"), 300000u);
    EXPECT_EQ((*store)->begin("e-1", c).status().code(), absl::StatusCode::kFailedPrecondition)
        << "one transfer per id";
    (*store)->end("e-1");
  }
  if (c == Compression::kZstd) {
    // A crash in the middle of writing a frame: the torn frame is cut off on restart.
    std::ofstream(dir.path() + "/evidence/e-1.partial", std::ios::binary | std::ios::app)
        << std::string("\x28\xb5\x2f\xfd\x20", 5);
  }
  // A new store (a restarted controller) resumes from the bytes on disk.
  auto store = EvidenceStore::open(dir.path() + "/evidence");
  ASSERT_TRUE(store.ok());
  auto rp = (*store)->begin("e-1", c);
  ASSERT_TRUE(rp.ok()) << rp.status();
  EXPECT_EQ(rp->offset, 300000u);
  EXPECT_EQ(rp->prefix_sha256, crypto::sha256(data.substr(0, 300000)));
  ASSERT_NO_FATAL_FAILURE(appendChunks(**store, "e-1", data, 300000, 65536));
  EXPECT_EQ(stateOf(**store, "e-1"), "receiving") << "not complete before finish()";

  EvidenceRecord record;
  record.action_id = "e";
  record.host_id = "host-42";
  record.operator_name = "admin";
  record.kind = "image";
  record.source = "/dev/\"odd\"\nname";
  auto done = (*store)->finish("e-1", data.size(), crypto::sha256(data), "{\"manifest\": 1}", "sig",
                               record);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->stored_name, c == Compression::kZstd ? "e-1.img.zst" : "e-1.img");
  const std::string stored_path = dir.path() + "/evidence/" + done->stored_name;
  struct stat st {};
  ASSERT_EQ(::stat(stored_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), done->stored_size);
  if (c == Compression::kZstd) {
    EXPECT_LT(done->stored_size, data.size()) << "the runs of 'a' and 'b' compress";
  }
  if (done->immutable) {
    EXPECT_LT(::open(stored_path.c_str(), O_WRONLY | O_CLOEXEC), 0) << "immutable even for root";
  }
  EXPECT_EQ(stateOf(**store, "e-1"), "complete");
  EXPECT_EQ((*store)->begin("e-1", c).status().code(), absl::StatusCode::kAlreadyExists);

  // The record reads back as written, odd characters included.
  auto found = (*store)->find("e-1");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->record.source, record.source);
  EXPECT_EQ(found->record.operator_name, "admin");
  EXPECT_EQ(found->record.controller_sha256, crypto::sha256(data));
  EXPECT_EQ(found->record.stored_sha256, done->stored_sha256);
  EXPECT_EQ(found->record.compression, c);
  auto manifest = (*store)->manifest("e-1");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->first, "{\"manifest\": 1}");
  EXPECT_EQ(manifest->second, "sig");

  // Measured and read back: the content, decompressed when stored compressed.
  auto m = (*store)->measure("e-1");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->sha256, crypto::sha256(data));
  EXPECT_EQ(m->size, data.size());
  EXPECT_EQ(m->stored_sha256, done->stored_sha256);
  std::string back;
  ASSERT_TRUE((*store)
                  ->readContent("e-1",
                                [&](std::string_view p) {
                                  back.append(p);
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(back, data);
}

INSTANTIATE_TEST_SUITE_P(Compression, EvidenceStoreTest,
                         ::testing::Values(Compression::kNone, Compression::kZstd),
                         [](const auto& info) { return std::string(compressionName(info.param)); });

TEST(EvidenceStoreBadInput, WrongSizeOrHashStaysIncomplete) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  auto store = EvidenceStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->begin("e-2", Compression::kNone).ok());
  ASSERT_TRUE((*store)->append("e-2", 0, "hello").ok());
  auto bad = (*store)->finish("e-2", 5, crypto::sha256("hellO"), "{}", "", EvidenceRecord{});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(stateOf(**store, "e-2"), "receiving");
  EXPECT_EQ((*store)->find("e-2").status().code(), absl::StatusCode::kFailedPrecondition);
  // Its action ended: incomplete, and it stays that way.
  EXPECT_EQ((*store)->markIncomplete("e"), 1);
  EXPECT_EQ(stateOf(**store, "e-2"), "incomplete");
  EXPECT_EQ((*store)->begin("e-2", Compression::kNone).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(EvidenceStore::validId("../etc"));
  EXPECT_EQ((*store)->begin("../x", Compression::kNone).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store)->find("nope").status().code(), absl::StatusCode::kNotFound);
}

// A changed byte in a stored item shows in measure(), compressed or not.
TEST(EvidenceStoreBadInput, ChangedByteShowsInMeasure) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  auto store = EvidenceStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  const std::string data(200000, 'z');
  ASSERT_TRUE((*store)->begin("e-3", Compression::kNone).ok());
  ASSERT_TRUE((*store)->append("e-3", 0, data).ok());
  auto done =
      (*store)->finish("e-3", data.size(), crypto::sha256(data), "{}", "", EvidenceRecord{});
  ASSERT_TRUE(done.ok()) << done.status();
  const std::string path = dir.path() + "/" + done->stored_name;
  { LiftImmutable l{dir.path()}; }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1234);
    f.put('y');
  }
  auto m = (*store)->measure("e-3");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NE(m->sha256, done->controller_sha256);
  EXPECT_NE(m->stored_sha256, done->stored_sha256);
}

// Completes `id` with `data` in one go.
void complete(EvidenceStore& store, const std::string& id, const std::string& data) {
  ASSERT_TRUE(store.begin(id, Compression::kNone).ok());
  ASSERT_TRUE(store.append(id, 0, data).ok());
  auto done = store.finish(id, data.size(), crypto::sha256(data), "{}", "sig", EvidenceRecord{});
  ASSERT_TRUE(done.ok()) << done.status();
}

// A crash inside finish(): after the content was renamed into place but before the record
// committed. With the record's temporary file there, it commits; without, the content goes
// back to being a partial transfer, complete but for the last message, and finishes again.
TEST(EvidenceStoreCrash, InterruptedCommitIsRecovered) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  auto store = EvidenceStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  const std::string data(100000, 'q');
  ASSERT_TRUE((*store)->begin("e-4", Compression::kNone).ok());
  ASSERT_TRUE((*store)->append("e-4", 0, data).ok());
  (*store)->end("e-4");
  ASSERT_EQ(::rename((dir.path() + "/e-4.partial").c_str(), (dir.path() + "/e-4.img").c_str()), 0);
  auto again = EvidenceStore::open(dir.path());
  ASSERT_TRUE(again.ok());
  auto rp = (*again)->begin("e-4", Compression::kNone);
  ASSERT_TRUE(rp.ok()) << rp.status();
  EXPECT_EQ(rp->offset, data.size());
  ASSERT_TRUE((*again)
                  ->finish("e-4", data.size(), crypto::sha256(data), "{}", "sig", EvidenceRecord{})
                  .ok());
  EXPECT_EQ(stateOf(**again, "e-4"), "complete");

  ASSERT_NO_FATAL_FAILURE(complete(**again, "e-5", data));
  { LiftImmutable l{dir.path()}; }
  ASSERT_EQ(
      ::rename((dir.path() + "/e-5.record").c_str(), (dir.path() + "/e-5.record.tmp").c_str()), 0);
  EXPECT_EQ((*again)->begin("e-5", Compression::kNone).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(stateOf(**again, "e-5"), "complete");
}

// A record that no longer reads is listed as damaged; it does not hide the other items.
TEST(EvidenceStoreCrash, DamagedRecordDoesNotHideTheOthers) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  auto store = EvidenceStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  ASSERT_NO_FATAL_FAILURE(complete(**store, "e-6", "six"));
  ASSERT_NO_FATAL_FAILURE(complete(**store, "e-7", "seven"));
  { LiftImmutable l{dir.path()}; }
  const std::string record = dir.path() + "/e-6.record";
  ASSERT_EQ(::chmod(record.c_str(), 0644), 0);
  std::ofstream(record, std::ios::trunc) << "{not json";
  EXPECT_EQ(stateOf(**store, "e-6"), "damaged");
  EXPECT_EQ(stateOf(**store, "e-7"), "complete");
  EXPECT_EQ((*store)->find("e-6").status().code(), absl::StatusCode::kDataLoss);
}

// The ids a page of `warden evidence list` starts from: every item once whatever its state (a
// completed item's leftover .partial included), in order, after the previous page's last.
TEST(EvidenceStorePages, IdsInOrderAfterACursor) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  auto store = EvidenceStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  ASSERT_NO_FATAL_FAILURE(complete(**store, "e-2", "two"));
  for (const char* id : {"e-3", "e-1", "e-4"}) {
    ASSERT_TRUE((*store)->begin(id, Compression::kNone).ok());
    (*store)->end(id);
  }
  std::ofstream(dir.path() + "/e-2.partial") << "left over from a crash";
  using Ids = std::vector<std::string>;
  EXPECT_EQ(*(*store)->ids(), (Ids{"e-1", "e-2", "e-3", "e-4"}));
  EXPECT_EQ(*(*store)->ids("e-2"), (Ids{"e-3", "e-4"}));
  EXPECT_EQ(*(*store)->ids("e-4"), Ids{});
  EXPECT_EQ((*store)->listed("e-2")->state, "complete");
  EXPECT_EQ((*store)->listed("e-3")->state, "receiving");
  EXPECT_EQ((*store)->listed("e-9").status().code(), absl::StatusCode::kNotFound);
  auto all = (*store)->list();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 4u);
  EXPECT_EQ((*all)[1].state, "complete");
}

// A stream that ends and resumes in the same process picks up where it stood.
TEST(EvidenceStoreCrash, ResumeInTheSameProcessKeepsItsPlace) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  auto store = EvidenceStore::open(dir.path());
  ASSERT_TRUE(store.ok());
  const std::string data = std::string(70000, 'x') + std::string(70000, 'y');
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    const std::string id = c == Compression::kNone ? "e-8" : "e-9";
    ASSERT_TRUE((*store)->begin(id, c).ok());
    ASSERT_TRUE((*store)->append(id, 0, std::string_view(data).substr(0, 70000)).ok());
    (*store)->end(id);
    auto rp = (*store)->begin(id, c);
    ASSERT_TRUE(rp.ok()) << rp.status();
    EXPECT_EQ(rp->offset, 70000u);
    EXPECT_EQ(rp->prefix_sha256, crypto::sha256(data.substr(0, 70000)));
    ASSERT_TRUE((*store)->append(id, 70000, std::string_view(data).substr(70000)).ok());
    auto done = (*store)->finish(id, data.size(), crypto::sha256(data), "{}", "", EvidenceRecord{});
    ASSERT_TRUE(done.ok()) << done.status();
    auto m = (*store)->measure(id);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->sha256, crypto::sha256(data));
  }
}

}  // namespace
// The quota: a chunk that would pass the total, a host's share or the disk's reserve is
// refused with ResourceExhausted, nothing of it is written, and the transfer stays resumable;
// a reopened store counts what is already there.
TEST(EvidenceQuotaTest, RefusesPastTheTotalAndAHostsShareAndCountsWhatIsThere) {
  TempDir dir;
  LiftImmutable lift{dir.path()};
  EvidenceQuota quota;
  quota.total_bytes = 300000;
  quota.per_host_bytes = 200000;
  quota.keep_free_bytes = 0;
  const std::string chunk(100000, 'x');
  {
    auto store = EvidenceStore::open(dir.path() + "/evidence", quota);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->begin("a-1-1", Compression::kNone, true, "host-1").ok());
    ASSERT_TRUE((*store)->append("a-1-1", 0, chunk).ok());
    ASSERT_TRUE((*store)->append("a-1-1", 100000, chunk).ok());
    const absl::Status share = (*store)->append("a-1-1", 200000, chunk);
    EXPECT_EQ(share.code(), absl::StatusCode::kResourceExhausted) << share;
    EXPECT_NE(share.message().find("host-1's evidence is at its quota"), std::string::npos)
        << share;
    EXPECT_EQ(*(*store)->sync("a-1-1"), 200000u) << "nothing of the refused chunk is kept";
    (*store)->end("a-1-1");
    ASSERT_TRUE((*store)->begin("a-2-1", Compression::kNone, true, "host-2").ok());
    ASSERT_TRUE((*store)->append("a-2-1", 0, chunk).ok());
    const absl::Status total = (*store)->append("a-2-1", 100000, chunk);
    EXPECT_EQ(total.code(), absl::StatusCode::kResourceExhausted) << total;
    EXPECT_NE(total.message().find("the evidence store is full"), std::string::npos) << total;
    (*store)->end("a-2-1");
  }
  // A restarted controller counts the 300000 bytes on disk: still full.
  auto store = EvidenceStore::open(dir.path() + "/evidence", quota);
  ASSERT_TRUE(store.ok());
  auto rp = (*store)->begin("a-2-1", Compression::kNone, true, "host-2");
  ASSERT_TRUE(rp.ok()) << rp.status();
  EXPECT_EQ(rp->offset, 100000u) << "the refused transfer resumes where it stood";
  EXPECT_EQ((*store)->append("a-2-1", 100000, "y").code(), absl::StatusCode::kResourceExhausted);
}

TEST(EvidenceQuotaTest, KeepsTheDisksReserveFree) {
  TempDir dir;
  EvidenceQuota quota;
  quota.keep_free_bytes = std::uint64_t{1} << 62;  // more than any disk has
  auto store = EvidenceStore::open(dir.path() + "/evidence", quota);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->begin("a-3-1", Compression::kZstd, true, "host-3").ok());
  const absl::Status s = (*store)->append("a-3-1", 0, "bytes");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_NE(s.message().find("stay free for the action log"), std::string::npos) << s;
}

}  // namespace warden
