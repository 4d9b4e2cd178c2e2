// What an operator asks for (Request), signed by the operator's Ed25519 key (profile signing
// key), and the operator changes an admin signs as requests (OperatorChange).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

// Version 2 added the incident; version 1 requests (no incident) still decode.
inline constexpr std::uint64_t kRequestVersion = 2;

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
  // The incident it is part of ("i-" + 16 hex, see common/audit/incident.h), or empty. The id
  // alone reaches the host, inside the command; never the codename, summary or reason.
  std::string incident;
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

}  // namespace warden
