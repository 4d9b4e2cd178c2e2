// common/net.h: strict parsing of addresses, prefixes, allow entries and HOST:PORT.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "common/net.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

IpPrefix mustParse(std::string_view text) {
  auto p = IpPrefix::parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status();
  return p.ok() ? *p : IpPrefix{};
}

// ---- IpPrefix::parse -----------------------------------------------------------------------

TEST(IpPrefixParse, Ipv4HostAddress) {
  auto p = IpPrefix::parse("198.18.0.7");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->family, AF_INET);
  EXPECT_TRUE(p->isV4());
  EXPECT_EQ(p->length, 32);
  EXPECT_TRUE(p->isHost());
  EXPECT_EQ(p->maxLength(), 32);
  EXPECT_EQ(p->addr[0], 198);
  EXPECT_EQ(p->addr[1], 18);
  EXPECT_EQ(p->addr[2], 0);
  EXPECT_EQ(p->addr[3], 7);
  for (int i = 4; i < 16; ++i) EXPECT_EQ(p->addr[i], 0) << i;
  EXPECT_EQ(p->toString(), "198.18.0.7");
  EXPECT_EQ(p->addressString(), "198.18.0.7");
}

TEST(IpPrefixParse, Ipv4Cidr) {
  auto p = IpPrefix::parse("198.18.0.0/15");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->family, AF_INET);
  EXPECT_EQ(p->length, 15);
  EXPECT_FALSE(p->isHost());
  EXPECT_EQ(p->toString(), "198.18.0.0/15");
  EXPECT_EQ(p->addressString(), "198.18.0.0");
}

TEST(IpPrefixParse, Ipv6HostAddress) {
  auto p = IpPrefix::parse("2001:db8::1");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->family, AF_INET6);
  EXPECT_FALSE(p->isV4());
  EXPECT_EQ(p->length, 128);
  EXPECT_EQ(p->maxLength(), 128);
  EXPECT_TRUE(p->isHost());
  const std::uint8_t want[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(p->addr[i], want[i]) << i;
  EXPECT_EQ(p->toString(), "2001:db8::1");
}

TEST(IpPrefixParse, Ipv6Cidr) {
  auto p = IpPrefix::parse("2001:db8::/32");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->family, AF_INET6);
  EXPECT_EQ(p->length, 32);
  EXPECT_EQ(p->toString(), "2001:db8::/32");
}

TEST(IpPrefixParse, ZeroLengthPrefixes) {
  EXPECT_EQ(mustParse("0.0.0.0/0").toString(), "0.0.0.0/0");
  EXPECT_EQ(mustParse("::/0").toString(), "::/0");
  EXPECT_EQ(mustParse("0.0.0.0/0").length, 0);
}

TEST(IpPrefixParse, FullLengthCidrIsAHost) {
  const IpPrefix a = mustParse("198.18.0.7/32");
  EXPECT_TRUE(a.isHost());
  EXPECT_EQ(a.toString(), "198.18.0.7");
  EXPECT_EQ(a, mustParse("198.18.0.7"));
  const IpPrefix b = mustParse("2001:db8::1/128");
  EXPECT_TRUE(b.isHost());
  EXPECT_EQ(b.toString(), "2001:db8::1");
  EXPECT_EQ(b, mustParse("2001:db8::1"));
}

TEST(IpPrefixParse, HostBitsSetAreRefusedWithAHint) {
  auto p = IpPrefix::parse("198.18.0.7/24");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("host bits set"));
  EXPECT_THAT(p.status().message(), HasSubstr("did you mean 198.18.0.0/24?"));

  auto q = IpPrefix::parse("198.19.0.0/15");
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(q.status().message(), HasSubstr("did you mean 198.18.0.0/15?"));

  auto v6 = IpPrefix::parse("2001:db8::1/32");
  ASSERT_FALSE(v6.ok());
  EXPECT_EQ(v6.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(v6.status().message(), HasSubstr("did you mean 2001:db8::/32?"));

  // The lowest host bit of an odd-length prefix.
  auto odd = IpPrefix::parse("2001:db8:8000::/33");
  EXPECT_TRUE(odd.ok()) << odd.status();
  auto odd_bad = IpPrefix::parse("2001:db8:4000::/33");
  ASSERT_FALSE(odd_bad.ok());
  EXPECT_THAT(odd_bad.status().message(), HasSubstr("did you mean 2001:db8::/33?"));
}

