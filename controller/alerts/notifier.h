// Notifications out (DESIGN.md "Automation", "Notifications out"): each automated action,
// pending approval, and host turned unresponsive or tampered is POSTed to the rules' `notify`
// URLs. Thin — the event, the host, the action, the outcome and the log index; never reasons,
// labels or secrets — and signed as Standard Webhooks asymmetric signatures
// (https://www.standardwebhooks.com/: headers webhook-id, webhook-timestamp, webhook-signature
// "v1a,<base64 Ed25519 signature over id.timestamp.body>"), with the controller's notify key
// (DIR/notify.key; its public key in DIR/notify.pub as "whpk_<base64>").
//
// Never on the containment path: notify() only queues (bounded; a full queue drops and counts),
// one thread delivers, each POST with a short timeout and a bounded number of retries.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/ed25519.h"

namespace warden {

struct NotifyEvent {
  std::string type;  // "automated-action", "pending-approval", "host-health"
  std::string host;
  std::string action;   // isolate, kill-sessions, ... (or the health state)
  std::string outcome;  // acted, pending-approval, unresponsive, tampered
  std::string ref;      // the decision id or the action id
  std::uint64_t log_index = 0;
  std::string incident;  // the incident codename, when there is one
};

struct NotifierOptions {
  std::size_t max_queued = 1000;
  std::uint32_t attempts = 4;           // the first and three retries
  std::uint32_t first_retry_ms = 1000;  // then x4 each time
  std::uint32_t timeout_ms = 5000;      // connect + TLS + request + answer
  std::string ca_file;                  // empty: the system's trust store
};

class Notifier {
 public:
  static std::unique_ptr<Notifier> start(crypto::Ed25519Key key, NotifierOptions options = {});
  virtual ~Notifier() = default;
  // Where events go now (from the rules in force); only https:// URLs.
  virtual void setTargets(std::vector<std::string> urls) = 0;
  // Queues the event for every target; never blocks.
  virtual void notify(const NotifyEvent& e) = 0;
  // Delivered, failed after every attempt, dropped (queue full): for tests and logs.
  struct Counts {
    std::uint64_t delivered = 0, failed = 0, dropped = 0;
  };
  virtual Counts counts() const = 0;
  virtual void stop() = 0;
};

// The Standard Webhooks signature header value for one message: "v1a,<base64 signature>" over
// "<id>.<timestamp>.<body>".
absl::StatusOr<std::string> webhookSignature(const crypto::Ed25519Key& key, const std::string& id,
                                             std::int64_t timestamp_s, const std::string& body);

}  // namespace warden
