// agent/runtime (command verification, persisted state) and agent/actions/containment.h with
// hand-written fakes of the firewall and conntrack interfaces: the logic, not the kernel.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "agent/actions/containment.h"
#include "agent/os/firewall.h"
#include "agent/runtime/command_verifier.h"
#include "agent/runtime/state_store.h"
#include "common/canonical.h"
#include "common/command.h"
#include "common/crypto.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::warden::testing::TempDir;

using ::testing::HasSubstr;

IpPrefix prefix(std::string_view text) {
  auto p = IpPrefix::parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status();
  return p.ok() ? *p : IpPrefix{};
}

AllowEntry allow(std::string_view text) {
  auto e = AllowEntry::parse(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status();
  return e.ok() ? *e : AllowEntry{};
}

IsolationPolicy samplePolicy() {
  IsolationPolicy p;
  p.controller_addresses = {prefix("198.18.0.1"), prefix("2001:db8::1")};
  p.controller_port = 7443;
  p.allow = {allow("198.18.0.0/24:443"), allow("[2001:db8:5::/64]:22"), allow("198.18.1.9"),
             allow("2001:db8:6::7")};
  return p;
}

// ---- command verification ------------------------------------------------------------------

constexpr std::int64_t kNow = 1'700'000'000'000;

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = crypto::Ed25519Key::generate();
    ASSERT_TRUE(key.ok()) << key.status();
    key_.emplace(*key);
    trust_.command_public_key = key_->publicKey();
    trust_.host_id = "host-42";
  }

  Command command() const {
    Command c;
    c.id = "a-0001";
    c.host_id = "host-42";
    c.kind = "isolate";
    c.issued_unix_ms = kNow - 1000;
    c.expires_unix_ms = kNow + 60'000;
    c.requested_by = "alice";
    c.reason = "INC-7";
    c.allow = {"198.18.0.9"};
    return c;
  }

  std::string sign(const std::string& bytes) const {
    auto sig = key_->sign(bytes);
    EXPECT_TRUE(sig.ok()) << sig.status();
    return sig.ok() ? *sig : std::string();
  }

  absl::StatusOr<Command> verifySigned(const Command& c, std::int64_t now = kNow) const {
    const std::string bytes = encodeCommand(c);
    return verifyCommand(bytes, sign(bytes), trust_, now);
  }

  std::optional<crypto::Ed25519Key> key_;
  CommandTrust trust_;
};

TEST_F(VerifierTest, ASignedCommandVerifies) {
  auto c = verifySigned(command());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->id, "a-0001");
  EXPECT_EQ(c->host_id, "host-42");
  EXPECT_EQ(c->kind, "isolate");
  EXPECT_EQ(c->requested_by, "alice");
  EXPECT_EQ(c->allow, std::vector<std::string>{"198.18.0.9"});

  Command release = command();
  release.kind = "release";
  EXPECT_TRUE(verifySigned(release).ok());
}

TEST_F(VerifierTest, WrongKeyIsRefused) {
  auto other = crypto::Ed25519Key::generate();
  ASSERT_TRUE(other.ok());
  const std::string bytes = encodeCommand(command());
  auto sig = other->sign(bytes);
  ASSERT_TRUE(sig.ok());
  auto c = verifyCommand(bytes, *sig, trust_, kNow);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(c.status().message(), HasSubstr("signature does not verify"));

  // The right signature checked against another pinned key.
  CommandTrust wrong = trust_;
  wrong.command_public_key = other->publicKey();
  auto c2 = verifyCommand(bytes, sign(bytes), wrong, kNow);
  ASSERT_FALSE(c2.ok());
  EXPECT_EQ(c2.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(VerifierTest, AnyTamperedByteIsRefused) {
  const std::string bytes = encodeCommand(command());
  const std::string sig = sign(bytes);
  ASSERT_TRUE(verifyCommand(bytes, sig, trust_, kNow).ok());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    std::string tampered = bytes;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    auto c = verifyCommand(tampered, sig, trust_, kNow);
    ASSERT_FALSE(c.ok()) << "byte " << i << " flipped and still accepted";
    EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied) << i;
  }
  for (std::size_t i = 0; i < sig.size(); ++i) {
    std::string bad_sig = sig;
    bad_sig[i] = static_cast<char>(bad_sig[i] ^ 0x80);
    EXPECT_FALSE(verifyCommand(bytes, bad_sig, trust_, kNow).ok()) << "signature byte " << i;
  }
  EXPECT_FALSE(verifyCommand(bytes, "", trust_, kNow).ok());
  EXPECT_FALSE(verifyCommand(bytes + "x", sig, trust_, kNow).ok());
}

