// controller/paging.h: page sizes (0 is the default, huge ones are clamped), the byte budget
// (a page stops before it would pass it, but always takes its first item), and page tokens
// (opaque, good only for the list and filters they were made for).
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "controller/paging.h"
#include "warden/v1/operator.pb.h"

namespace warden {
namespace {

TEST(PageSize, ZeroIsTheDefaultAndHugeIsClamped) {
  EXPECT_EQ(servedPageSize(0), kDefaultPageSize);
  EXPECT_EQ(servedPageSize(1), 1);
  EXPECT_EQ(servedPageSize(250), 250);
  EXPECT_EQ(servedPageSize(kMaxPageSize), kMaxPageSize);
  EXPECT_EQ(servedPageSize(kMaxPageSize + 1), kMaxPageSize);
  EXPECT_EQ(servedPageSize(4'000'000'000u), kMaxPageSize);
}

TEST(PageBudget, StopsAtTheCount) {
  PageBudget b(3, 1 << 20);
  EXPECT_TRUE(b.take(10));
  EXPECT_TRUE(b.take(10));
  EXPECT_TRUE(b.take(10));
  EXPECT_FALSE(b.take(1)) << "a fourth item goes to the next page";
  EXPECT_EQ(b.items(), 3);
  EXPECT_EQ(b.bytes(), 30u);
}

TEST(PageBudget, StopsBeforePassingTheBytesButAlwaysTakesTheFirst) {
  PageBudget b(100, 1000);
  EXPECT_TRUE(b.take(600));
  EXPECT_TRUE(b.take(400)) << "exactly the budget fits";
  EXPECT_FALSE(b.take(1));
  EXPECT_EQ(b.bytes(), 1000u);

  PageBudget huge(100, 1000);
  EXPECT_TRUE(huge.take(5000)) << "an item larger than the budget goes alone";
  EXPECT_FALSE(huge.take(1));
  EXPECT_EQ(huge.items(), 1);

  PageBudget ahead(100, 1000);
  EXPECT_TRUE(ahead.take(10));
  EXPECT_FALSE(ahead.take(5000)) << "...but never after another";
}

TEST(PageBudget, TheDefaultBudgetKeepsPagesWellUnderTheMessageLimit) {
  // Two receipts of 1.5 MiB each: 3 MiB would fit 4 MiB, but not with room to spare.
  PageBudget b(kMaxPageSize);
  EXPECT_TRUE(b.take(1536 << 10));
  EXPECT_FALSE(b.take(1536 << 10));
  static_assert(kMaxPageBytes <= (4u << 20) / 2);
}

TEST(RepeatedFieldBytes, IsWhatAnItemAddsToAResponse) {
  v1::ListActionsResponse resp;
  std::size_t counted = 0;
  for (std::size_t size : {0u, 5u, 126u, 127u, 128u, 20000u, 3000000u}) {
    v1::Action a;
    a.set_id("a-1");
    if (size > 0) (*a.mutable_details())["result"] = std::string(size, 'x');
    counted += repeatedFieldBytes(a.ByteSizeLong());
    *resp.add_actions() = a;
    EXPECT_EQ(counted, resp.ByteSizeLong()) << "with a detail of " << size << " bytes";
  }
}

TEST(PageToken, RoundTripsTheCursor) {
  const PageCursor c{123456789012, "host-42"};
  const std::string token = encodePageToken("hosts", "", c);
  auto back = decodePageToken(token, "hosts", "");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->has_value());
  EXPECT_EQ(**back, c);

  // Any bytes of a name survive: evidence ids and host ids are checked elsewhere.
  const PageCursor odd{-1, std::string("a|b\n\0c", 6)};
  auto odd_back = decodePageToken(encodePageToken("evidence", "host=x", odd), "evidence", "host=x");
  ASSERT_TRUE(odd_back.ok()) << odd_back.status();
  EXPECT_EQ(**odd_back, odd);
}

TEST(PageToken, NoTokenIsTheFirstPage) {
  auto first = decodePageToken("", "actions", "host=\nlimit=0");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
}

TEST(PageToken, IsOpaqueText) {
  const std::string token = encodePageToken("actions", "host=host-42\nlimit=0", {17, ""});
  for (char ch : token) {
    EXPECT_TRUE(absl::ascii_isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_')
        << token;
  }
  EXPECT_EQ(token.find("host-42"), std::string::npos) << "filters travel as a digest";
}

void expectRefused(const std::string& token, const std::string& list, const std::string& filters,
                   const std::string& why) {
  auto got = decodePageToken(token, list, filters);
  ASSERT_FALSE(got.ok()) << "accepted " << token;
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
  EXPECT_TRUE(absl::StrContains(got.status().message(), why)) << got.status();
  EXPECT_TRUE(absl::StrContains(got.status().message(), "next_page_token")) << got.status();
}

TEST(PageToken, AMalformedOrForeignTokenIsRefused) {
  const std::string filters = "host=\nlimit=0";
  const std::string good = encodePageToken("actions", filters, {42, ""});
  ASSERT_TRUE(decodePageToken(good, "actions", filters).ok());

  expectRefused("not a token!", "actions", filters, "is not one this controller made");
  expectRefused(good + "%", "actions", filters, "is not one this controller made");
  expectRefused(good.substr(0, good.size() - 3), "actions", filters, "not one");
  expectRefused(crypto::base64url("p1|actions"), "actions", filters, "not one");
  expectRefused(crypto::base64url("p9|actions|0000000000000000|1|"), "actions", filters, "not one");
  expectRefused(std::string(5000, 'A'), "actions", filters, "not one");
  // Another list's token, or one for other filters (another host, another --limit).
  expectRefused(encodePageToken("hosts", "", {0, "host-1"}), "actions", filters,
                "belongs to the hosts list");
  expectRefused(encodePageToken("actions", "host=host-42\nlimit=0", {42, ""}), "actions", filters,
                "other filters");
  expectRefused(encodePageToken("actions", "host=\nlimit=5", {42, ""}), "actions", filters,
                "other filters");
}

TEST(PageToken, AForgedCursorIsStillOnlyAPlaceInTheList) {
  // The digest is of the filters, not a secret: a caller can start a list anywhere it likes,
  // which shows nothing its role could not list anyway.
  const std::string made =
      crypto::base64url("p1|hosts|" + crypto::hex(crypto::sha256("")).substr(0, 16) + "|0|" +
                        crypto::base64url("host-5"));
  auto got = decodePageToken(made, "hosts", "");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->name, "host-5");
}

}  // namespace
}  // namespace warden
