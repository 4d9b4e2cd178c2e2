// What an action reports back: success, a one-line message and details for the signed receipt.
#pragma once

#include <functional>
#include <map>
#include <string>

namespace warden {

struct ActionOutcome {
  bool ok = false;
  std::string message;
  std::map<std::string, std::string> details;
  // Runs after the controller acknowledged the receipt (shutdown: the receipt must be logged
  // before the host goes down). Empty for most actions.
  std::function<void()> after_ack;
};

// Structured results travel in details["result"] as base64 of a serialized message from
// proto/warden/v1/results.proto, so the CLI can print them as tables or JSON.
inline constexpr char kResultDetail[] = "result";

}  // namespace warden
