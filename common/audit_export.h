// Forwarding header: the export file's format and writer now live in common/audit/
// (export_format.h, merkle_frontier.h, export_writer.h). Include those directly; this one goes
// once nothing outside common/ includes it.
#pragma once

#include "common/audit/export_format.h"
#include "common/audit/export_writer.h"
#include "common/audit/merkle_frontier.h"
