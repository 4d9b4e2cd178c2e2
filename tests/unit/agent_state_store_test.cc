// What the agent persists: the containment state's encoding (round trips, distinct states,
// malformed input) and agent/runtime/state_store.h (settings, containment and receipts across
// reopening).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "agent/os/firewall.h"
#include "agent/runtime/state_store.h"
#include "common/canonical.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/sample_isolation_policy.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

TEST(ContainmentEncoding, RoundTripWithIsolationAndBlocks) {
  ContainmentState s;
  s.isolation = samplePolicy();
  s.blocked = {prefix("203.0.113.0/24"), prefix("2001:db8:bad::/48"), prefix("192.0.2.66")};
  const std::string enc = encodeContainment(s);
  auto back = decodeContainment(enc);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
  ASSERT_TRUE(back->isolation.has_value());
  EXPECT_EQ(back->isolation->controller_port, 7443);
  EXPECT_EQ(back->isolation->allow[0].port, 443);
  EXPECT_EQ(back->isolation->allow[2].port, 0);
  EXPECT_EQ(encodeContainment(*back), enc);
}

TEST(ContainmentEncoding, RoundTripOfTheEmptyState) {
  const ContainmentState empty;
  auto back = decodeContainment(encodeContainment(empty));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->empty());
  EXPECT_FALSE(back->isolation.has_value());
  EXPECT_EQ(*back, empty);
}

TEST(ContainmentEncoding, BlocksOnlyAndBareIsolation) {
  ContainmentState blocks;
  blocks.blocked = {prefix("2001:db8::/32")};
  auto b = decodeContainment(encodeContainment(blocks));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*b, blocks);
  EXPECT_FALSE(b->isolation.has_value());

  ContainmentState bare;
  bare.isolation = IsolationPolicy{{prefix("198.18.0.1")}, 1, {}, {}};
  auto i = decodeContainment(encodeContainment(bare));
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(*i, bare);
}

