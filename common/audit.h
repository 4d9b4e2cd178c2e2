// What the action log holds (DESIGN.md "Action log"): one LogEntry per request, dispatch,
// receipt, refusal, key event and agent event, as canonical bytes (common/canonical.h). A
// signed entry carries the exact bytes its author signed (`body`) and that signature, so an
// auditor checks the operator's, the controller's and the agent's signatures offline from the
// log alone; the keys to check them with are themselves logged (key, operator, enrollment
// entries) before their first use.
//
// Also here: the operator's signed Request, the KeyRecord of key events, and the agent's
// check that a dispatched command is in the log ("log before act").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/note.h"

namespace warden {

inline constexpr std::uint64_t kLogEntryVersion = 1;
inline constexpr std::uint64_t kRequestVersion = 1;
inline constexpr std::uint64_t kKeyRecordVersion = 1;

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

// What an operator asks for, signed by the operator's Ed25519 key (profile signing key).
struct Request {
  std::uint64_t version = kRequestVersion;
  std::string id;  // "r-" + 16 hex, made by the CLI; unique
  std::string operator_name;
  std::string kind;
  std::vector<std::string> hosts;
  bool all_hosts = false;
  std::vector<std::string> allow;      // AllowEntry text
  std::vector<std::string> addresses;  // IpPrefix text
  std::vector<std::string> args;       // "key=value"
  std::string reason;
  std::int64_t issued_unix_ms = 0;
};

std::string encodeRequest(const Request& r);
absl::StatusOr<Request> decodeRequest(std::string_view bytes);

// Adding or revoking an operator is a request too, signed by the admin who makes it: kind
// "add-operator" with args name=, role=, signing_key=<64 hex>, or kind "revoke-operator" with
// args name= (and the reason in `reason`). Logged as the "operator" entry's body, so an auditor
// checks the admin's signature on every operator key after the genesis.
inline constexpr char kAddOperatorKind[] = "add-operator";
inline constexpr char kRevokeOperatorKind[] = "revoke-operator";

struct OperatorChange {
  bool revoke = false;
  std::string name;
  std::string role;         // add only
  std::string signing_key;  // add only: raw 32-byte Ed25519
};

// Strict: the right kind, exactly the args above, a 32-byte key, a valid role.
absl::StatusOr<OperatorChange> operatorChangeOf(const Request& r);
std::vector<std::string> operatorChangeArgs(const OperatorChange& c);

// A public key and what it is for.
struct KeyRecord {
  std::uint64_t version = kKeyRecordVersion;
  std::string purpose;           // "command", "log", "operator", "agent"
  std::string subject;           // "controller", the operator's name or the host id
  std::string role;              // operators: admin, responder, auditor
  std::string public_key;        // raw 32-byte Ed25519 key (log: the note verifier key text)
  std::string cert_fingerprint;  // TLS certificate bound to the identity, if any
};

std::string encodeKeyRecord(const KeyRecord& k);
absl::StatusOr<KeyRecord> decodeKeyRecord(std::string_view bytes);

// What rides along with a dispatched command so the agent can check it was logged first.
struct DispatchProof {
  std::string checkpoint;  // signed note
  std::uint64_t index = 0;
  std::string entry;               // the DISPATCH log entry (canonical bytes)
  std::vector<std::string> proof;  // RFC 9162 inclusion proof (raw 32-byte hashes)
};

// "Log before act": OK only when `proof.checkpoint` is signed by `log_vkey`, `proof.entry` is
// a DISPATCH entry whose body is exactly `command` (and whose signature is `signature`), and
// the inclusion proof puts that entry at `index` in the checkpoint's tree. The error says
// which check failed.
absl::Status verifyDispatchProof(std::string_view log_vkey, std::string_view command,
                                 std::string_view signature, const DispatchProof& proof);

}  // namespace warden
