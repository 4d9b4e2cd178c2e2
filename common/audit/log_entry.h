// What the action log holds (DESIGN.md "Action log"): one LogEntry per request, dispatch,
// receipt, refusal, key event and agent event, as canonical bytes (common/canonical.h). A
// signed entry carries the exact bytes its author signed (`body`) and that signature, so an
// auditor checks the operator's, the controller's and the agent's signatures offline from the
// log alone; the keys to check them with are themselves logged (key, operator, enrollment
// entries) before their first use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

inline constexpr std::uint64_t kLogEntryVersion = 1;

// Entry types. Signed types carry `body` + `signature`; the others are attested by the
// controller's checkpoint signature only.
namespace entry_type {
inline constexpr char kRequest[] = "request";        // body: Request, signed by the operator
inline constexpr char kDispatch[] = "dispatch";      // body: Command, signed by the command key
inline constexpr char kReceipt[] = "receipt";        // body: Receipt, signed by the agent
inline constexpr char kRefusal[] = "refusal";        // detail: what was refused and why
inline constexpr char kKey[] = "key";                // body: KeyRecord (controller keys)
inline constexpr char kOperator[] = "operator";      // body: KeyRecord (an operator's key)
inline constexpr char kEnrollment[] = "enrollment";  // body: KeyRecord (an agent's key)
inline constexpr char kEvent[] = "event";            // detail: tamper, restore, token, ...
// body: CertRenewal (common/audit/cert_renewal.h), signed by the agent's or operator's key
// (unsigned for the controller's own certificate); ref: the new certificate's fingerprint
inline constexpr char kRenewal[] = "renewal";
// body: AlertRecord (common/audit/automation_record.h); actor "source:NAME"; ref: the alert id
inline constexpr char kAlert[] = "alert";
// body: DecisionRecord; actor "controller"; ref: the alert id; host_id: the host it names
inline constexpr char kDecision[] = "decision";
// body: AgentRelease (common/audit/agent_release.h), signed by the agent's key; actor
// "agent:HOST"; ref: the isolate command it ends
inline constexpr char kAgentRelease[] = "agent-release";
}  // namespace entry_type

struct LogEntry {
  std::uint64_t version = kLogEntryVersion;
  std::string type;
  std::int64_t logged_unix_ms = 0;  // controller time; never decreases along the log
  std::string actor;                // "operator:NAME", "agent:HOST" or "controller"
  std::string host_id;              // the host concerned, if any
  std::string ref;        // request: its id; dispatch: the request id; receipt: the command id
  std::string body;       // the signed canonical bytes (see entry_type)
  std::string signature;  // Ed25519 over `body` by the actor's key
  std::string detail;     // human text: reason for a refusal, event detail
};

std::string encodeLogEntry(const LogEntry& e);
absl::StatusOr<LogEntry> decodeLogEntry(std::string_view bytes);

}  // namespace warden
