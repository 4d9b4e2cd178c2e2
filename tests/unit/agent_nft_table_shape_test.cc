// compareShapes: the check that nft's listing of Warden's table is the table Warden wrote.
#include <string>

#include "agent/nft_table_shape.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

constexpr char kScript[] =
    "table inet warden {\n"
    "\tset allow4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
    "\t\telements = { 198.18.0.2, 198.18.0.1 }\n\t}\n"
    "\tchain input {\n\t\ttype filter hook input priority -300; policy drop;\n"
    "\t\tiif \"lo\" accept comment \"loopback\"\n\t}\n}\n";

constexpr char kListing[] =
    "table inet warden {\n"
    "\tset allow4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
    "\t\telements = { 198.18.0.1,\n\t\t\t     198.18.0.2 }\n\t}\n"
    "\tchain input {\n\t\ttype filter hook input priority raw; policy drop;\n"
    "\t\tiif \"lo\" accept comment \"loopback\"\n\t}\n}\n";

TEST(NftTableShape, ListingOfTheScriptMatches) {
  EXPECT_TRUE(compareShapes(kScript, kListing, "inet", "warden").ok());
}

TEST(NftTableShape, ChangedRuleIsReported) {
  std::string listing = kListing;
  listing.replace(listing.find("loopback"), 8, "evil");
  const absl::Status st = compareShapes(kScript, listing, "inet", "warden");
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  EXPECT_NE(st.message().find("has rules"), std::string::npos) << st;
}

// Found by tests/fuzz/agent_nft_table.cc: a table holding something other than a chain or a
// set (a map, a flowtable) made the comparison look up rules that chain never had, and throw
// std::out_of_range, i.e. terminate the agent; so did a set with properties in the listing
// only. (A set without properties also compared as different from itself.)
TEST(NftTableShape, ObjectsOtherThanChainsAndSetsNeverThrow) {
  const std::string with_map =
      "table inet warden {\n\tmap m {\n\t\ttype ipv4_addr : verdict\n\t}\n"
      "\tchain input {\n\t\tcounter\n\t}\n}\n";
  EXPECT_NO_THROW(EXPECT_TRUE(compareShapes(with_map, with_map, "inet", "warden").ok()));
  const std::string bare_set = "table inet warden {\n\tset s {\n\t}\n}\n";
  const std::string typed_set = "table inet warden {\n\tset s {\n\t\ttype ipv4_addr\n\t}\n}\n";
  EXPECT_NO_THROW(EXPECT_TRUE(compareShapes(bare_set, bare_set, "inet", "warden").ok()));
  EXPECT_NO_THROW(EXPECT_TRUE(
      absl::IsFailedPrecondition(compareShapes(bare_set, typed_set, "inet", "warden"))));
}

}  // namespace
}  // namespace warden
