// The controller addresses isolation keeps open. An address is pinned only once a connection
// to it completed mutual TLS as the controller — never because DNS named it, since the
// host's resolver is the attacker's to poison — and a pin that has not been confirmed for
// kPinLifetime expires, so an address the controller left does not stay open forever.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "common/net.h"

namespace warden {

inline constexpr absl::Duration kPinLifetime = absl::Hours(24 * 30);
inline constexpr std::size_t kMaxPins = 16;

class ControllerPins {
 public:
  // "198.18.0.1@1764600000000,[2001:db8::1]@..." as encode() writes it. Entries without a
  // confirmation time (written by agents before pins were proven) and malformed ones are
  // dropped: they were never shown to be the controller.
  static ControllerPins decode(std::string_view stored);
  std::string encode() const;

  // The address a connection completed TLS with, seen at `now`.
  void confirm(const IpPrefix& address, absl::Time now);
  // Drops pins not confirmed within kPinLifetime before `now`.
  void expire(absl::Time now);
  std::vector<IpPrefix> addresses() const;

 private:
  struct Pin {
    IpPrefix address;
    std::int64_t confirmed_unix_ms = 0;
  };
  std::vector<Pin> pins_;
};

// The peer address in gRPC's peer string: "ipv4:198.18.0.1:7443", "ipv6:[2001:db8::1]:7443"
// (also URI-escaped, "ipv6:%5B2001:db8::1%5D:7443"). Anything else (unix sockets) is nullopt.
std::optional<IpPrefix> addressOfGrpcPeer(std::string_view peer);

}  // namespace warden
