// revoke-keys / restore-keys: cutting off SSH keys an attacker planted. Arguments (CLI contract
// in DESIGN.md):
//   revoke-keys   user=NAME (repeatable: every key in that account's own key files),
//                 fingerprint=SHA256:... (repeatable: that key in every account's key files,
//                 and refused everywhere through Warden's RevokedKeys KRL), dry_run=1
//   restore-keys  none: undoes everything Warden revoked
// Every file sshd may read for an account (sshd_config's AuthorizedKeysFile, in Match blocks
// too; default .ssh/authorized_keys and .ssh/authorized_keys2) is found and parsed before
// anything changes. A file Warden may not edit safely (reached through a link, owned by someone
// else, on another mount, hard-linked, too large) or holding lines that are not keys sshd takes
// is left exactly as it is and named in the receipt; the action then fails (exit 1) unless the
// KRL, enforced by sshd, refuses its keys anyway. Each edit records the file's original bytes
// in the StateStore first (ssh_key_record.h), then replaces it atomically with the same owner
// and mode. The KRL is written only from Warden's own record of fingerprints, never from bytes
// a host account wrote. A --user key that other accounts also accept is reported, not refused
// there. restore-keys gives back each file byte for byte when nobody changed it since, else
// puts the removed lines back at its end, and empties Warden's KRL (never deletes it: sshd
// refuses every key when its RevokedKeys file is unreadable).
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

std::unique_ptr<SshKeyActions> makeSshKeyActions(std::unique_ptr<OwnedFiles> files,
                                                 StateStore& state, SshKeyPaths paths = {});

}  // namespace warden
