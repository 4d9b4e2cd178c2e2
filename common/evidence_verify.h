// Forwarding header: evidence verification now lives in common/audit/evidence_verifier.h.
// Include that directly; this one goes once nothing outside common/ includes it.
#pragma once

#include "common/audit.h"
#include "common/audit/evidence_verifier.h"
