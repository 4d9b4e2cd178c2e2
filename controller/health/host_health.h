// The controller's judgement of each host from its signed heartbeats (common/heartbeat.h):
// `unresponsive` when no valid heartbeat came for 3x the interval the agent announced,
// `tampered` when the rules the agent reports in force differ from what the host's last
// containment receipt said it installed. Pure bookkeeping with the time passed in; the
// intake (agent_channel/heartbeat_intake.h) feeds it and logs what changes.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/heartbeat.h"

namespace warden {

enum class HostHealth { kUnknown, kHealthy, kUnresponsive, kTampered };
std::string_view hostHealthName(HostHealth h);

struct HostHealthView {
  HostHealth health = HostHealth::kUnknown;
  std::string detail;
  std::int64_t last_heartbeat_unix_ms = 0;  // controller's clock, when it arrived
  std::int64_t heartbeat_interval_ms = 0;
};

struct HostHealthChange {
  std::string host_id;
  HostHealth from = HostHealth::kUnknown;
  HostHealth to = HostHealth::kUnknown;
  std::string detail;
};

// Thread-safe.
class HostHealthBook {
 public:
  // Missed intervals before a host is unresponsive.
  static constexpr int kMissedIntervals = 3;
  // Heartbeats in a row whose digest differs before a host is tampered: one alone may have
  // been taken between a change and its receipt.
  static constexpr int kMismatchesToTamper = 2;

  // What the host's latest succeeded containment receipt (`action_id`) says is installed.
  void expectRuleset(const std::string& host_id, const std::string& sha256,
                     const std::string& action_id);
  bool hasExpectation(const std::string& host_id) const;
  // A heartbeat whose signature verified, received at `now_ms`.
  void heartbeat(const HeartbeatRecord& h, std::int64_t now_ms);
  // A heartbeat that did not verify: counted, never trusted.
  void rejected(const std::string& host_id);
  std::uint64_t rejectedCount(const std::string& host_id) const;

  HostHealthView view(const std::string& host_id, std::int64_t now_ms) const;
  // Hosts whose health changed since the previous call (the first judgement of a host is a
  // change from unknown).
  std::vector<HostHealthChange> changes(std::int64_t now_ms);

 private:
  struct Entry {
    std::string expected_sha256;
    std::string expected_action;
    bool has_expectation = false;
    std::int64_t last_ms = 0;
    std::int64_t interval_ms = 0;
    std::string reported_sha256;
    std::string reported_error;
    int mismatches = 0;
    std::uint64_t rejected = 0;
    HostHealth reported = HostHealth::kUnknown;  // as of the last changes()
  };
  static HostHealthView judge(const Entry& e, std::int64_t now_ms);

  mutable std::mutex mu_;
  std::map<std::string, Entry> hosts_;  // guarded by mu_
};

}  // namespace warden
