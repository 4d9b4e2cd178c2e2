// Forwarding header: the action log's entries now live in common/audit/ (log_entry.h,
// request.h, key_record.h, dispatch_proof.h). Include those directly; this one goes once
// nothing outside common/ includes it. It still gives what it gave before (note.h, crypto).
#pragma once

#include "common/audit/dispatch_proof.h"
#include "common/audit/key_record.h"
#include "common/audit/log_entry.h"
#include "common/audit/request.h"
#include "common/crypto.h"
#include "common/note.h"
