// controller/cli/duration.h parseDuration: "90s", "15m", "24h", "7d", "1h30m".
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "controller/cli/duration.h"

namespace warden::cli {
namespace {

using ::testing::HasSubstr;

absl::Duration parsed(const std::string& text) {
  auto d = parseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status();
  return d.ok() ? *d : absl::ZeroDuration();
}

TEST(ParseDuration, AcceptsTheDocumentedForms) {
  EXPECT_EQ(parsed("90s"), absl::Seconds(90));
  EXPECT_EQ(parsed("15m"), absl::Minutes(15));
  EXPECT_EQ(parsed("24h"), absl::Hours(24));
  EXPECT_EQ(parsed("7d"), absl::Hours(7 * 24));
  EXPECT_EQ(parsed("1d"), absl::Hours(24));
  EXPECT_EQ(parsed("30d"), absl::Hours(30 * 24));
  EXPECT_EQ(parsed("007d"), absl::Hours(7 * 24));
  EXPECT_EQ(parsed("99999d"), absl::Hours(24) * 99999);
  EXPECT_EQ(parsed("1h30m"), absl::Minutes(90));
  EXPECT_EQ(parsed("1s"), absl::Seconds(1));
  EXPECT_EQ(parsed("500ms"), absl::Milliseconds(500));
}

TEST(ParseDuration, RejectsBadInput) {
  for (const char* text : {"",    "0s",  "0",    "0d",      "00d",
                           "-5m", "-1d", "abc",  "5x",      "d",
                           "5",   "7dd", "1d2h", "d7",      " 5m",
                           "5m ", "inf", "-inf", "100000d", "99999999999999999999d"}) {
    auto d = parseDuration(text);
    if (d.ok()) {
      ADD_FAILURE() << "'" << text << "' parsed as " << absl::FormatDuration(*d);
      continue;
    }
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(d.status().message(), HasSubstr("invalid duration")) << text;
    EXPECT_THAT(d.status().message(), HasSubstr("'" + std::string(text) + "'")) << text;
  }
}

}  // namespace
}  // namespace warden::cli
