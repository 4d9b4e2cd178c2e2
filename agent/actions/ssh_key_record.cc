#include "agent/actions/ssh_key_record.h"

#include "common/canonical.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr std::uint64_t kVersion = 1;

std::string encodeFile(const KeyFileRecord& f) {
  return canonicalRecord("ssh-key-file", kVersion, f.path, f.user, f.home, f.uid, f.gid, f.mode,
                         f.original, f.written_sha256, std::uint64_t{f.merge_only ? 1u : 0u},
                         f.removed);
}

absl::StatusOr<KeyFileRecord> decodeFile(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "ssh-key-file"));
  std::uint64_t version = 0, merge_only = 0;
  WARDEN_RETURN_IF_ERROR(r.version(version, kVersion, "ssh key file record"));
  KeyFileRecord f;
  WARDEN_RETURN_IF_ERROR(r.fields(f.path, f.user, f.home, f.uid, f.gid, f.mode, f.original,
                                  f.written_sha256, merge_only, f.removed));
  WARDEN_RETURN_IF_ERROR(r.done());
  f.merge_only = merge_only != 0;
  return f;
}

}  // namespace

std::string encodeKeyRevocation(const KeyRevocation& r) {
  std::vector<std::string> files;
  files.reserve(r.files.size());
  for (const KeyFileRecord& f : r.files) files.push_back(encodeFile(f));
  return canonicalRecord("ssh-key-revocation", kVersion, files, r.fingerprints, r.krl_version);
}

absl::StatusOr<KeyRevocation> decodeKeyRevocation(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "ssh-key-revocation"));
  std::uint64_t version = 0;
  WARDEN_RETURN_IF_ERROR(r.version(version, kVersion, "ssh key revocation record"));
  std::vector<std::string> files;
  KeyRevocation out;
  WARDEN_RETURN_IF_ERROR(r.fields(files, out.fingerprints, out.krl_version));
  WARDEN_RETURN_IF_ERROR(r.done());
  for (const std::string& f : files) {
    WARDEN_ASSIGN_OR_RETURN(KeyFileRecord file, decodeFile(f));
    out.files.push_back(std::move(file));
  }
  return out;
}

}  // namespace warden
