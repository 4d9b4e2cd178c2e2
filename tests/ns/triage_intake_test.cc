// The agent's side of the collector's stream (agent/os/linux/triage/collector_intake.h), fed
// by hand: what a well-behaved collector sends becomes members whose size and SHA-256 are the
// agent's own; every way a hostile collector could break the archive or take the agent's own
// names is a protocol violation; a collector that stops mid-entry leaves a bundle that tar
// reads, with the member filled up by zeros and saying so. No privileges needed.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/os/linux/triage/bundle.h"
#include "agent/os/linux/triage/collector_intake.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "gtest/gtest.h"
#include "tests/ns/triage_scratch_host.h"
#include "tests/support/temp_dir.h"

namespace warden::testing {
namespace {

using triage::Bundle;
using triage::CollectorIntake;

v1::CollectorMessage entryMessage(const std::string& name, std::uint64_t size, char type = '0',
                                  const std::string& link = "") {
  triage::TarEntry e;
  e.name = name;
  e.type = type;
  e.mode = 0644;
  e.mtime = kPlantedMtime;
  e.size = size;
  e.link = link;
  v1::CollectorMessage m;
  *m.mutable_entry() = triage::entryToWire(e);
  return m;
}

v1::CollectorMessage dataMessage(const std::string& d) {
  v1::CollectorMessage m;
  m.set_data(d);
  return m;
}

v1::CollectorMessage endMessage() {
  v1::CollectorMessage m;
  m.set_entry_end(true);
  return m;
}

v1::CollectorMessage memberMessage(const std::string& name, const std::string& type, bool archived,
                                   const std::string& error = "") {
  TriageMember t;
  t.name = name;
  t.type = type;
  t.source = name.substr(5);
  t.archived = archived;
  t.size = 999999;      // never believed
  t.sha256 = "forged";  // never sent
  t.error = error;
  v1::CollectorMessage m;
  *m.mutable_member() = triage::memberToWire(t);
  return m;
}

TriageOptions smallLimits(const std::string& root) {
  TriageOptions o = scratchOptions(root);
  o.limits.max_member_bytes = 1000;
  o.limits.max_total_bytes = 5000;
  o.limits.max_members = 10;
  return o;
}

class IntakeTest : public ::testing::Test {
 protected:
  IntakeTest() : options_(smallLimits(dir_.path())), bundle_(options_, dir_.file("b.tar.zst")) {}
  void SetUp() override { ASSERT_TRUE(bundle_.create().ok()); }

  // Feeds `messages`; the status of the first that is refused, or OK.
  absl::Status feed(const std::vector<v1::CollectorMessage>& messages) {
    for (const auto& m : messages) {
      auto r = intake_.take(m);
      if (!r.ok()) return r.status();
    }
    return absl::OkStatus();
  }
  // A whole file member, as a collector sends one.
  std::vector<v1::CollectorMessage> file(const std::string& name, const std::string& content) {
    return {entryMessage(name, content.size()), dataMessage(content), endMessage(),
            memberMessage(name, "file", true)};
  }
  void expectViolation(const std::vector<v1::CollectorMessage>& messages, const char* what) {
    const absl::Status s = feed(messages);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << what << ": " << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "protocol violation")) << s;
  }

  TempDir dir_;
  TriageOptions options_;
  Bundle bundle_;
  CollectorIntake intake_{bundle_};
};

TEST_F(IntakeTest, MembersCarryTheAgentsOwnSizeAndHash) {
  ASSERT_TRUE(feed(file("files/etc/crontab", kCrontab)).ok());
  ASSERT_TRUE(feed({memberMessage("files/etc/cron.allow", "absent", false, "open: ENOENT")}).ok());
  v1::CollectorMessage end;
  end.mutable_end()->set_over_member_limit(3);
  auto r = intake_.take(end);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->end);
  auto result = bundle_.finish();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->members.size(), 2u);
  const TriageMember& m = result->members[0];
  EXPECT_EQ(m.size, kCrontab.size());
  EXPECT_EQ(m.sha256, crypto::hex(crypto::sha256(kCrontab)));
  EXPECT_FALSE(result->members[1].archived);
  EXPECT_EQ(result->members[1].sha256, "");
  EXPECT_TRUE(hasLimit(*result, "max_members (10) reached: 3 further sources"))
      << limitsText(*result);
  EXPECT_EQ(listBundle(dir_.file("b.tar.zst")),
            (std::vector<std::string>{"files/etc/crontab", "MANIFEST.json"}));
}

TEST_F(IntakeTest, NamesThatEscapeOrTakeTheAgentsOwnAreViolations) {
  expectViolation(file("files/etc/../shadow", "x"), "..");
  expectViolation(file("files//etc/shadow", "x"), "empty part");
  expectViolation(file("/etc/shadow", "x"), "absolute");
  expectViolation(file("MANIFEST.json", "x"), "the manifest");
  expectViolation(file("commands/journal.txt", "x"), "the agent's own output");
  expectViolation(file("commands/collector.json", "x"), "the agent's record");
  expectViolation(file(std::string("files/etc/a\0b", 13), "x"), "NUL");
  expectViolation({entryMessage("files/etc", 0, '5')}, "a directory without /");
  // Nothing after the prefix: the name of no file (this once read past the name's end).
  expectViolation({entryMessage("files/", 0, '5')}, "files/ as a directory");
  expectViolation(file("files/", "x"), "files/ as a file");
  expectViolation({memberMessage("files/", "directory", false)}, "files/ as a member");
  expectViolation({entryMessage("files/etc/x", 0, '3')}, "a device");
}

