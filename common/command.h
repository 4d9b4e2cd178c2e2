// What the controller orders (Command) and what the agent answers (Receipt). Both travel and
// are signed as canonical bytes (common/canonical.h): the controller signs commands with its
// command key, the agent signs receipts with its own key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

// Version 2 carries the incident id in place of the operator's reason: nothing a responder
// writes reaches the host, which may be the attacker's. Version 1 commands still decode.
inline constexpr std::uint64_t kCommandVersion = 2;
inline constexpr std::uint64_t kReceiptVersion = 1;

struct Command {
  std::uint64_t version = kCommandVersion;
  std::string id;       // unique action id, e.g. "a-5f2c..."
  std::string host_id;  // the one host that may execute it
  std::string kind;     // "isolate", "release"
  std::int64_t issued_unix_ms = 0;
  std::int64_t expires_unix_ms = 0;
  std::string requested_by;            // operator name
  std::string incident;                // "i-" + 16 hex, or empty (version 2)
  std::string reason;                  // version 1 only: free text from --reason
  std::vector<std::string> allow;      // canonical AllowEntry strings (isolate)
  std::vector<std::string> addresses;  // canonical IpPrefix strings (block, unblock)
  std::vector<std::string> args;  // "key=value" (host actions, see agent/actions/host_actions.h)
};

// Every command kind the agent knows.
bool knownCommandKind(const std::string& kind);

std::string encodeCommand(const Command& c);
absl::StatusOr<Command> decodeCommand(std::string_view bytes);

// kInterrupted: the agent had started the command when it stopped (a crash, a kill, a reboot);
// it is answered with what the host now shows and never run a second time.
enum class ReceiptStatus { kSucceeded, kFailed, kRefused, kInterrupted };
std::string_view receiptStatusName(ReceiptStatus s);

struct Receipt {
  std::uint64_t version = kReceiptVersion;
  std::string command_id;
  std::string host_id;
  std::string kind;
  ReceiptStatus status = ReceiptStatus::kFailed;
  std::string message;
  std::int64_t started_unix_ms = 0;
  std::int64_t finished_unix_ms = 0;
  std::map<std::string, std::string> details;  // sorted by key: deterministic bytes
};

std::string encodeReceipt(const Receipt& r);
absl::StatusOr<Receipt> decodeReceipt(std::string_view bytes);

std::int64_t nowUnixMs();

}  // namespace warden
