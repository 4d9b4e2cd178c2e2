// What the verifier has learnt from the log so far, which the entry rules read and extend:
// names, operators and their keys, agents' keys, requests, commands and the fleet-wide blocks.
// Memory grows only with what the uniqueness checks must remember: ~180 bytes per request and
// ~150 per command.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/audit/verify/automation_log.h"
#include "common/audit/verify/fields_digest.h"
#include "common/audit/verify/fleet_blocks.h"
#include "common/audit/verify/public_key.h"

namespace warden::audit_verify {

// Compact names: a fleet has few hosts, operators and kinds, and every request and command
// refers to them, so they are stored once.
class Names {
 public:
  std::uint32_t id(const std::string& name) {
    auto [it, inserted] = ids_.try_emplace(name, static_cast<std::uint32_t>(names_.size()));
    if (inserted) names_.push_back(name);
    return it->second;
  }
  std::optional<std::uint32_t> find(const std::string& name) const {
    auto it = ids_.find(name);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  const std::string& name(std::uint32_t id) const { return names_[id]; }

 private:
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<std::string> names_;
};

struct OperatorState {
  std::string role;  // admin, responder, auditor, or revoked
  PublicKey public_key{};
};

struct RequestState {
  std::uint32_t operator_name = 0;
  std::uint32_t kind = 0;
  bool all_hosts = false;
  // The controller would refuse it (an allow entry or address that does not parse): nothing
  // may be dispatched for it. The reason is in LogState::unparseable.
  bool unparseable = false;
  bool dispatched = false;  // a dispatch for it is logged
  bool refused = false;     // its operator's refusal (ref = its id) is logged
  // The operator's role when the request was logged (the controller checks it then).
  bool may_dispatch = false;
  FieldsDigest fields;
  std::vector<std::uint32_t> hosts;
};

struct CommandState {
  std::uint32_t host = 0;
  bool receipted = false;
  std::uint32_t kind = 0;       // names id: a receipt must answer the kind that was dispatched
  bool timed = false;           // an isolation with a duration (isolate --for)
  bool succeeded = false;       // its receipt says succeeded
  bool agent_released = false;  // its agent-release is logged
};

struct IncidentState {
  std::string codename;
  bool open = true;
};

// Everything the rules share, owned by the driver for one export.
struct LogState {
  // The log's verifier key, as the export's header names it (the key entry must record it).
  std::string vkey;
  // Still in the genesis: every entry so far is a key, operator or enrollment entry.
  bool genesis = true;
  Names names;  // hosts, operators, kinds
  std::unordered_map<std::string, OperatorState> operators;
  std::unordered_map<std::uint32_t, PublicKey> agent_keys;  // by host name id
  std::unordered_map<std::string, RequestState> requests;
  std::unordered_map<std::string, CommandState> commands;
  std::optional<PublicKey> command_key;
  // Requests the controller would refuse, with the reason (rare: kept apart from RequestState).
  std::unordered_map<std::string, std::string> unparseable;
  FleetBlocks fleet;
  // The challenges renewals were signed over: each is good for one renewal (a few a year per
  // identity, so kept whole).
  std::unordered_set<std::string> renewal_challenges;
  AutomationLog automation;
  // Incidents opened so far, by id, and the codenames taken (a codename names one incident).
  std::unordered_map<std::string, IncidentState> incidents;
  std::unordered_set<std::string> codenames;
  std::string scratch;  // digestFields' buffer
};

}  // namespace warden::audit_verify
