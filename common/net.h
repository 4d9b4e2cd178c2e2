// IP addresses and prefixes as the responder types them: "198.18.0.7", "198.18.0.0/15",
// "2001:db8::/32". Parsing is strict (inet_pton(3)), so a typo is an error, never a
// silently different firewall rule.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

struct IpPrefix {
  int family = 0;                       // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> addr{};  // network byte order; IPv4 uses the first 4 bytes
  int length = 0;                       // prefix length in bits

  // Accepts an address ("198.18.0.7", full-length prefix) or CIDR. Host bits beyond the
  // prefix length must be zero: "198.18.0.7/24" is refused rather than guessed at.
  static absl::StatusOr<IpPrefix> parse(std::string_view text);

  bool isV4() const;
  int maxLength() const { return isV4() ? 32 : 128; }
  bool isHost() const { return length == maxLength(); }
  bool contains(const IpPrefix& other) const;
  // "198.18.0.7" for a host, "198.18.0.0/15" otherwise; IPv6 in RFC 5952 form.
  std::string toString() const;
  // The address alone, without the length.
  std::string addressString() const;
  bool operator==(const IpPrefix& o) const = default;
};

// A responder exception while isolated: "CIDR", "CIDR:PORT", "[IPv6-CIDR]:PORT".
struct AllowEntry {
  IpPrefix prefix;
  std::uint16_t port = 0;  // 0: every TCP/UDP port and every protocol

  static absl::StatusOr<AllowEntry> parse(std::string_view text);
  std::string toString() const;
  bool operator==(const AllowEntry& o) const = default;
};

// "198.18.0.1:7443" or "[2001:db8::1]:7443" (host names allowed for the host part).
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  static absl::StatusOr<HostPort> parse(std::string_view text);
  std::string toString() const;
};

}  // namespace warden