TEST_F(IntakeTest, SizesAreHeldToWhatWasAnnouncedAndTheLimits) {
  expectViolation({entryMessage("files/big", 1001)}, "past max_member_bytes");
}

TEST_F(IntakeTest, DataBeyondTheEntryIsAViolation) {
  expectViolation({entryMessage("files/a", 2), dataMessage("abc")}, "more than announced");
}

TEST_F(IntakeTest, AShortEntryIsAViolation) {
  expectViolation({entryMessage("files/a", 3), dataMessage("ab"), endMessage()}, "short");
}

TEST_F(IntakeTest, AMemberMustDescribeItsOwnEntry) {
  expectViolation({entryMessage("files/a", 1), dataMessage("a"), endMessage(),
                   memberMessage("files/b", "file", true)},
                  "another name");
}

TEST_F(IntakeTest, ClaimingAnEntryThatWasNeverSentIsAViolation) {
  expectViolation({memberMessage("files/a", "file", true)}, "archived without entry");
}

TEST_F(IntakeTest, TheSameNameTwiceIsAViolation) {
  ASSERT_TRUE(feed(file("files/a", "a")).ok());
  expectViolation(file("files/a", "b"), "twice");
}

TEST_F(IntakeTest, AHardLinkMustNameAnArchivedMember) {
  expectViolation({entryMessage("files/b", 0, '1', "files/nowhere")}, "dangling hard link");
}

TEST_F(IntakeTest, StepsComeOnceAndInOrder) {
  v1::CollectorMessage journal, network;
  journal.set_step(triage::kStepJournal);
  network.set_step(triage::kStepNetworkTables);
  auto r = intake_.take(journal);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->step, triage::kStepJournal);
  expectViolation({network}, "a step out of order");
}

TEST_F(IntakeTest, NothingAfterTheEnd) {
  v1::CollectorMessage end;
  end.mutable_end();
  ASSERT_TRUE(feed({end}).ok());
  expectViolation(file("files/a", "a"), "after the end");
}

TEST_F(IntakeTest, MaxMembersHoldsAgainstTheCollector) {
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(feed({memberMessage("files/m" + std::to_string(i), "absent", false)}).ok());
  }
  expectViolation({memberMessage("files/m10", "absent", false)}, "past max_members");
}

TEST(IntakeMetadata, TheMembersTextIsBoundedInAllNotOnlyEach) {
  TempDir dir;
  TriageOptions options = scratchOptions(dir.path());
  options.limits.max_members = 100'000;
  Bundle bundle(options, dir.file("b.tar.zst"));
  ASSERT_TRUE(bundle.create().ok());
  CollectorIntake intake(bundle);
  // Each field within its own bound (names 4 KiB, errors 8 KiB): ~12 KiB a member.
  const std::string error(8000, 'e');
  absl::Status refused;
  int taken = 0;
  for (; taken < 10'000 && refused.ok(); ++taken) {
    const std::string name = absl::StrCat("files/", taken, "/", std::string(3900, 'n'));
    refused = intake.take(memberMessage(name, "absent", false, error)).status();
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "names, sources and errors pass")) << refused;
  // ~16 KiB each (the source repeats the name): refused past 40 MiB, not at 10,000 members.
  EXPECT_GT(taken, 2000);
  EXPECT_LT(taken, 3000);
}

TEST_F(IntakeTest, ACollectorStoppedMidEntryLeavesASoundArchive) {
  ASSERT_TRUE(feed({entryMessage("files/var/log/auth.log", 900), dataMessage("first bytes")}).ok());
  ASSERT_TRUE(intake_.close("killed by signal 31").ok());
  auto result = bundle_.finish();
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->members.size(), 1u);
  const TriageMember& m = result->members[0];
  EXPECT_TRUE(m.truncated);
  EXPECT_EQ(m.size, 900u);
  EXPECT_TRUE(absl::StrContains(m.error, "killed by signal 31")) << m.error;
  EXPECT_TRUE(absl::StrContains(m.error, "11 of 900 bytes came")) << m.error;
  std::string expected = "first bytes";
  expected.resize(900, '\0');
  EXPECT_EQ(m.sha256, crypto::hex(crypto::sha256(expected)));
  const Json manifest = extractBundle(dir_.file("b.tar.zst"), dir_.file("x"));
  EXPECT_EQ(readAll(dir_.file("x/files/var/log/auth.log")), expected);
  EXPECT_EQ(manifest.at("member_count"), 1);
}

}  // namespace
}  // namespace warden::testing
