// The alert intake's meaning (DESIGN.md "Automation", "Intake"): who sent a request (a named
// source's bearer token — or basic-auth password, as Alertmanager can send it — or a client
// certificate issued to the source), whether it is within its source's rate, whether its body
// parses, and then the automation's decisions. Answers as DESIGN names them: 401 for a bad or
// missing credential, 429 past the rate, 400 for a body that does not parse (saying what was
// wrong), 503 when the log cannot take it (Alertmanager retries), 200 only once every alert and
// its decision are durable in the log. Refusals are logged, rate-limited.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "controller/alerts/alert_store.h"
#include "controller/alerts/automation.h"
#include "controller/alerts/intake_server.h"
#include "controller/log_writer.h"

namespace warden {

// Requests a source may send: a token bucket refilled at `per_second`, holding `burst`.
struct SourceRate {
  double per_second = 200;
  double burst = 400;
};

class AlertIntake final : public AlertSink {
 public:
  AlertIntake(AlertStore& store, Automation& automation, LogWriter& log, SourceRate rate = {})
      : store_(store), automation_(automation), log_(log), rate_(rate) {}

  IntakeAnswer receive(const IntakeRequest& req) override;
  void refusedByServer(unsigned status, const std::string& peer_address,
                       const std::string& what) override {
    refused(status, "from " + peer_address, what);
  }

 private:
  bool withinRate(const std::string& source);
  // Logs a refusal of an intake request, at most one a second (with the count of those not
  // logged): anyone who reaches the port can cause them.
  void refused(unsigned status, const std::string& who, const std::string& what);

  AlertStore& store_;
  Automation& automation_;
  LogWriter& log_;
  const SourceRate rate_;
  std::mutex mu_;
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Bucket> buckets_;                        // guarded by mu_
  std::chrono::steady_clock::time_point last_refusal_logged_{};  // guarded by mu_
  std::uint64_t refusals_not_logged_ = 0;                        // guarded by mu_
};

}  // namespace warden
