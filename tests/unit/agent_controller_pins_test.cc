// Only addresses that completed TLS as the controller are pinned, and pins expire.
#include <string>
#include <vector>

#include "agent/runtime/controller_pins.h"
#include "gtest/gtest.h"

namespace warden {
namespace {

IpPrefix ip(const char* text) { return *IpPrefix::parse(text); }
const absl::Time kT0 = absl::FromUnixSeconds(1764600000);

TEST(ControllerPins, GrpcPeerStrings) {
  EXPECT_EQ(addressOfGrpcPeer("ipv4:198.18.0.1:7443"), ip("198.18.0.1"));
  EXPECT_EQ(addressOfGrpcPeer("ipv6:[2001:db8::1]:7443"), ip("2001:db8::1"));
  EXPECT_EQ(addressOfGrpcPeer("ipv6:%5B2001:db8::1%5D:7443"), ip("2001:db8::1"));
  EXPECT_EQ(addressOfGrpcPeer("ipv6:%5Bfe80::1%25eth0%5D:7443"), ip("fe80::1"));
  EXPECT_EQ(addressOfGrpcPeer("unix:/run/warden.sock"), std::nullopt);
  EXPECT_EQ(addressOfGrpcPeer("ipv4:198.18.0.0/24:7443"), std::nullopt);
  EXPECT_EQ(addressOfGrpcPeer("ipv6:2001:db8::1:7443"), std::nullopt);
  EXPECT_EQ(addressOfGrpcPeer(""), std::nullopt);
}

TEST(ControllerPins, RoundTripAndRefresh) {
  ControllerPins pins;
  pins.confirm(ip("198.18.0.1"), kT0);
  pins.confirm(ip("2001:db8::1"), kT0 + absl::Hours(1));
  pins.confirm(ip("198.18.0.1"), kT0 + absl::Hours(2));
  ControllerPins back = ControllerPins::decode(pins.encode());
  EXPECT_EQ(back.encode(), pins.encode());
  EXPECT_EQ(back.addresses(), (std::vector<IpPrefix>{ip("198.18.0.1"), ip("2001:db8::1")}));
}

TEST(ControllerPins, UnprovenAndMalformedEntriesAreDropped) {
  // The format of agents before pins were proven: DNS answers, never confirmed.
  EXPECT_TRUE(ControllerPins::decode("198.18.0.1,2001:db8::1").addresses().empty());
  EXPECT_TRUE(ControllerPins::decode("198.18.0.0/24@1764600000000,x@1,198.18.0.1@-5,@,,")
                  .addresses()
                  .empty());
}

TEST(ControllerPins, StalePinsExpire) {
  ControllerPins pins;
  pins.confirm(ip("198.18.0.1"), kT0);
  pins.confirm(ip("198.18.0.2"), kT0 + kPinLifetime);
  pins.expire(kT0 + kPinLifetime + absl::Minutes(1));
  EXPECT_EQ(pins.addresses(), std::vector<IpPrefix>{ip("198.18.0.2")});
}

TEST(ControllerPins, Bounded) {
  ControllerPins pins;
  for (int i = 1; i <= 40; ++i) {
    pins.confirm(ip(("198.18.1." + std::to_string(i)).c_str()), kT0 + absl::Seconds(i));
  }
  const auto kept = pins.addresses();
  ASSERT_EQ(kept.size(), kMaxPins);
  EXPECT_EQ(kept.back(), ip("198.18.1.40"));
  EXPECT_EQ(std::find(kept.begin(), kept.end(), ip("198.18.1.1")), kept.end());
}

}  // namespace
}  // namespace warden
