// Test-only fault injection: the defences of the agent and of the action log are tested against
// a controller that misbehaves on purpose. Faults come from the environment variable
// WARDEN_FAULT_INJECT (comma separated) and are announced loudly at start:
//   dispatch-proof-missing   send commands without their log proof
//   dispatch-proof-corrupt   send commands with a wrong inclusion proof
//   exit-after-log:request   exit(70) right after a REQUEST entry is durable, before answering
//   exit-after-log:receipt   exit(70) right after a RECEIPT entry is durable, before the ack
//   exit-before-log:alerts   exit(70) once received alerts' decisions are stored, before their
//                            log entries are durable
// Production code calls the hooks below at those points; with the variable unset they do
// nothing.
#pragma once

#include <string>
#include <vector>

namespace warden {

// The faults in force, read once when the controller starts.
class FaultInjection {
 public:
  static FaultInjection fromEnvironment();

  // Called once a REQUEST / RECEIPT entry is durable, before the caller hears of it.
  void afterRequestLogged() const;
  void afterReceiptLogged() const;
  // Called once a batch of alerts is decided and stored, its entries queued but not written.
  void alertsStoredBeforeLogged() const;
  // Called with a command's inclusion proof just before the command is sent: false when the
  // command is to go out without any proof; the proof may come back corrupted.
  bool applyToProof(std::vector<std::string>* proof) const;

 private:
  bool proof_missing_ = false;
  bool proof_corrupt_ = false;
  bool exit_after_request_ = false;
  bool exit_after_receipt_ = false;
  bool exit_before_log_alerts_ = false;
};

}  // namespace warden
