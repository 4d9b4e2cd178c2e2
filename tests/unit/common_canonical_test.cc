// common/canonical.h and common/command.h: the bytes Warden signs and logs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/canonical.h"
#include "common/command.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

template <std::size_t N>
std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);  // keeps embedded NULs, drops the terminator
}

Command sampleCommand() {
  Command c;
  c.id = "a-5f2c0001";
  c.host_id = "host-42";
  c.kind = "isolate";
  c.issued_unix_ms = 1'700'000'000'123;
  c.expires_unix_ms = 1'700'086'400'123;
  c.requested_by = "alice";
  c.reason = "INC-7: beacon to 203.0.113.9\nsecond line \xe2\x9c\x93";
  c.allow = {"198.18.0.9", "198.18.0.0/24:443", "[2001:db8::/64]:22", ""};
  return c;
}

Receipt sampleReceipt() {
  Receipt r;
  r.command_id = "a-5f2c0001";
  r.host_id = "host-42";
  r.kind = "isolate";
  r.status = ReceiptStatus::kSucceeded;
  r.message = "isolated (nftables, 3 flows cut)";
  r.started_unix_ms = 1'700'000'000'200;
  r.finished_unix_ms = 1'700'000'000'250;
  r.details = {{"backend", "nftables"},
               {"flows_cut", "3"},
               {"applied", std::string("table inet warden {\0}", 21)},
               {"empty", ""}};
  return r;
}

void expectSameCommand(const Command& a, const Command& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.host_id, b.host_id);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.issued_unix_ms, b.issued_unix_ms);
  EXPECT_EQ(a.expires_unix_ms, b.expires_unix_ms);
  EXPECT_EQ(a.requested_by, b.requested_by);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.allow, b.allow);
  EXPECT_EQ(a.addresses, b.addresses);
  EXPECT_EQ(a.args, b.args);
}

void expectSameReceipt(const Receipt& a, const Receipt& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.command_id, b.command_id);
  EXPECT_EQ(a.host_id, b.host_id);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.message, b.message);
  EXPECT_EQ(a.started_unix_ms, b.started_unix_ms);
  EXPECT_EQ(a.finished_unix_ms, b.finished_unix_ms);
  EXPECT_EQ(a.details, b.details);
}

// ---- exact bytes -----------------------------------------------------------------------------

TEST(CanonicalWriter, ExactBytesOfATinyRecord) {
  const std::string got = CanonicalWriter("t")
                              .u64(1)
                              .i64(-2)
                              .str("ab")
                              .list({"x", ""})
                              .u64(0x0102030405060708ULL)
                              .bytes();
  const std::string want = bytes(
      "warden/t\n"
      "\x00\x00\x00\x00\x00\x00\x00\x01"  // u64 1
      "\xff\xff\xff\xff\xff\xff\xff\xfe"  // i64 -2, two's complement
      "\x00\x00\x00\x02"
      "ab"                // str "ab"
      "\x00\x00\x00\x02"  // list of 2
      "\x00\x00\x00\x01"
      "x"                                   // "x"
      "\x00\x00\x00\x00"                    // ""
      "\x01\x02\x03\x04\x05\x06\x07\x08");  // big-endian
  EXPECT_EQ(got, want);
}

TEST(CanonicalReader, ReadsTheTinyRecordBack) {
  const std::string data = CanonicalWriter("t").u64(1).i64(-2).str("ab").list({"x", ""}).bytes();
  auto r = CanonicalReader::open(data, "t");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->u64(), 1u);
  EXPECT_EQ(*r->i64(), -2);
  EXPECT_EQ(*r->str(), "ab");
  EXPECT_EQ(*r->list(), (std::vector<std::string>{"x", ""}));
  EXPECT_TRUE(r->done().ok());
  // Nothing left: every further read is an error.
  EXPECT_FALSE(r->u64().ok());
  EXPECT_FALSE(r->str().ok());
  EXPECT_FALSE(r->list().ok());
}