TEST_F(VerifierTest, CommandForAnotherHostIsRefused) {
  Command c = command();
  c.host_id = "host-7";
  auto v = verifySigned(c);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(v.status().message(), HasSubstr("for host 'host-7', not 'host-42'"));

  c.host_id = "";
  EXPECT_FALSE(verifySigned(c).ok());
}

TEST_F(VerifierTest, ExpiredCommandIsRefused) {
  Command c = command();
  c.expires_unix_ms = kNow - 30'000;
  auto v = verifySigned(c);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(v.status().message(), HasSubstr("expired 30 s ago"));

  c.expires_unix_ms = kNow;  // expiring at this very millisecond is expired
  auto at = verifySigned(c);
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.status().code(), absl::StatusCode::kDeadlineExceeded);

  c.expires_unix_ms = kNow + 1;
  EXPECT_TRUE(verifySigned(c).ok());
}

TEST_F(VerifierTest, CommandIssuedTooFarInTheFutureIsRefused) {
  Command c = command();
  c.issued_unix_ms = kNow + trust_.max_clock_skew_ms + 1;
  c.expires_unix_ms = c.issued_unix_ms + 60'000;
  auto v = verifySigned(c);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(v.status().message(), HasSubstr("issued in the future"));

  // Within the allowed skew is fine.
  c.issued_unix_ms = kNow + trust_.max_clock_skew_ms;
  EXPECT_TRUE(verifySigned(c).ok());

  // A stricter trust setting moves the limit.
  trust_.max_clock_skew_ms = 1000;
  c.issued_unix_ms = kNow + 1001;
  EXPECT_FALSE(verifySigned(c).ok());
}

TEST_F(VerifierTest, UnknownKindIsRefused) {
  for (const char* kind : {"reboot", "", "Isolate", "isolate "}) {
    Command c = command();
    c.kind = kind;
    auto v = verifySigned(c);
    ASSERT_FALSE(v.ok()) << kind;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << kind;
    EXPECT_THAT(v.status().message(), HasSubstr("unknown command kind")) << kind;
  }
}

TEST_F(VerifierTest, SignedBytesThatAreNotACommandAreRefused) {
  const std::string receipt = encodeReceipt(Receipt{});
  auto v = verifyCommand(receipt, sign(receipt), trust_, kNow);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string trailing = encodeCommand(command()) + "x";
  EXPECT_FALSE(verifyCommand(trailing, sign(trailing), trust_, kNow).ok());
}

// ---- containment state encoding ------------------------------------------------------------

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
  bare.isolation = IsolationPolicy{{prefix("198.18.0.1")}, 1, {}};
  auto i = decodeContainment(encodeContainment(bare));
  ASSERT_TRUE(i.ok()) << i.status();
  EXPECT_EQ(*i, bare);
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

// ---- state store ---------------------------------------------------------------------------

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

// ---- containment actions with fakes --------------------------------------------------------

class FakeFirewall : public Firewall {
 public:
  std::string backend() const override { return "fake"; }

  absl::StatusOr<FirewallReport> apply(const ContainmentState& state) override {
    applied.push_back(state);
    const int call = static_cast<int>(applied.size());
    if (fail_apply_call == call || fail_every_apply) {
      return absl::InternalError(absl::StrFormat("apply #%d refused by the fake", call));
    }
    installed = state;
    tampered = false;
    return FirewallReport{"fake", absl::StrFormat("script #%d", call), "prior-digest",
                          absl::StrFormat("installed-digest-%d", call)};
  }

