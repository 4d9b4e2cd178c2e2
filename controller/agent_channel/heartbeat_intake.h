// Heartbeat intake: each agent's signed heartbeat (common/heartbeat.h) checked against the
// host's receipt key, fed to the host health book (controller/health/host_health.h), and the
// host's facts kept in the registry. A heartbeat that does not verify is rejected and counted,
// never trusted. A thread of its own notices when a host's health changes (a silent host makes
// no call that could) and logs it.
#pragma once

#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/command.h"
#include "controller/agent_channel/agent_session.h"
#include "controller/context.h"

namespace warden {

class HeartbeatIntake {
 public:
  explicit HeartbeatIntake(ControllerContext& ctx);
  ~HeartbeatIntake();

  // Takes a heartbeat that arrived on `s` (its reader thread).
  void acceptHeartbeat(AgentSession& s, const v1::Heartbeat& hb);

  // The ruleset digest a succeeded containment receipt reports, if it is one ("" otherwise).
  static std::string installedDigest(const Receipt& r);
  // Keeps the host's expected ruleset (`digest`, set by the receipt or timed release `ref`) in
  // the registry, so a restarted controller expects what the last change left (best effort).
  static void noteExpected(Registry& registry, const std::string& host_id, const std::string& ref,
                           const std::string& digest);

 private:
  void watchLoop();
  // After a restart the book is empty: the host's latest containment receipt, from the registry.
  void loadExpectation(const std::string& host_id);

  ControllerContext& ctx_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;         // guarded by mu_
  std::set<std::string> loaded_;  // hosts whose expectation was looked up; guarded by mu_
  std::thread watcher_;
};

}  // namespace warden