TEST(CanonicalWriter, IntegerExtremes) {
  const std::string data = CanonicalWriter("n")
                               .i64(std::numeric_limits<std::int64_t>::min())
                               .i64(std::numeric_limits<std::int64_t>::max())
                               .u64(std::numeric_limits<std::uint64_t>::max())
                               .bytes();
  EXPECT_EQ(data, bytes("warden/n\n"
                        "\x80\x00\x00\x00\x00\x00\x00\x00"
                        "\x7f\xff\xff\xff\xff\xff\xff\xff"
                        "\xff\xff\xff\xff\xff\xff\xff\xff"));
  auto r = CanonicalReader::open(data, "n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r->i64(), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(*r->i64(), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(*r->u64(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_TRUE(r->done().ok());
}

TEST(CommandEncoding, ExactBytesOfATinyCommand) {
  Command c;
  c.id = "a";
  c.host_id = "h";
  c.kind = "isolate";
  c.issued_unix_ms = 1;
  c.expires_unix_ms = 0x0100;
  c.requested_by = "op";
  c.reason = "";
  c.allow = {"198.18.0.9"};
  const std::string want = bytes(
      "warden/command\n"
      "\x00\x00\x00\x00\x00\x00\x00\x01"  // version 1
      "\x00\x00\x00\x01"
      "a"  // id
      "\x00\x00\x00\x01"
      "h"  // host_id
      "\x00\x00\x00\x07"
      "isolate"                           // kind
      "\x00\x00\x00\x00\x00\x00\x00\x01"  // issued
      "\x00\x00\x00\x00\x00\x00\x01\x00"  // expires
      "\x00\x00\x00\x02"
      "op"                // requested_by
      "\x00\x00\x00\x00"  // reason ""
      "\x00\x00\x00\x01"  // allow: 1 entry
      "\x00\x00\x00\x0a"
      "198.18.0.9"
      "\x00\x00\x00\x00"    // addresses: none
      "\x00\x00\x00\x00");  // args: none
  EXPECT_EQ(encodeCommand(c), want);
  auto back = decodeCommand(want);
  ASSERT_TRUE(back.ok()) << back.status();
  expectSameCommand(*back, c);
}

TEST(ReceiptEncoding, ExactBytesOfATinyReceipt) {
  Receipt r;
  r.command_id = "a";
  r.host_id = "h";
  r.kind = "release";
  r.status = ReceiptStatus::kRefused;
  r.message = "no";
  r.started_unix_ms = -1;
  r.finished_unix_ms = 2;
  r.details["b"] = "2";
  r.details["a"] = "1";
  const std::string want = bytes(
      "warden/receipt\n"
      "\x00\x00\x00\x00\x00\x00\x00\x01"  // version 1
      "\x00\x00\x00\x01"
      "a"  // command_id
      "\x00\x00\x00\x01"
      "h"  // host_id
      "\x00\x00\x00\x07"
      "release"                           // kind
      "\x00\x00\x00\x00\x00\x00\x00\x02"  // status: refused
      "\x00\x00\x00\x02"
      "no"                                // message
      "\xff\xff\xff\xff\xff\xff\xff\xff"  // started -1
      "\x00\x00\x00\x00\x00\x00\x00\x02"  // finished 2
      "\x00\x00\x00\x04"                  // details: 2 pairs, sorted by key
      "\x00\x00\x00\x01"
      "a"
      "\x00\x00\x00\x01"
      "1"
      "\x00\x00\x00\x01"
      "b"
      "\x00\x00\x00\x01"
      "2");
  EXPECT_EQ(encodeReceipt(r), want);
}

TEST(ReceiptEncoding, StatusValues) {
  EXPECT_EQ(receiptStatusName(ReceiptStatus::kSucceeded), "succeeded");
  EXPECT_EQ(receiptStatusName(ReceiptStatus::kFailed), "failed");
  EXPECT_EQ(receiptStatusName(ReceiptStatus::kRefused), "refused");
  for (auto s : {ReceiptStatus::kSucceeded, ReceiptStatus::kFailed, ReceiptStatus::kRefused}) {
    Receipt r = sampleReceipt();
    r.status = s;
    auto back = decodeReceipt(encodeReceipt(r));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->status, s);
  }
}

// ---- round trips ---------------------------------------------------------------------------