TEST(IpPrefixParse, BadLengthsAreRefused) {
  for (const char* text :
       {"198.18.0.0/33", "198.18.0.0/-1", "198.18.0.0/", "198.18.0.0/1x", "198.18.0.0/ 8",
        "198.18.0.0/+8", "198.18.0.0/8/8", "198.18.0.0/99999999999999999999", "2001:db8::/129",
        "2001:db8::/-1", "2001:db8::/", "2001:db8::/1x", "::/0x10"}) {
    auto p = IpPrefix::parse(text);
    ASSERT_FALSE(p.ok()) << text << " parsed as " << p->toString();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(p.status().message(), HasSubstr("invalid")) << text;
    EXPECT_THAT(p.status().message(), HasSubstr(text)) << "the message names the input";
  }
  auto p = IpPrefix::parse("198.18.0.0/33");
  EXPECT_THAT(p.status().message(), HasSubstr("expected 0-32"));
  auto q = IpPrefix::parse("2001:db8::/129");
  EXPECT_THAT(q.status().message(), HasSubstr("expected 0-128"));
}

TEST(IpPrefixParse, GarbageIsRefused) {
  for (const char* text :
       {"", "/24", "garbage", "198.18.0", "198.18.0.256", "198.18.0.7 ", " 198.18.0.7",
        "198.18.0.7.1", "0x7f.0.0.1", "198.018.0.7", "2001:db8:::1", "2001:db8::1%eth0",
        "2001:db8::g", "[2001:db8::1]", "host-42", "198.18.0.7:22"}) {
    auto p = IpPrefix::parse(text);
    ASSERT_FALSE(p.ok()) << "'" << text << "' parsed as " << p->toString();
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  EXPECT_THAT(IpPrefix::parse("").status().message(), HasSubstr("empty"));
  EXPECT_THAT(IpPrefix::parse("garbage").status().message(),
              HasSubstr("not an IPv4 or IPv6 address"));
}

TEST(IpPrefixToString, Rfc5952CanonicalIpv6) {
  // Lower case, leading zeros dropped, the longest run of zero groups compressed.
  EXPECT_EQ(mustParse("2001:0DB8:0000:0000:0000:0000:0000:0001").toString(), "2001:db8::1");
  EXPECT_EQ(mustParse("2001:DB8::A:B").toString(), "2001:db8::a:b");
  // The longest run wins, not the first.
  EXPECT_EQ(mustParse("2001:db8:0:0:1:0:0:0").toString(), "2001:db8:0:0:1::");
  // Equal runs: the first one is compressed.
  EXPECT_EQ(mustParse("2001:db8:0:0:1:0:0:1").toString(), "2001:db8::1:0:0:1");
  // A single zero group is never compressed.
  EXPECT_EQ(mustParse("2001:db8:0:1:1:1:1:1").toString(), "2001:db8:0:1:1:1:1:1");
  EXPECT_EQ(mustParse("0:0:0:0:0:0:0:0").toString(), "::");
  EXPECT_EQ(mustParse("0:0:0:0:0:0:0:1").toString(), "::1");
  EXPECT_EQ(mustParse("2001:DB8:0:0::/64").toString(), "2001:db8::/64");
  EXPECT_EQ(mustParse("fe80::/10").toString(), "fe80::/10");
}

TEST(IpPrefixToString, RoundTripsThroughParse) {
  for (const char* text : {"198.18.0.7", "198.18.0.0/15", "10.0.0.0/8", "0.0.0.0/0",
                           "2001:db8::/32", "2001:db8::1", "::/0", "::1", "fe80::/10"}) {
    const IpPrefix p = mustParse(text);
    EXPECT_EQ(p.toString(), text);
    EXPECT_EQ(mustParse(p.toString()), p) << text;
  }
}

TEST(IpPrefixContains, Ipv4) {
  const IpPrefix net = mustParse("198.18.0.0/15");
  EXPECT_TRUE(net.contains(mustParse("198.18.0.0")));
  EXPECT_TRUE(net.contains(mustParse("198.19.255.255")));
  EXPECT_TRUE(net.contains(mustParse("198.19.0.0/16")));
  EXPECT_TRUE(net.contains(net));
  EXPECT_FALSE(net.contains(mustParse("198.20.0.0")));
  EXPECT_FALSE(net.contains(mustParse("198.17.255.255")));
  // A wider prefix is never inside a narrower one, even when it shares the network address.
  EXPECT_FALSE(net.contains(mustParse("198.16.0.0/14")));
  EXPECT_FALSE(mustParse("198.18.0.7").contains(mustParse("198.18.0.0/31")));
  EXPECT_TRUE(mustParse("198.18.0.7").contains(mustParse("198.18.0.7")));
  EXPECT_FALSE(mustParse("198.18.0.7").contains(mustParse("198.18.0.6")));
  EXPECT_TRUE(mustParse("0.0.0.0/0").contains(mustParse("255.255.255.255")));
}

TEST(IpPrefixContains, Ipv6AndMixedFamilies) {
  const IpPrefix net = mustParse("2001:db8::/32");
  EXPECT_TRUE(net.contains(mustParse("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_TRUE(net.contains(mustParse("2001:db8:1::/48")));
  EXPECT_FALSE(net.contains(mustParse("2001:db9::")));
  // Bit 33 decides.
  EXPECT_TRUE(mustParse("2001:db8:8000::/33").contains(mustParse("2001:db8:ffff::1")));
  EXPECT_FALSE(mustParse("2001:db8:8000::/33").contains(mustParse("2001:db8:7fff::1")));
  // Families never mix, not even the all-zero prefixes.
  EXPECT_FALSE(mustParse("::/0").contains(mustParse("198.18.0.7")));
  EXPECT_FALSE(mustParse("0.0.0.0/0").contains(mustParse("::1")));
  // An IPv4-mapped IPv6 address is an IPv6 address.
  EXPECT_TRUE(mustParse("::/0").contains(mustParse("::ffff:198.18.0.7")));
}

// ---- AllowEntry ----------------------------------------------------------------------------

TEST(AllowEntryParse, Ipv4AddressWithoutPort) {
  auto e = AllowEntry::parse("198.18.0.9");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->prefix, mustParse("198.18.0.9"));
  EXPECT_EQ(e->port, 0);
  EXPECT_EQ(e->toString(), "198.18.0.9");
}

TEST(AllowEntryParse, Ipv4CidrWithPort) {
  auto e = AllowEntry::parse("198.18.0.0/24:443");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->prefix, mustParse("198.18.0.0/24"));
  EXPECT_EQ(e->port, 443);
  EXPECT_EQ(e->toString(), "198.18.0.0/24:443");
}

TEST(AllowEntryParse, BracketedIpv6CidrWithPort) {
  auto e = AllowEntry::parse("[2001:db8::/64]:22");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->prefix, mustParse("2001:db8::/64"));
  EXPECT_EQ(e->port, 22);
  EXPECT_EQ(e->toString(), "[2001:db8::/64]:22");
}

TEST(AllowEntryParse, BracketedIpv6WithoutPort) {
  auto e = AllowEntry::parse("[2001:db8::1]");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->prefix, mustParse("2001:db8::1"));
  EXPECT_EQ(e->port, 0);
  EXPECT_EQ(e->toString(), "2001:db8::1");
}

