// common/canonical.h and common/command.h: the bytes Warden signs and logs. Exact bytes of
// records, commands and receipts, and round trips in which every field counts.
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
  c.incident = "";
  c.allow = {"198.18.0.9"};
  const std::string want = bytes(
      "warden/command\n"
      "\x00\x00\x00\x00\x00\x00\x00\x02"  // version 2
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
      "\x00\x00\x00\x00"  // incident ""
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
  variants[6].incident = "";
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
}  // namespace
}  // namespace warden::testing