  absl::Status verify(const ContainmentState& state) override {
    ++verifies;
    if (tampered) return absl::FailedPreconditionError("chain 'input' is missing");
    if (!(installed == state)) return absl::FailedPreconditionError("installed state differs");
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> rulesetDigest() override { return std::string("digest"); }

  std::vector<ContainmentState> applied;
  ContainmentState installed;
  bool tampered = false;
  int fail_apply_call = 0;  // 1-based index of the apply() call that fails; 0: none
  bool fail_every_apply = false;
  int verifies = 0;
};

class FakeConntrack : public ConnectionTracker {
 public:
  absl::StatusOr<int> flushExcept(const IsolationPolicy& policy) override {
    flushed.push_back(policy);
    if (!error.ok()) return error;
    return 3;
  }
  std::vector<IsolationPolicy> flushed;
  absl::Status error = absl::OkStatus();
};

class ContainmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = StateStore::open(dir_.file("state"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    containment_ = std::make_unique<Containment>(firewall_, conntrack_, *store_);
    ASSERT_TRUE(containment_->load().ok());
  }

  ContainmentState persisted() {
    auto s = store_->loadContainment();
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : ContainmentState{};
  }

  // Puts the host in `state` through the public interface and forgets the calls.
  void startFrom(const ContainmentState& state) {
    ASSERT_TRUE(store_->saveContainment(state).ok());
    ASSERT_TRUE(containment_->restore().ok());
    firewall_.applied.clear();
    firewall_.verifies = 0;
    conntrack_.flushed.clear();
  }

  TempDir dir_;
  FakeFirewall firewall_;
  FakeConntrack conntrack_;
  std::unique_ptr<StateStore> store_;
  std::unique_ptr<Containment> containment_;
};

TEST_F(ContainmentTest, IsolateAppliesAndPersistsWhenTheControllerIsReachable) {
  ContainmentState before;
  before.blocked = {prefix("203.0.113.0/24")};
  startFrom(before);

  ContainmentState expected = before;
  expected.isolation = samplePolicy();
  int checks = 0;
  auto out = containment_->isolate(samplePolicy(), [&] {
    ++checks;
    // The check runs over the new rules.
    EXPECT_EQ(firewall_.installed, expected);
    // Nothing is persisted before the controller answered.
    EXPECT_EQ(persisted(), before);
    return true;
  });
  EXPECT_TRUE(out.ok) << out.message;
  EXPECT_EQ(checks, 1);
  EXPECT_THAT(out.message, HasSubstr("isolated"));
  EXPECT_THAT(out.message, HasSubstr("3 flows cut"));
  ASSERT_EQ(firewall_.applied.size(), 1u);
  EXPECT_EQ(firewall_.applied[0], expected) << "blocks are kept while isolating";
  EXPECT_EQ(firewall_.installed, expected);
  EXPECT_EQ(persisted(), expected);
  EXPECT_EQ(containment_->current(), expected);
  ASSERT_EQ(conntrack_.flushed.size(), 1u);
  EXPECT_EQ(conntrack_.flushed[0], samplePolicy());
  EXPECT_EQ(out.details["backend"], "fake");
  EXPECT_EQ(out.details["flows_cut"], "3");
  EXPECT_EQ(out.details["applied"], "script #1");
  EXPECT_EQ(out.details["installed_sha256"], "installed-digest-1");
  EXPECT_EQ(out.details["controller"], "198.18.0.1,2001:db8::1 port 7443");
  EXPECT_EQ(out.details["allow"],
            "198.18.0.0/24:443,[2001:db8:5::/64]:22,198.18.1.9,2001:db8:6::7");
  EXPECT_EQ(out.details.count("rolled_back"), 0u);
}

TEST_F(ContainmentTest, IsolateRollsBackWhenTheControllerIsUnreachable) {
  ContainmentState before;
  before.blocked = {prefix("203.0.113.0/24"), prefix("2001:db8:bad::/48")};
  startFrom(before);

  IsolationPolicy policy = samplePolicy();
  auto out = containment_->isolate(policy, [] { return false; });
  EXPECT_FALSE(out.ok);
  EXPECT_THAT(out.message, HasSubstr("rolled back"));
  EXPECT_EQ(out.details["rolled_back"], "yes");
  ASSERT_EQ(firewall_.applied.size(), 2u);
  EXPECT_TRUE(firewall_.applied[0].isolation.has_value());
  EXPECT_EQ(firewall_.applied[1], before) << "the previous state is re-applied";
  EXPECT_EQ(firewall_.installed, before);
  EXPECT_EQ(persisted(), before) << "nothing persisted";
  EXPECT_EQ(containment_->current(), before);

  // From the unisolated empty state the rollback re-applies the empty state.
  startFrom(ContainmentState{});
  auto again = containment_->isolate(policy, [] { return false; });
  EXPECT_FALSE(again.ok);
  ASSERT_EQ(firewall_.applied.size(), 2u);
  EXPECT_TRUE(firewall_.applied[1].empty());
  EXPECT_TRUE(persisted().empty());
}

TEST_F(ContainmentTest, ReIsolatingKeepsThePreviousIsolationOnRollback) {
  ContainmentState before;
  before.isolation = samplePolicy();
  startFrom(before);
  IsolationPolicy narrower = samplePolicy();
  narrower.allow.clear();
  auto out = containment_->isolate(narrower, [] { return false; });
  EXPECT_FALSE(out.ok);
  EXPECT_EQ(firewall_.installed, before);
  EXPECT_EQ(persisted(), before);
  EXPECT_EQ(containment_->current(), before);
}

TEST_F(ContainmentTest, FailedRollbackIsReported) {
  startFrom(ContainmentState{});
  firewall_.fail_apply_call = 2;  // the rollback
  auto out = containment_->isolate(samplePolicy(), [] { return false; });
  EXPECT_FALSE(out.ok);
  EXPECT_THAT(out.message, HasSubstr("rollback FAILED"));
  EXPECT_THAT(out.message, HasSubstr("apply #2 refused by the fake"));
  EXPECT_EQ(out.details["rolled_back"], "failed");
  EXPECT_TRUE(persisted().empty());
  EXPECT_TRUE(containment_->current().empty());
}

TEST_F(ContainmentTest, ApplyErrorLeavesStateUnchanged) {
  ContainmentState before;
  before.blocked = {prefix("203.0.113.0/24")};
  startFrom(before);
  firewall_.fail_apply_call = 1;
  bool checked = false;
  auto out = containment_->isolate(samplePolicy(), [&] {
    checked = true;
    return true;
  });
  EXPECT_FALSE(out.ok);
  EXPECT_THAT(out.message, HasSubstr("isolation not applied"));
  EXPECT_THAT(out.message, HasSubstr("apply #1 refused by the fake"));
  EXPECT_FALSE(checked) << "no reachability check without rules";
  EXPECT_TRUE(conntrack_.flushed.empty()) << "no flows cut without rules";
  EXPECT_EQ(firewall_.installed, before);
  EXPECT_EQ(persisted(), before);
  EXPECT_EQ(containment_->current(), before);
}

TEST_F(ContainmentTest, ConntrackErrorDoesNotUndoIsolation) {
  startFrom(ContainmentState{});
  conntrack_.error = absl::UnavailableError("netlink said no");
  auto out = containment_->isolate(samplePolicy(), [] { return true; });
  EXPECT_TRUE(out.ok) << out.message;
  EXPECT_EQ(out.details["flows_cut"], "unknown");
  EXPECT_THAT(out.details["conntrack_error"], HasSubstr("netlink said no"));
  EXPECT_TRUE(persisted().isolation.has_value());
}

TEST_F(ContainmentTest, ReleaseKeepsBlocksAndDropsIsolation) {
  ContainmentState before;
  before.isolation = samplePolicy();
  before.blocked = {prefix("203.0.113.0/24"), prefix("2001:db8:bad::/48")};
  startFrom(before);

  auto out = containment_->release();
  EXPECT_TRUE(out.ok) << out.message;
  EXPECT_EQ(out.message, "released");
  ContainmentState expected;
  expected.blocked = before.blocked;
  ASSERT_EQ(firewall_.applied.size(), 1u);
  EXPECT_EQ(firewall_.applied[0], expected);
  EXPECT_EQ(persisted(), expected);
  EXPECT_EQ(containment_->current(), expected);

  auto again = containment_->release();
  EXPECT_TRUE(again.ok);
  EXPECT_EQ(again.message, "released (was not isolated)");
  EXPECT_EQ(persisted(), expected);
}

TEST_F(ContainmentTest, FailedReleaseKeepsIsolation) {
  ContainmentState before;
  before.isolation = samplePolicy();
  startFrom(before);
  firewall_.fail_every_apply = true;
  auto out = containment_->release();
  EXPECT_FALSE(out.ok);
  EXPECT_THAT(out.message, HasSubstr("release failed"));
  EXPECT_EQ(persisted(), before);
  EXPECT_EQ(containment_->current(), before);
}

TEST_F(ContainmentTest, RepairIfTamperedReappliesAndDescribes) {
  ContainmentState state;
  state.isolation = samplePolicy();
  startFrom(state);

  auto clean = containment_->repairIfTampered();
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_FALSE(clean->has_value());
  EXPECT_TRUE(firewall_.applied.empty()) << "nothing re-applied when verify passes";
  EXPECT_EQ(firewall_.verifies, 1);

  firewall_.tampered = true;
  auto repaired = containment_->repairIfTampered();
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  ASSERT_TRUE(repaired->has_value());
  EXPECT_THAT(**repaired, HasSubstr("chain 'input' is missing"));
  EXPECT_THAT(**repaired, HasSubstr("re-applied"));
  EXPECT_THAT(**repaired, HasSubstr("fake"));
  ASSERT_EQ(firewall_.applied.size(), 1u);
  EXPECT_EQ(firewall_.applied[0], state);
  EXPECT_FALSE(firewall_.tampered);

  // Someone deleted the table (installed is empty) and re-applying fails: an error.
  firewall_.installed = ContainmentState{};
  firewall_.fail_every_apply = true;
  auto failed = containment_->repairIfTampered();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("re-applying failed"));
}

