// A controller registry (controller/registry.h) in a scratch directory, for the registry tests,
// with the host and action records they add to it.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/files.h"
#include "controller/registry.h"
#include "tests/support/temp_dir.h"

namespace warden::testing {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = Registry::open(dir_.file("warden.db"));
    ASSERT_TRUE(r.ok()) << r.status();
    reg_ = std::move(*r);
  }

  HostRecord host(const std::string& id) const {
    HostRecord h;
    h.host_id = id;
    h.cert_fingerprint = "fp";
    h.receipt_public_key = "k";
    return h;
  }

  ActionRecord action(const std::string& id, const std::string& host,
                      std::int64_t expires_ms) const {
    ActionRecord a;
    a.id = id;
    a.host_id = host;
    a.kind = "isolate";
    a.state = "queued";
    a.requested_by = "alice";
    a.reason = "INC-7 " + id;
    a.params = "{\"allow\":[]}";
    a.created_ms = nowUnixMs();
    a.expires_ms = expires_ms;
    a.command = std::string("cmd\0", 4) + id;
    a.command_signature = std::string(64, '\x5a');
    return a;
  }

  static std::vector<std::string> ids(const std::vector<ActionRecord>& v) {
    std::vector<std::string> out;
    for (const auto& a : v) out.push_back(a.id);
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Registry> reg_;
};

inline constexpr std::int64_t kHour = 3'600'000;

}  // namespace warden::testing
