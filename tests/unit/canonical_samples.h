// A command and a receipt with every field set, for the common/canonical.h and common/command.h
// tests, and field-by-field comparisons of decoded ones. bytes() makes a string of a literal,
// embedded NULs included.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string>

#include "common/canonical.h"
#include "common/command.h"

namespace warden::testing {

template <std::size_t N>
inline std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);  // keeps embedded NULs, drops the terminator
}

inline Command sampleCommand() {
  Command c;
  c.id = "a-5f2c0001";
  c.host_id = "host-42";
  c.kind = "isolate";
  c.issued_unix_ms = 1'700'000'000'123;
  c.expires_unix_ms = 1'700'086'400'123;
  c.requested_by = "alice";
  c.incident = "i-00112233445566ff";
  c.allow = {"198.18.0.9", "198.18.0.0/24:443", "[2001:db8::/64]:22", ""};
  return c;
}

inline Receipt sampleReceipt() {
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

inline void expectSameCommand(const Command& a, const Command& b) {
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.host_id, b.host_id);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.issued_unix_ms, b.issued_unix_ms);
  EXPECT_EQ(a.expires_unix_ms, b.expires_unix_ms);
  EXPECT_EQ(a.requested_by, b.requested_by);
  EXPECT_EQ(a.reason, b.reason);
  EXPECT_EQ(a.incident, b.incident);
  EXPECT_EQ(a.allow, b.allow);
  EXPECT_EQ(a.addresses, b.addresses);
  EXPECT_EQ(a.args, b.args);
}

inline void expectSameReceipt(const Receipt& a, const Receipt& b) {
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

}  // namespace warden::testing
