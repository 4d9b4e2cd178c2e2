// Offline verification of an action log export (common/audit/export_format.h): everything an
// auditor can check from the file alone, given the log's verifier key.
//
//  - The file: header, well-formed lines, `end N` (a truncated file fails).
//  - The tree: every checkpoint is signed by the log key, names the log's origin, sits right
//    after the entry that brings the tree to its size, and its root is the RFC 6962 root of the
//    entries before it; the last checkpoint covers every entry.
//  - The log's rules (one per entry type: common/audit/verify/rules/), i.e. what the controller
//    does:
//    * Entry 0 records the log key. The genesis is the leading run of key, operator and
//      enrollment entries: the controller's keys, the operators it had ("operator" entries by
//      "controller" are valid only there) and the hosts enrolled before the log existed
//      (enrollments without a join token ref, valid only there). After it, operators are
//      added by a logged admin, enrollments name their join token. An operator name is logged
//      once.
//    * Requests are by a logged operator, with unique ids. A dispatch for a request matches
//      it: kind, requester (admin or responder), a host it names (or any, for all_hosts), and
//      exactly the reason, arguments, allow list and addresses it asked for as the controller
//      normalizes them (common/request_lists.h: each allow entry and address parsed and printed
//      canonically, duplicate addresses dropped). A request with an allow entry or address that
//      does not parse is one the controller refuses: nothing may be dispatched for it, nor for any
//      request after its operator's refusal of it (a refusal whose ref is its id).
//    * A dispatch without a request is the controller's own: a block of addresses all in force
//      fleet-wide (by operators' all_hosts block/unblock requests, not refused), to an enrolled
//      host, with no allow list or arguments.
//    * A receipt answers a command dispatched to that host before it (no orphan receipts),
//      once. Command ids are unique; time never goes backwards.
//  - Every signature: the operator's on each request, the controller's command key on each
//    dispatch, the enrolled agent's key on each receipt — each under the key the log itself
//    recorded before that entry.
//  - The auditor's own earlier checkpoints: each must be signed by the log key and be a prefix
//    of this log (same root at its size); a larger one means the log was rolled back or
//    truncated, a different root at the same size that it forked.
//
// The file is streamed (memory grows only with the ids the uniqueness checks must remember,
// ~180 bytes per request — with a 16-byte digest of what it asked for — and ~150 per command,
// plus the few fleet-wide requests' addresses). Entries are checked in batches: a sequential pass
// applies the structural and chain rules, then the batch's Ed25519 checks run on all threads,
// overlapped with the next batch's sequential pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/audit/log_entry.h"

namespace warden {

struct AuditVerifyOptions {
  // The log verifier key the auditor trusts. When absent, the key written in the file is used
  // and the report says it was not pinned (the file vouches for itself only).
  std::optional<std::string> pinned_vkey;
  // Signed checkpoint notes the auditor saved earlier, in any order.
  std::vector<std::string> previous_checkpoints;
  // Threads for signature checks; 0 = std::thread::hardware_concurrency().
  unsigned threads = 0;
  // Entries per verification batch; 0 = 4096. Smaller only to exercise batching in tests.
  std::size_t batch_entries = 0;
  // Called with each entry, in log order, once it has passed the log's rules (its signature is
  // checked later, in its batch): for collecting what further checks need (common/
  // evidence_verify.h). What it saw counts only if the report comes back ok.
  std::function<void(std::uint64_t index, const LogEntry& entry)> on_entry;
};

struct AuditReport {
  bool ok = false;
  // The first problem in log order: the entry's 0-based index, or -1 when the problem is not
  // one entry's (header, a checkpoint, a malformed or missing line, a saved checkpoint).
  std::int64_t bad_index = -1;
  std::uint64_t bad_line = 0;  // 1-based line of the file where it was found; 0 if none
  std::string error;           // e.g. "entry 17 (receipt by agent:host-42, command a-...): ..."

  std::string origin;
  std::string vkey;          // the key the export was checked against
  bool vkey_pinned = false;  // false: only the file's own key vouched for it
  // On success the whole log; on failure what had been read when verification stopped (which
  // can be past the bad entry: entries are read ahead of their signature checks).
  std::uint64_t tree_size = 0;
  std::string root_hex;  // RFC 6962 root at tree_size
  std::map<std::string, std::uint64_t> entries_by_type;
  std::uint64_t checkpoints = 0;          // checkpoint lines verified
  std::string latest_checkpoint;          // the newest verified checkpoint (signed note)
  std::uint64_t signatures_verified = 0;  // Ed25519 entry signatures checked
  std::uint64_t previous_checkpoints_checked = 0;
};

// Verifies the export at `path`. A Status error only when the check could not be made: the
// file cannot be read (NotFound when missing, else the errno text) or the options are unusable
// (InvalidArgument: a pinned key or saved checkpoint that does not parse). Everything the file
// gets wrong is a report with ok == false.
absl::StatusOr<AuditReport> verifyAuditExport(const std::string& path,
                                              const AuditVerifyOptions& options = {});

}  // namespace warden
