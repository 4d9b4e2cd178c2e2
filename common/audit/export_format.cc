#include "common/audit/export_format.h"

#include "common/note.h"
#include "common/status.h"

namespace warden {

absl::StatusOr<std::uint64_t> checkpointSize(std::string_view signed_note) {
  WARDEN_ASSIGN_OR_RETURN(note::Checkpoint cp, note::parseSignedCheckpoint(signed_note));
  return cp.size;
}

}  // namespace warden
