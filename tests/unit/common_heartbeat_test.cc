// common/heartbeat.h: a signed heartbeat verifies under its agent's key and nothing else: not
// under another key, not for another host, not with a byte changed, not as a receipt, and
// not with an interval a peer could use to never be late.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/command.h"
#include "common/heartbeat.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

HeartbeatRecord sample() {
  HeartbeatRecord h;
  h.host_id = "host-42";
  h.seq = 7;
  h.sent_unix_ms = 1'700'000'000'000;
  h.interval_ms = 3000;
  h.ruleset_sha256 = std::string(64, 'a');
  return h;
}

TEST(Heartbeat, EncodesAndDecodesEveryField) {
  HeartbeatRecord h = sample();
  h.ruleset_error = "table inet warden is missing";
  auto back = decodeHeartbeat(encodeHeartbeat(h));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->host_id, h.host_id);
  EXPECT_EQ(back->seq, h.seq);
  EXPECT_EQ(back->sent_unix_ms, h.sent_unix_ms);
  EXPECT_EQ(back->interval_ms, h.interval_ms);
  EXPECT_EQ(back->ruleset_sha256, h.ruleset_sha256);
  EXPECT_EQ(back->ruleset_error, h.ruleset_error);
}

TEST(Heartbeat, SignedHeartbeatVerifiesUnderItsKey) {
  auto key = crypto::Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  auto s = signHeartbeat(sample(), *key);
  ASSERT_TRUE(s.ok()) << s.status();
  auto h = verifyHeartbeat(key->publicKey(), s->bytes, s->signature, "host-42");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->ruleset_sha256, std::string(64, 'a'));
}

TEST(Heartbeat, AnotherKeyAChangedByteOrAnotherHostIsRejected) {
  auto key = crypto::Ed25519Key::generate();
  auto other = crypto::Ed25519Key::generate();
  ASSERT_TRUE(key.ok() && other.ok());
  auto s = signHeartbeat(sample(), *key);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(verifyHeartbeat(other->publicKey(), s->bytes, s->signature, "host-42").ok());
  for (std::size_t i = 0; i < s->bytes.size(); ++i) {
    std::string changed = s->bytes;
    changed[i] = static_cast<char>(changed[i] ^ 0x01);
    EXPECT_FALSE(verifyHeartbeat(key->publicKey(), changed, s->signature, "host-42").ok()) << i;
  }
  std::string sig = s->signature;
  sig[0] = static_cast<char>(sig[0] ^ 0x80);
  EXPECT_FALSE(verifyHeartbeat(key->publicKey(), s->bytes, sig, "host-42").ok());
  EXPECT_FALSE(verifyHeartbeat(key->publicKey(), s->bytes, "", "host-42").ok());
  auto wrong_host = verifyHeartbeat(key->publicKey(), s->bytes, s->signature, "host-43");
  ASSERT_FALSE(wrong_host.ok());
  EXPECT_THAT(wrong_host.status().message(), HasSubstr("another host"));
}

TEST(Heartbeat, IsNeverMistakenForAReceiptNorAReceiptForIt) {
  auto key = crypto::Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  auto s = signHeartbeat(sample(), *key);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(decodeReceipt(s->bytes).ok());
  Receipt r;
  r.command_id = "a-1";
  r.host_id = "host-42";
  const std::string receipt = encodeReceipt(r);
  auto sig = key->sign(receipt);
  ASSERT_TRUE(sig.ok());
  EXPECT_FALSE(verifyHeartbeat(key->publicKey(), receipt, *sig, "host-42").ok());
}

TEST(Heartbeat, IntervalOutOfBoundsIsRejected) {
  auto key = crypto::Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  for (std::uint64_t interval : {std::uint64_t{0}, kMinHeartbeatIntervalMs - 1,
                                 kMaxHeartbeatIntervalMs + 1, ~std::uint64_t{0}}) {
    HeartbeatRecord h = sample();
    h.interval_ms = interval;
    auto s = signHeartbeat(h, *key);
    ASSERT_TRUE(s.ok());
    EXPECT_FALSE(verifyHeartbeat(key->publicKey(), s->bytes, s->signature, "host-42").ok())
        << interval;
  }
}

TEST(Heartbeat, TrailingBytesAndAnotherVersionAreRejected) {
  EXPECT_FALSE(decodeHeartbeat(encodeHeartbeat(sample()) + "x").ok());
  HeartbeatRecord h = sample();
  h.version = 2;
  EXPECT_FALSE(decodeHeartbeat(encodeHeartbeat(h)).ok());
}

}  // namespace
}  // namespace warden
