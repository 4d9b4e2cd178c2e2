// common/canonical.h and common/command.h: the strict readers. Wrong tags, truncations,
// trailing bytes, oversized lengths and counts, duplicate or unsorted detail keys, unknown
// statuses and versions all fail.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/canonical.h"
#include "common/command.h"
#include "tests/unit/canonical_samples.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

// ---- strict readers ------------------------------------------------------------------------

TEST(CanonicalReader, WrongTagFails) {
  const std::string cmd = encodeCommand(sampleCommand());
  const std::string rcpt = encodeReceipt(sampleReceipt());
  EXPECT_FALSE(decodeCommand(rcpt).ok());
  EXPECT_FALSE(decodeReceipt(cmd).ok());
  EXPECT_THAT(decodeCommand(rcpt).status().message(), HasSubstr("not a canonical command"));

  std::string renamed = cmd;
  renamed[std::string("warden/comman").size()] = 'x';  // "warden/commanx\n"
  EXPECT_FALSE(decodeCommand(renamed).ok());
  std::string no_newline = cmd;
  no_newline[std::string("warden/command").size()] = ' ';
  EXPECT_FALSE(decodeCommand(no_newline).ok());
  EXPECT_FALSE(CanonicalReader::open("warden/command", "command").ok());
  EXPECT_FALSE(CanonicalReader::open("Warden/command\n", "command").ok());
  EXPECT_FALSE(CanonicalReader::open("", "command").ok());
  // A tag that merely starts with the right type is a different type.
  EXPECT_FALSE(CanonicalReader::open("warden/commands\n", "command").ok());
  EXPECT_TRUE(CanonicalReader::open("warden/command\n", "command").ok());
}

TEST(CommandDecoding, EveryTruncationFails) {
  const std::string enc = encodeCommand(sampleCommand());
  ASSERT_TRUE(decodeCommand(enc).ok());
  for (std::size_t n = 0; n < enc.size(); ++n) {
    auto c = decodeCommand(enc.substr(0, n));
    EXPECT_FALSE(c.ok()) << "prefix of " << n << "/" << enc.size() << " bytes decoded";
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << n;
    }
  }
}

TEST(ReceiptDecoding, EveryTruncationFails) {
  const std::string enc = encodeReceipt(sampleReceipt());
  ASSERT_TRUE(decodeReceipt(enc).ok());
  for (std::size_t n = 0; n < enc.size(); ++n) {
    auto r = decodeReceipt(enc.substr(0, n));
    EXPECT_FALSE(r.ok()) << "prefix of " << n << "/" << enc.size() << " bytes decoded";
  }
}

TEST(CommandDecoding, TrailingBytesFail) {
  const std::string enc = encodeCommand(sampleCommand());
  auto c = decodeCommand(enc + '\0');
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("trailing"));
  EXPECT_FALSE(decodeCommand(enc + enc).ok());
  EXPECT_FALSE(decodeReceipt(encodeReceipt(sampleReceipt()) + "x").ok());
}

TEST(CanonicalReader, OversizedLengthFails) {
  // A string length just above the limit, with the bytes actually present: refused for its
  // size, not for truncation.
  const std::size_t n = kMaxCanonicalField + 1;
  std::string data = CanonicalWriter("t").bytes();
  data += bytes("\x00\x40\x00\x01");  // 4 MiB + 1
  ASSERT_EQ(n, 0x00400001u);
  data.append(n, 'x');
  auto r = CanonicalReader::open(data, "t");
  ASSERT_TRUE(r.ok());
  auto s = r->str();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("exceeds the limit"));

  // Exactly at the limit is fine.
  std::string at_limit = CanonicalWriter("t").str(std::string(kMaxCanonicalField, 'y')).bytes();
  auto r2 = CanonicalReader::open(at_limit, "t");
  ASSERT_TRUE(r2.ok());
  auto s2 = r2->str();
  ASSERT_TRUE(s2.ok()) << s2.status();
  EXPECT_EQ(s2->size(), kMaxCanonicalField);
  EXPECT_TRUE(r2->done().ok());
}

TEST(CommandDecoding, HugeLengthFieldFails) {
  // Replace the id's length with 0xffffffff: neither a crash nor a huge allocation.
  std::string enc = encodeCommand(sampleCommand());
  const std::size_t id_len_at = std::string("warden/command\n").size() + 8;
  ASSERT_EQ(enc.substr(id_len_at, 4), bytes("\x00\x00\x00\x0a"));
  enc.replace(id_len_at, 4, bytes("\xff\xff\xff\xff"));
  EXPECT_FALSE(decodeCommand(enc).ok());
  // A length that is under the limit but longer than what is left.
  enc.replace(id_len_at, 4, bytes("\x00\x01\x00\x00"));
  EXPECT_FALSE(decodeCommand(enc).ok());
}

