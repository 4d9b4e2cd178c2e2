// The action log's export file: every entry of the log, in order, with the signed checkpoints
// interleaved where the tree reached their size, so an auditor can re-check the whole log
// offline (common/audit/export_verifier.h) with nothing but the file and the log's verifier key.
//
// Line-based text, one record per '\n'-terminated line:
//
//   warden-audit-export 1
//   origin <origin>                       checkpoint origin = the note key name
//   vkey <note verifier key>              C2SP signed-note verifier key of the log
//   entry <base64(canonical LogEntry bytes)>        one per entry, in log order
//   checkpoint <base64(whole signed note)>          right after the entry that brings the tree
//                                                   to the checkpoint's size (before any entry
//                                                   for size 0)
//   end <number of entries>
//
// base64 is RFC 4648 §4, padded. The last checkpoint covers every entry; `end` makes a
// truncated file detectable. Identical consecutive checkpoints (an idle log re-signs the same
// note) are written once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

inline constexpr char kAuditExportMagic[] = "warden-audit-export 1";
// Longest line a reader accepts: an entry of the controller's largest size (1 MiB), base64'd,
// with room to spare. Bounds what an export file can make the verifier hold.
inline constexpr std::size_t kAuditExportMaxLine = 8 << 20;

// The size of a signed checkpoint note, read without checking its signature (for ordering).
absl::StatusOr<std::uint64_t> checkpointSize(std::string_view signed_note);

}  // namespace warden
