// A real Prometheus Alertmanager (the Debian package's binary) running inside a test host, for
// tests of the alert intake against the peer itself rather than captured payloads: its own
// grouping, repeats, retries, resolved notifications and webhook client (DESIGN.md "Test
// fleet"). Alerts are posted to its v2 API from inside the host with curl, as a Prometheus
// server would.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/fleet.h"
#include "tests/support/process.h"

namespace warden::testing {

// A fixed port is fine: it is the loopback of the test host's own network namespace.
inline constexpr std::uint16_t kAlertmanagerPort = 19093;

// The Alertmanager binary: `prometheus-alertmanager` (Debian) or `alertmanager` in PATH.
// NotFound (naming scripts/setup, which installs it) when there is neither.
absl::StatusOr<std::string> alertmanagerBinary();

// One alert as Alertmanager's POST /api/v2/alerts takes it: labels, startsAt, and endsAt when
// set (a past endsAt resolves the alert).
std::string alertmanagerApiAlert(const std::map<std::string, std::string>& labels,
                                 absl::Time starts_at, absl::Time ends_at = absl::InfinitePast());

class AlertmanagerPeer {
 public:
  // Writes `config_yaml` to HOST_DIR/alertmanager/alertmanager.yml, starts Alertmanager in
  // `host` (storage under the same directory, API on 127.0.0.1:`port`, no cluster gossip) and
  // waits until its /-/ready answers.
  static absl::StatusOr<std::unique_ptr<AlertmanagerPeer>> start(
      const TestHost& host, const std::string& config_yaml, std::uint16_t port = kAlertmanagerPort,
      absl::Duration ready_within = absl::Seconds(20));
  // Stops it (SIGTERM, then the Process destructor's SIGKILL if it lingers).
  ~AlertmanagerPeer();
  AlertmanagerPeer(const AlertmanagerPeer&) = delete;
  AlertmanagerPeer& operator=(const AlertmanagerPeer&) = delete;

  // POSTs a JSON array of alerts (alertmanagerApiAlert()s joined in [...]) to /api/v2/alerts.
  absl::Status post(const std::string& alerts_json);
  // GET of an API path (e.g. "/api/v2/alerts/groups"), its body.
  absl::StatusOr<std::string> get(const std::string& path);
  // Orderly stop (SIGTERM) and wait.
  absl::Status stop();
  // The end of its log (the last 32 KiB), for failure messages.
  std::string log() const;
  const std::string& dir() const { return dir_; }

 private:
  AlertmanagerPeer(const TestHost& host, std::uint16_t port) : host_(host), port_(port) {}
  std::string url(const std::string& path) const;

  const TestHost& host_;
  std::uint16_t port_;
  std::string dir_;
  std::unique_ptr<Process> process_;
};

}  // namespace warden::testing