TEST(AllowEntryParse, UnbracketedIpv6IsAnAddressNotAPort) {
  // Several colons: the whole text is an IPv6 address; ":22" is its last group.
  auto e = AllowEntry::parse("2001:db8::1:22");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->port, 0);
  EXPECT_EQ(e->prefix, mustParse("2001:db8::1:22"));
  EXPECT_EQ(e->toString(), "2001:db8::1:22");

  auto cidr = AllowEntry::parse("2001:db8::/32");
  ASSERT_TRUE(cidr.ok()) << cidr.status();
  EXPECT_EQ(cidr->port, 0);
  EXPECT_EQ(cidr->toString(), "2001:db8::/32");
}

TEST(AllowEntryParse, PortBounds) {
  auto lo = AllowEntry::parse("198.18.0.9:1");
  ASSERT_TRUE(lo.ok()) << lo.status();
  EXPECT_EQ(lo->port, 1);
  auto hi = AllowEntry::parse("[2001:db8::9]:65535");
  ASSERT_TRUE(hi.ok()) << hi.status();
  EXPECT_EQ(hi->port, 65535);
}

TEST(AllowEntryParse, BadPortsAreRefused) {
  for (const char* text : {"198.18.0.9:0", "198.18.0.9:65536", "198.18.0.9:abc", "198.18.0.9:",
                           "198.18.0.9:-1", "198.18.0.9:+22", "198.18.0.9: 22", "198.18.0.9:22x",
                           "198.18.0.9:4294967318", "198.18.0.0/24:0", "[2001:db8::1]:0",
                           "[2001:db8::1]:65536", "[2001:db8::1]:abc", "[2001:db8::1]:"}) {
    auto e = AllowEntry::parse(text);
    ASSERT_FALSE(e.ok()) << text << " parsed as " << e->toString();
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(e.status().message(), HasSubstr("port")) << text;
  }
  EXPECT_THAT(AllowEntry::parse("198.18.0.9:65536").status().message(),
              HasSubstr("expected 1-65535"));
}