TEST(ContainmentEncoding, DhcpServersRoundTrip) {
  ContainmentState s;
  s.isolation = samplePolicy();
  s.isolation->dhcp_servers = {prefix("198.18.0.53"), prefix("198.18.1.53")};
  auto back = decodeContainment(encodeContainment(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
}

TEST(ContainmentEncoding, ReadsTheStateAnEarlierAgentWrote) {
  // Version 1 had no DHCP servers: an agent upgraded while isolated keeps its isolation.
  CanonicalWriter w("containment");
  w.u64(1).u64(1).list({"198.18.0.1"}).u64(7443).list({"198.18.7.0/24"}).list({"198.19.0.0/16"});
  auto back = decodeContainment(std::move(w).finish());
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->isolation.has_value());
  EXPECT_EQ(back->isolation->controller_port, 7443);
  EXPECT_TRUE(back->isolation->dhcp_servers.empty());
  EXPECT_EQ(back->blocked, std::vector<IpPrefix>{prefix("198.19.0.0/16")});
}

TEST(ContainmentEncoding, DistinguishesStates) {
  ContainmentState a, b;
  a.isolation = samplePolicy();
  b.isolation = samplePolicy();
  b.isolation->allow.pop_back();
  EXPECT_NE(encodeContainment(a), encodeContainment(b));
  b = a;
  b.isolation->controller_port = 7444;
  EXPECT_NE(encodeContainment(a), encodeContainment(b));
  EXPECT_NE(encodeContainment(a), encodeContainment(ContainmentState{}));
}

TEST(ContainmentEncoding, RejectsMalformedInput) {
  ContainmentState s;
  s.isolation = samplePolicy();
  const std::string enc = encodeContainment(s);
  for (std::size_t n = 0; n < enc.size(); ++n) {
    EXPECT_FALSE(decodeContainment(enc.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(decodeContainment(enc + "x").ok());
  // Hand-built: a bad controller port, an unparsable address, an unknown version.
  auto build = [](std::uint64_t version, std::uint64_t port, std::string ctrl) {
    return CanonicalWriter("containment")
        .u64(version)
        .u64(1)
        .list({ctrl})
        .u64(port)
        .list({})
        .list({})
        .bytes();
  };
  EXPECT_TRUE(decodeContainment(build(1, 7443, "198.18.0.1")).ok());
  EXPECT_FALSE(decodeContainment(build(1, 0, "198.18.0.1")).ok());
  EXPECT_FALSE(decodeContainment(build(1, 65536, "198.18.0.1")).ok());
  EXPECT_FALSE(decodeContainment(build(1, 7443, "198.18.0.1/24")).ok());
  EXPECT_FALSE(decodeContainment(build(1, 7443, "not-an-address")).ok());
  EXPECT_FALSE(decodeContainment(build(2, 7443, "198.18.0.1")).ok());
}
TEST(StateStore, SettingsSetGetGetOr) {
  TempDir dir;
  auto store = StateStore::open(dir.file("state"));
  ASSERT_TRUE(store.ok()) << store.status();
  StateStore& s = **store;
  EXPECT_EQ(s.dir(), dir.file("state"));
  EXPECT_EQ(s.path("agent.db"), dir.file("state/agent.db"));
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);

  auto missing = s.get("host_id");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("host_id"));
  EXPECT_EQ(s.getOr("host_id", "fallback"), "fallback");

  ASSERT_TRUE(s.set("host_id", "host-42").ok());
  EXPECT_EQ(*s.get("host_id"), "host-42");
  EXPECT_EQ(s.getOr("host_id", "fallback"), "host-42");
  ASSERT_TRUE(s.set("host_id", "host-43").ok());
  EXPECT_EQ(*s.get("host_id"), "host-43");

  const std::string raw("\0\x01\xff key bytes", 13);
  ASSERT_TRUE(s.set("command_key", raw).ok());
  EXPECT_EQ(*s.get("command_key"), raw);
  ASSERT_TRUE(s.set("empty", "").ok());
  auto empty = s.get("empty");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(*empty, "");
}

TEST(StateStore, ContainmentPersistsAcrossReopen) {
  TempDir dir;
  ContainmentState s;
  s.isolation = samplePolicy();
  s.blocked = {prefix("203.0.113.0/24")};
  {
    auto store = StateStore::open(dir.file("state"));
    ASSERT_TRUE(store.ok()) << store.status();
    auto initial = (*store)->loadContainment();
    ASSERT_TRUE(initial.ok()) << initial.status();
    EXPECT_TRUE(initial->empty()) << "a fresh store holds no containment";
    ASSERT_TRUE((*store)->saveContainment(ContainmentState{}).ok());
    ASSERT_TRUE((*store)->saveContainment(s).ok());
    ASSERT_TRUE((*store)->set("host_id", "host-42").ok());
  }
  auto store = StateStore::open(dir.file("state"));
  ASSERT_TRUE(store.ok()) << store.status();
  auto loaded = (*store)->loadContainment();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, s);
  EXPECT_EQ((*store)->getOr("host_id", ""), "host-42");

  // Overwritten, not appended.
  ASSERT_TRUE((*store)->saveContainment(ContainmentState{}).ok());
  auto cleared = (*store)->loadContainment();
  ASSERT_TRUE(cleared.ok());
  EXPECT_TRUE(cleared->empty());
}

TEST(StateStore, ReceiptsAreInsertOnce) {
  TempDir dir;
  auto store = StateStore::open(dir.file("state"));
  ASSERT_TRUE(store.ok()) << store.status();
  StateStore& s = **store;

  auto none = s.findReceipt("a-unknown");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  const StoredReceipt first{std::string("receipt\0one", 11), std::string(64, '\x11')};
  const StoredReceipt second{"receipt two", std::string(64, '\x22')};
  ASSERT_TRUE(s.saveReceipt("a-1", first).ok());
  // Idempotency: the first receipt for a command id is the only one.
  ASSERT_TRUE(s.saveReceipt("a-1", second).ok());
  auto found = s.findReceipt("a-1");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->receipt, first.receipt);
  EXPECT_EQ((*found)->signature, first.signature);

  ASSERT_TRUE(s.saveReceipt("a-2", second).ok());
  auto other = s.findReceipt("a-2");
  ASSERT_TRUE(other.ok() && other->has_value());
  EXPECT_EQ((*other)->receipt, second.receipt);
  EXPECT_FALSE(s.findReceipt("a-3")->has_value());
}

TEST(StateStore, ReceiptsSurviveReopen) {
  TempDir dir;
  {
    auto store = StateStore::open(dir.file("state"));
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->saveReceipt("a-1", StoredReceipt{"r", "s"}).ok());
  }
  auto store = StateStore::open(dir.file("state"));
  ASSERT_TRUE(store.ok());
  auto found = (*store)->findReceipt("a-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->receipt, "r");
  EXPECT_EQ((*found)->signature, "s");
}

// Execute once: the mark made before a command acts survives a crash (a reopen) and its
// receipt clears it; marking again keeps the first time.
TEST(StateStore, StartedMarkSurvivesReopenUntilTheReceipt) {
  TempDir dir;
  {
    auto store = StateStore::open(dir.file("state"));
    ASSERT_TRUE(store.ok());
    EXPECT_FALSE((*store)->findStarted("a-1")->has_value());
    ASSERT_TRUE((*store)->markStarted("a-1", "isolate", 1000).ok());
    ASSERT_TRUE((*store)->markStarted("a-1", "isolate", 2000).ok());
    ASSERT_TRUE((*store)->markStarted("a-2", "kill-sessions", 3000).ok());
  }
  auto store = StateStore::open(dir.file("state"));
  ASSERT_TRUE(store.ok());
  auto started = (*store)->findStarted("a-1");
  ASSERT_TRUE(started.ok() && started->has_value());
  EXPECT_EQ((*started)->kind, "isolate");
  EXPECT_EQ((*started)->started_unix_ms, 1000);
  ASSERT_TRUE((*store)->saveReceipt("a-1", StoredReceipt{"r", "s"}).ok());
  EXPECT_FALSE((*store)->findStarted("a-1")->has_value());
  EXPECT_TRUE((*store)->findStarted("a-2")->has_value());
}
}  // namespace
}  // namespace warden::testing
