// What an action reports back: success, a one-line message and details for the signed receipt.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>

#include "common/receipt_bounds.h"

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
// proto/warden/v1/results.proto, so the CLI can print them as tables or JSON; the agent bounds
// them before it signs the receipt (common/receipt_bounds.h).
inline constexpr const char* kResultDetail = kReceiptResultDetail;

// Bad input the controller cannot know about (an unknown user, a session id that does not
// exist) fails with details["error"] = "invalid-argument" and changes nothing; the CLI exits 2.
inline constexpr char kErrorDetail[] = "error";
inline constexpr char kInvalidArgument[] = "invalid-argument";

// A refusal of bad input: not ok, `message`, details["error"] = "invalid-argument".
inline ActionOutcome invalidArgument(std::string message) {
  ActionOutcome out;
  out.message = std::move(message);
  out.details[kErrorDetail] = kInvalidArgument;
  return out;
}

// A failure: not ok, `message`.
inline ActionOutcome failure(std::string message) {
  ActionOutcome out;
  out.message = std::move(message);
  return out;
}

}  // namespace warden
