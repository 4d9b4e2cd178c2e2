// Parsed prefixes and allow entries, and the isolation policy the agent's containment tests put
// a host under: the controller on both address families, and allow entries with and without
// ports on both.
#pragma once

#include <gtest/gtest.h>

#include <string_view>

#include "agent/os/firewall.h"

namespace warden::testing {

inline IpPrefix prefix(std::string_view text) {
  auto p = IpPrefix::parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << p.status();
  return p.ok() ? *p : IpPrefix{};
}

inline AllowEntry allow(std::string_view text) {
  auto e = AllowEntry::parse(text);
  EXPECT_TRUE(e.ok()) << text << ": " << e.status();
  return e.ok() ? *e : AllowEntry{};
}

inline IsolationPolicy samplePolicy() {
  IsolationPolicy p;
  p.controller_addresses = {prefix("198.18.0.1"), prefix("2001:db8::1")};
  p.controller_port = 7443;
  p.allow = {allow("198.18.0.0/24:443"), allow("[2001:db8:5::/64]:22"), allow("198.18.1.9"),
             allow("2001:db8:6::7")};
  return p;
}

}  // namespace warden::testing
