// agent/runtime/command_verifier.h: which signed commands the agent accepts, and every reason
// it refuses one (wrong key, a tampered byte, another host, expired, issued in the future,
// unknown kind, signed bytes that are not a command).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "agent/runtime/command_verifier.h"
#include "common/canonical.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

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

// Found by tests/fuzz/agent_signed_command.cc: "expired N s ago" computed now - expires in
// int64, which overflows (undefined behaviour) for an expiry near INT64_MIN.
TEST_F(VerifierTest, ExpiryAtTheEndOfTimeIsRefusedWithoutOverflow) {
  Command c = command();
  c.issued_unix_ms = std::numeric_limits<std::int64_t>::min();
  c.expires_unix_ms = std::numeric_limits<std::int64_t>::min();
  auto v = verifySigned(c);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(v.status().message(), HasSubstr("expired 9223373736854775 s ago"));
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
}  // namespace
}  // namespace warden
