// Triage bundle limits (triage_scratch_host.h): a member over max_member_bytes is truncated,
// a total over max_total_bytes lists what was left out, a member count over max_members is
// reported; each shows in the manifest and still leaves an archive that extracts.
#include <cstdint>
#include <filesystem>
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
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace warden::testing {
namespace {

TEST(TriageTest, MemberLimitTruncatesExplicitly) {
  TempDir root, work;
  plantHost(root.path());
  const std::string big = randomText(100000, 7);
  plant(root.path() + "/home/mallory/.bash_history", big, 0600, 1002, 1002);
  TriageOptions options = scratchOptions(root.path());
  options.limits.max_member_bytes = 4096;
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundle(bundle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(hasLimit(*result,
                       "files/home/mallory/.bash_history truncated at 4096 of 100000 "
                       "bytes (max_member_bytes)"))
      << limitsText(*result);

  EXPECT_EQ(listBundle(bundle).back(), "MANIFEST.json");
  const std::string out = work.file("out");
  const Json manifest = extractBundle(bundle, out);
  const Json m = memberNamed(manifest, "files/home/mallory/.bash_history");
  ASSERT_TRUE(m.is_object());
  EXPECT_TRUE(m.at("truncated").get<bool>());
  EXPECT_EQ(m.at("size").get<std::uint64_t>(), 4096u);
  EXPECT_EQ(m.at("source_size").get<std::uint64_t>(), 100000u);
  EXPECT_EQ(readAll(out + "/files/home/mallory/.bash_history"), big.substr(0, 4096));
  EXPECT_EQ(m.at("sha256").get<std::string>(), crypto::hex(crypto::sha256(big.substr(0, 4096))));
  const std::vector<std::string> hit = manifest.at("limits_hit").get<std::vector<std::string>>();
  EXPECT_EQ(hit, result->limits_hit);
  // Small files are whole; the generated tables stay valid JSON even when cut short.
  EXPECT_EQ(readAll(out + "/files/home/mallory/.ssh/authorized_keys"), kKeys);
  EXPECT_TRUE(loadJson(out + "/commands/processes.json").is_array());
  for (const Json& member : manifest.at("members")) {
    EXPECT_LE(member.at("size").get<std::uint64_t>(), 4096u)
        << member.at("name").get<std::string>();
  }
}

TEST(TriageTest, TotalLimitListsWhatIsLeftOut) {
  TempDir root, work;
  plantHost(root.path());
  // The live tables (processes, sockets, mounts) come first and their size is the machine's: on
  // a quiet one they leave room under 16 KiB. A crontab bigger than the whole limit, collected
  // before any home directory, makes sure the limit is spent before authorized_keys either way.
  plant(root.path() + "/etc/crontab", std::string(32768, '#'));
  TriageOptions options = scratchOptions(root.path());
  options.limits.max_total_bytes = 16384;
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundle(bundle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_LE(result->content_bytes, 16384u);
  EXPECT_TRUE(hasLimit(*result, "max_total_bytes (16384) reached")) << limitsText(*result);
  const std::string out = work.file("out");
  const Json manifest = extractBundle(bundle, out);
  EXPECT_EQ(listBundle(bundle).back(), "MANIFEST.json");
  const Json keys = memberNamed(manifest, "files/home/mallory/.ssh/authorized_keys");
  ASSERT_TRUE(keys.is_object());
  EXPECT_FALSE(keys.at("archived").get<bool>());
  EXPECT_EQ(keys.at("error").get<std::string>(), "not collected: total size limit reached");
  EXPECT_EQ(keys.at("source_size").get<std::uint64_t>(), kKeys.size());
  EXPECT_FALSE(fs::exists(out + "/files/home/mallory/.ssh/authorized_keys"));
  std::uint64_t sum = 0;
  for (const Json& member : manifest.at("members")) sum += member.at("size").get<std::uint64_t>();
  EXPECT_EQ(sum, result->content_bytes);
}

TEST(TriageTest, MemberCountLimitIsReported) {
  TempDir root, work;
  plantHost(root.path());
  TriageOptions options = scratchOptions(root.path());
  options.limits.max_members = 12;
  const std::string bundle = work.file("bundle.tar.zst");
  auto result = writeTriageBundle(bundle, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->members.size(), 12u);
  EXPECT_TRUE(hasLimit(*result, "max_members (12) reached")) << limitsText(*result);
  const Json manifest = extractBundle(bundle, work.file("out"));
  EXPECT_EQ(manifest.at("members").size(), 12u);
}
}  // namespace
}  // namespace warden::testing
