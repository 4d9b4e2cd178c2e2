// What revoke-keys keeps on the host (in the StateStore) so that restore-keys can undo it:
// every key file it edited, with the bytes from before its first edit, and the fingerprints it
// put into Warden's RevokedKeys KRL. Canonical encoding (common/canonical.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace warden {

// The StateStore key holding the encoded KeyRevocation ("" once everything was restored).
inline constexpr char kKeyRevocationKey[] = "ssh_keys/revocation";

struct KeyFileRecord {
  std::string path;
  std::string user;
  std::string home;  // the account's home directory then: where the safe walk starts
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::uint64_t mode = 0;
  std::string original;        // the bytes before Warden's first edit
  std::string written_sha256;  // hex SHA-256 of what Warden last wrote
  // The file had changed since Warden's last edit when it edited it again: `original` is no
  // longer the file minus Warden's edits, so restore only puts the removed lines back.
  bool merge_only = false;
  std::vector<std::string> removed;  // the exact lines taken out, in the order taken
};

struct KeyRevocation {
  std::vector<KeyFileRecord> files;
  std::vector<std::string> fingerprints;  // in the RevokedKeys KRL, sorted
  std::uint64_t krl_version = 0;          // of the KRL last written
  bool empty() const { return files.empty() && fingerprints.empty(); }
};

std::string encodeKeyRevocation(const KeyRevocation& r);
absl::StatusOr<KeyRevocation> decodeKeyRevocation(std::string_view bytes);

}  // namespace warden