TEST(CanonicalReader, ListCountLargerThanTheInputFails) {
  // Count 0xffffffff with four bytes following.
  std::string data = CanonicalWriter("t").bytes() + bytes("\xff\xff\xff\xff\x00\x00\x00\x00");
  auto r = CanonicalReader::open(data, "t");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->list().ok());

  // Count 3 with only two elements present.
  std::string short_list = CanonicalWriter("t").bytes() + bytes(
                                                              "\x00\x00\x00\x03"
                                                              "\x00\x00\x00\x01"
                                                              "a"
                                                              "\x00\x00\x00\x01"
                                                              "b");
  auto r2 = CanonicalReader::open(short_list, "t");
  ASSERT_TRUE(r2.ok());
  EXPECT_FALSE(r2->list().ok());

  // The same through decodeCommand: bump the allow count of a valid command.
  std::string enc = encodeCommand(sampleCommand());
  const std::size_t elements = 4 * 4 + 10 + 17 + 18 + 0;  // the four strings of sampleCommand()
  // The allow list is followed by the (empty) addresses and args lists: their 4-byte counts.
  const std::size_t count_at = enc.size() - 8 - elements - 4;
  ASSERT_EQ(enc.substr(count_at, 4), bytes("\x00\x00\x00\x04"));
  enc.replace(count_at, 4, bytes("\x00\x00\x00\x05"));
  EXPECT_FALSE(decodeCommand(enc).ok());
  enc.replace(count_at, 4, bytes("\x7f\xff\xff\xff"));
  EXPECT_FALSE(decodeCommand(enc).ok());
  enc.replace(count_at, 4, bytes("\x00\x00\x00\x03"));  // fewer: leaves trailing bytes
  EXPECT_FALSE(decodeCommand(enc).ok());
}

void expectDetailsRefused(const std::vector<std::string>& kv) {
  // Hand-built so the details list can hold what encodeReceipt never writes.
  const Receipt r = sampleReceipt();
  CanonicalWriter w("receipt");
  w.u64(kReceiptVersion)
      .str(r.command_id)
      .str(r.host_id)
      .str(r.kind)
      .u64(0)
      .str(r.message)
      .i64(r.started_unix_ms)
      .i64(r.finished_unix_ms)
      .list(kv);
  auto back = decodeReceipt(w.bytes());
  EXPECT_FALSE(back.ok()) << "decoded details of " << kv.size() << " strings";
  if (!back.ok()) {
    EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST(ReceiptDecoding, DuplicateDetailKeysFail) {
  CanonicalWriter w("receipt");
  w.u64(kReceiptVersion).str("a").str("h").str("isolate").u64(0).str("m").i64(1).i64(2);
  w.list({"k", "v", "k", "w"});
  auto r = decodeReceipt(w.bytes());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("repeat"));
  // And the same key with the same value twice.
  expectDetailsRefused({"k", "v", "k", "v"});
}

TEST(ReceiptDecoding, OddDetailListFails) { expectDetailsRefused({"k", "v", "orphan"}); }

TEST(ReceiptDecoding, UnsortedDetailKeysFail) {
  // encodeReceipt always writes keys in sorted order; any other order is a second encoding of
  // the same receipt, which a canonical reader must refuse.
  expectDetailsRefused({"b", "1", "a", "2"});
}

TEST(ReceiptDecoding, UnknownStatusFails) {
  std::string enc = encodeReceipt(sampleReceipt());
  // status follows version, command_id, host_id, kind.
  const std::size_t at = std::string("warden/receipt\n").size() + 8 + (4 + 10) + (4 + 7) + (4 + 7);
  ASSERT_EQ(enc.substr(at, 8), bytes("\x00\x00\x00\x00\x00\x00\x00\x00"));
  enc[at + 7] = 4;
  auto r = decodeReceipt(enc);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("unknown receipt status"));
  enc[at + 7] = 3;  // interrupted, the last known status
  auto interrupted = decodeReceipt(enc);
  ASSERT_TRUE(interrupted.ok());
  EXPECT_EQ(interrupted->status, ReceiptStatus::kInterrupted);
  EXPECT_EQ(receiptStatusName(interrupted->status), "interrupted");
  enc[at] = '\x80';
  EXPECT_FALSE(decodeReceipt(enc).ok());
}

TEST(CommandDecoding, UnknownVersionFails) {
  for (std::uint64_t v : {0ull, 3ull, 0xffffffffffffffffull}) {
    Command c = sampleCommand();
    c.version = v;
    auto back = decodeCommand(encodeCommand(c));
    ASSERT_FALSE(back.ok()) << v;
    EXPECT_EQ(back.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(back.status().message(), HasSubstr("unsupported command version"));
  }
}

TEST(ReceiptDecoding, UnknownVersionFails) {
  for (std::uint64_t v : {0ull, 2ull}) {
    Receipt r = sampleReceipt();
    r.version = v;
    auto back = decodeReceipt(encodeReceipt(r));
    ASSERT_FALSE(back.ok()) << v;
    EXPECT_THAT(back.status().message(), HasSubstr("unsupported receipt version"));
  }
}

TEST(CommandEncoding, NowIsMilliseconds) {
  const std::int64_t now = nowUnixMs();
  // 2023-11-14 .. 2100-01-01 in milliseconds: catches seconds or microseconds.
  EXPECT_GT(now, 1'700'000'000'000);
  EXPECT_LT(now, 4'102'444'800'000);
}

}  // namespace
}  // namespace warden::testing
