// revoke-keys / restore-keys: cutting off SSH keys an attacker planted. Arguments (CLI contract
// in DESIGN.md):
//   revoke-keys   user=NAME (repeatable: every key in that user's key files),
//                 fingerprint=SHA256:... (repeatable: that key in every key file), dry_run=1
//   restore-keys  none: puts back everything Warden revoked
// Every file sshd reads for a user (sshd_config's AuthorizedKeysFile, default
// .ssh/authorized_keys and .ssh/authorized_keys2) is found and parsed before anything changes;
// a file that does not parse, or that is reached through a link, refuses the whole action and
// nothing changes. The selected lines are removed with the shadow-file discipline (the file's
// original bytes recorded in the StateStore first, then an atomic replace with the same owner
// and mode), and the keys are appended to Warden's RevokedKeys file, so sshd refuses them
// wherever else they are (when sshd_config names that file). restore-keys gives back each file
// byte for byte when nobody changed it since, else puts the removed lines back at its end, and
// takes Warden's keys out of the RevokedKeys file (never deletes it: sshd refuses every key
// when its RevokedKeys file is unreadable).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/actions/outcome.h"
#include "agent/os/owned_files.h"
#include "agent/runtime/state_store.h"

namespace warden {

struct SshKeyPaths {
  std::string etc_dir = "/etc";  // passwd, ssh/sshd_config (Include paths under /etc map here)
  std::string revoked_keys = "/etc/ssh/warden_revoked_keys";
};

class SshKeyActions {
 public:
  virtual ~SshKeyActions() = default;
  // details[kResultDetail] = base64(v1::SshKeyReport)
  virtual ActionOutcome revoke(const std::vector<std::string>& args) = 0;
  virtual ActionOutcome restore(const std::vector<std::string>& args) = 0;
};

// The StateStore key holding what restore-keys needs.
inline constexpr char kKeyRevocationKey[] = "ssh_keys/revocation";

std::unique_ptr<SshKeyActions> makeSshKeyActions(std::unique_ptr<OwnedFiles> files,
                                                 StateStore& state, SshKeyPaths paths = {});

}  // namespace warden