TEST(CommandEncoding, RoundTrip) {
  const Command c = sampleCommand();
  const std::string enc = encodeCommand(c);
  auto back = decodeCommand(enc);
  ASSERT_TRUE(back.ok()) << back.status();
  expectSameCommand(*back, c);
  EXPECT_EQ(encodeCommand(*back), enc);
}

TEST(CommandEncoding, RoundTripOfAnEmptyCommand) {
  const Command c;
  auto back = decodeCommand(encodeCommand(c));
  ASSERT_TRUE(back.ok()) << back.status();
  expectSameCommand(*back, c);
}

TEST(CommandEncoding, EveryFieldChangesTheBytes) {
  const std::string base = encodeCommand(sampleCommand());
  std::vector<Command> variants(9, sampleCommand());
  variants[0].id += "x";
  variants[1].host_id = "host-43";
  variants[2].kind = "release";
  variants[3].issued_unix_ms += 1;
  variants[4].expires_unix_ms -= 1;
  variants[5].requested_by = "bob";
  variants[6].reason = "";
  variants[7].allow.pop_back();
  variants[8].allow[0] = "198.18.0.8";
  for (std::size_t i = 0; i < variants.size(); ++i) {
    EXPECT_NE(encodeCommand(variants[i]), base) << i;
  }
  // Field boundaries are unambiguous: moving a byte between adjacent strings changes the bytes.
  Command a = sampleCommand(), b = sampleCommand();
  a.id = "ab";
  a.host_id = "c";
  b.id = "a";
  b.host_id = "bc";
  EXPECT_NE(encodeCommand(a), encodeCommand(b));
}

TEST(ReceiptEncoding, RoundTrip) {
  const Receipt r = sampleReceipt();
  const std::string enc = encodeReceipt(r);
  auto back = decodeReceipt(enc);
  ASSERT_TRUE(back.ok()) << back.status();
  expectSameReceipt(*back, r);
  EXPECT_EQ(back->details.at("applied").size(), 21u);
  EXPECT_EQ(encodeReceipt(*back), enc);
}

TEST(ReceiptEncoding, DetailsAreEncodedInSortedOrderWhateverTheInsertionOrder) {
  Receipt a = sampleReceipt(), b = sampleReceipt();
  a.details.clear();
  b.details.clear();
  const std::vector<std::pair<std::string, std::string>> kv = {
      {"zeta", "1"}, {"alpha", "2"}, {"mu", "3"}, {"Beta", "4"}, {"alpha2", "5"}};
  for (const auto& [k, v] : kv) a.details[k] = v;
  for (auto it = kv.rbegin(); it != kv.rend(); ++it) b.details[it->first] = it->second;
  const std::string enc = encodeReceipt(a);
  EXPECT_EQ(enc, encodeReceipt(b));
  // Byte order of keys: "Beta" < "alpha" < "alpha2" < "mu" < "zeta".
  const auto pos = [&](const char* key) { return enc.find(key); };
  EXPECT_LT(pos("Beta"), pos("alpha"));
  EXPECT_LT(pos("alpha"), pos("alpha2"));
  EXPECT_LT(pos("alpha2"), pos("mu"));
  EXPECT_LT(pos("mu"), pos("zeta"));
  auto back = decodeReceipt(enc);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->details, a.details);

  // Keys with the high bit set sort after ASCII (bytes compare unsigned) and still decode.
  a.details["\xc3\xa9t\xc3\xa9"] = "summer";
  a.details[std::string("\0nul", 4)] = "first";
  auto high = decodeReceipt(encodeReceipt(a));
  ASSERT_TRUE(high.ok()) << high.status();
  EXPECT_EQ(high->details, a.details);
  EXPECT_EQ(encodeReceipt(*high), encodeReceipt(a));
}

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
  enc[at + 7] = 3;
  auto r = decodeReceipt(enc);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("unknown receipt status"));
  enc[at + 7] = 2;
  EXPECT_TRUE(decodeReceipt(enc).ok());
  enc[at] = '\x80';
  EXPECT_FALSE(decodeReceipt(enc).ok());
}

TEST(CommandDecoding, UnknownVersionFails) {
  for (std::uint64_t v : {0ull, 2ull, 0xffffffffffffffffull}) {
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
}  // namespace warden
