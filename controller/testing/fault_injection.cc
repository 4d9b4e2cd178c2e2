#include "controller/testing/fault_injection.h"

#include <unistd.h>

#include <cstdlib>

#include "common/log.h"

namespace warden {

FaultInjection FaultInjection::fromEnvironment() {
  FaultInjection f;
  const char* env = std::getenv("WARDEN_FAULT_INJECT");
  const std::string v = env == nullptr ? "" : env;
  f.proof_missing_ = v.find("dispatch-proof-missing") != std::string::npos;
  f.proof_corrupt_ = v.find("dispatch-proof-corrupt") != std::string::npos;
  f.exit_after_request_ = v.find("exit-after-log:request") != std::string::npos;
  f.exit_after_receipt_ = v.find("exit-after-log:receipt") != std::string::npos;
  f.exit_before_log_alerts_ = v.find("exit-before-log:alerts") != std::string::npos;
  if (!v.empty()) logWarning("FAULT INJECTION ACTIVE (WARDEN_FAULT_INJECT=%s): testing only", v);
  return f;
}

void FaultInjection::afterRequestLogged() const {
  if (exit_after_request_) _exit(70);
}

void FaultInjection::afterReceiptLogged() const {
  if (exit_after_receipt_) _exit(70);
}

void FaultInjection::alertsStoredBeforeLogged() const {
  if (exit_before_log_alerts_) _exit(70);
}

bool FaultInjection::applyToProof(std::vector<std::string>* proof) const {
  if (proof_missing_) return false;
  if (proof_corrupt_ && !proof->empty()) proof->front()[0] ^= 1;
  if (proof_corrupt_ && proof->empty()) proof->push_back(std::string(32, '\0'));
  return true;
}

}  // namespace warden