TEST_F(ContainmentTest, RestoreReappliesPersistedState) {
  ContainmentState state;
  state.isolation = samplePolicy();
  state.blocked = {prefix("203.0.113.0/24")};
  ASSERT_TRUE(store_->saveContainment(state).ok());

  // A new agent process: a fresh firewall (nothing installed) and a new Containment.
  FakeFirewall boot_firewall;
  Containment booted(boot_firewall, conntrack_, *store_);
  auto restored = booted.restore();
  ASSERT_TRUE(restored.ok()) << restored.status();
  EXPECT_EQ(*restored, state);
  ASSERT_EQ(boot_firewall.applied.size(), 1u);
  EXPECT_EQ(boot_firewall.applied[0], state);
  EXPECT_EQ(boot_firewall.installed, state);
  EXPECT_EQ(booted.current(), state);
}

TEST_F(ContainmentTest, RestoreOfAnEmptyStateOnlyCleansLeftovers) {
  auto clean = containment_->restore();
  ASSERT_TRUE(clean.ok()) << clean.status();
  EXPECT_TRUE(clean->empty());
  EXPECT_TRUE(firewall_.applied.empty()) << "nothing installed, nothing to do";

  firewall_.installed.blocked = {prefix("198.51.100.0/24")};  // leftovers of an old run
  auto cleaned = containment_->restore();
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  ASSERT_EQ(firewall_.applied.size(), 1u);
  EXPECT_TRUE(firewall_.applied[0].empty());
  EXPECT_TRUE(firewall_.installed.empty());
}

TEST_F(ContainmentTest, RestoreReportsApplyErrors) {
  ContainmentState state;
  state.blocked = {prefix("203.0.113.0/24")};
  ASSERT_TRUE(store_->saveContainment(state).ok());
  firewall_.fail_every_apply = true;
  auto r = containment_->restore();
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("refused by the fake"));
}

}  // namespace
}  // namespace warden
