// Forwarding header: the offline verifier now lives in common/audit/ (export_verifier.h, with
// its rules in common/audit/verify/). Include that directly; this one goes once nothing outside
// common/ includes it.
#pragma once

#include "common/audit.h"
#include "common/audit/export_verifier.h"
