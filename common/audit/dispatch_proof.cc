#include "common/audit/dispatch_proof.h"

#include "absl/strings/str_format.h"
#include "common/audit/log_entry.h"
#include "common/merkle.h"
#include "common/note.h"

namespace warden {

absl::Status verifyDispatchProof(std::string_view log_vkey, std::string_view command,
                                 std::string_view signature, const DispatchProof& proof) {
  if (proof.checkpoint.empty()) {
    return absl::FailedPreconditionError("the command carries no log checkpoint");
  }
  auto verifier = note::parseVerifierKey(log_vkey);
  if (!verifier.ok()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the pinned log key is unusable: %s", verifier.status().message()));
  }
  auto opened = note::openNote(proof.checkpoint, {*verifier});
  if (!opened.ok()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "the checkpoint is not signed by the pinned log key: %s", opened.status().message()));
  }
  auto cp = note::parseCheckpoint(opened->text);
  if (!cp.ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the checkpoint does not parse: %s", cp.status().message()));
  }
  if (cp->origin != verifier->name) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the checkpoint is for log '%s', not '%s'", cp->origin, verifier->name));
  }
  auto entry = decodeLogEntry(proof.entry);
  if (!entry.ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the log entry does not decode: %s", entry.status().message()));
  }
  if (entry->type != entry_type::kDispatch || entry->body != command ||
      entry->signature != signature) {
    return absl::PermissionDeniedError("the log entry is not this command's dispatch");
  }
  if (proof.index >= cp->size) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "entry %d is outside the checkpoint's tree of %d entries", proof.index, cp->size));
  }
  if (auto s = merkle::verifyInclusion(proof.index, cp->size, merkle::leafHash(proof.entry),
                                       proof.proof, cp->root_hash);
      !s.ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the inclusion proof does not verify: %s", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace warden