TEST(AllowEntryParse, MalformedEntriesAreRefused) {
  for (const char* text :
       {"", "[2001:db8::1", "[2001:db8::1]22", "[2001:db8::1]x:22", "[]:22", "[]", "garbage",
        "garbage:22", "198.18.0.7/24:22", "198.18.0.7/24", ":22", "198.18.0.9:22:33x"}) {
    auto e = AllowEntry::parse(text);
    ASSERT_FALSE(e.ok()) << "'" << text << "' parsed as " << e->toString();
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  EXPECT_THAT(AllowEntry::parse("[2001:db8::1").status().message(), HasSubstr("missing ']'"));
  EXPECT_THAT(AllowEntry::parse("198.18.0.7/24:22").status().message(),
              HasSubstr("did you mean 198.18.0.0/24?"));
}

TEST(AllowEntryToString, RoundTripsThroughParse) {
  for (const char* text : {"198.18.0.9", "198.18.0.0/24:443", "[2001:db8::/64]:22", "2001:db8::1",
                           "[2001:db8::1]:7443", "0.0.0.0/0:53"}) {
    auto e = AllowEntry::parse(text);
    ASSERT_TRUE(e.ok()) << text << ": " << e.status();
    EXPECT_EQ(e->toString(), text);
    auto again = AllowEntry::parse(e->toString());
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *e);
  }
}

// ---- HostPort ------------------------------------------------------------------------------

TEST(HostPortParse, Ipv4) {
  auto hp = HostPort::parse("198.18.0.1:7443");
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->host, "198.18.0.1");
  EXPECT_EQ(hp->port, 7443);
  EXPECT_EQ(hp->toString(), "198.18.0.1:7443");
}

TEST(HostPortParse, BracketedIpv6) {
  auto hp = HostPort::parse("[2001:db8::1]:7443");
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->host, "2001:db8::1");
  EXPECT_EQ(hp->port, 7443);
  EXPECT_EQ(hp->toString(), "[2001:db8::1]:7443");

  auto any = HostPort::parse("[::]:1");
  ASSERT_TRUE(any.ok()) << any.status();
  EXPECT_EQ(any->host, "::");
  EXPECT_EQ(any->port, 1);
}

TEST(HostPortParse, HostName) {
  auto hp = HostPort::parse("controller.example:65535");
  ASSERT_TRUE(hp.ok()) << hp.status();
  EXPECT_EQ(hp->host, "controller.example");
  EXPECT_EQ(hp->port, 65535);
  EXPECT_EQ(hp->toString(), "controller.example:65535");
}

TEST(HostPortParse, ErrorsAreRefused) {
  for (const char* text :
       {"", "198.18.0.1", "198.18.0.1:", ":7443", "[]:7443", "198.18.0.1:0", "198.18.0.1:65536",
        "198.18.0.1:abc", "198.18.0.1:-1", "198.18.0.1:7443x", "2001:db8::1:7443", "[2001:db8::1]",
        "[2001:db8::1]7443", "[2001:db8::1]:", "[2001:db8::1", "[2001:db8::1]:0", "host:1:2",
        // found by the fuzzer: a host that printed as text that parses differently
        "[[ffe8\x01\x0e"
        "E]:1",
        "[198.18.0.1]:7443", "[not-v6]:1", "[fe80::1%]:1", "host name:1", "ho\nst:1", "[h]ost:1"}) {
    auto hp = HostPort::parse(text);
    ASSERT_FALSE(hp.ok()) << "'" << text << "' parsed as " << hp->toString();
    EXPECT_EQ(hp.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  EXPECT_THAT(HostPort::parse("2001:db8::1:7443").status().message(), HasSubstr("[IPv6]:PORT"));
  EXPECT_THAT(HostPort::parse(":7443").status().message(), HasSubstr("empty host"));
  EXPECT_THAT(HostPort::parse("host:0").status().message(), HasSubstr("expected 1-65535"));
}

// Found by tests/fuzz/common_net.cc: "[[h]:81" parsed as host "[h", which toString() printed as
// "[h:81", text that does not parse. Brackets, spaces and control characters are no host.
TEST(HostPortParse, HostsWithBracketsSpacesOrControlCharactersAreRefused) {
  for (const char* text :
       {"[[h]:81", "[h[]:81", "a]b:1", "a b:1", "a\tb:1", "a\x1a:1", "a\x7f:1"}) {
    auto hp = HostPort::parse(text);
    ASSERT_FALSE(hp.ok()) << "'" << text << "' parsed as " << hp->toString();
    EXPECT_EQ(hp.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  EXPECT_TRUE(HostPort::parse("[2001:db8::1]:7443").ok());
  EXPECT_TRUE(HostPort::parse("controller.example:7443").ok());
}

}  // namespace
}  // namespace warden
