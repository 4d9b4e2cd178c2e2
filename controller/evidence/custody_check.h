// Re-checking a complete evidence item's chain of custody, as `warden evidence verify` asks:
// the stored bytes re-read now, its read-only state, the agent's signed manifest, the agent's
// signed receipt of the action, and the action log's RECEIPT entry that carries that receipt.
#pragma once

#include "controller/action_log.h"
#include "controller/evidence/store.h"
#include "controller/registry.h"
#include "warden/v1/operator.pb.h"

namespace warden {

// Adds one check per link to `resp` (name, pass or fail, what was found) and sets its
// receipt_log_index (-1 when no RECEIPT entry carries the receipt). True when every check
// passes.
bool checkCustody(const StoredEvidence& item, const EvidenceStore& store, Registry& registry,
                  const ActionLog& log, v1::VerifyEvidenceResponse* resp);

}  // namespace warden
