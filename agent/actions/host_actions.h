// Host actions beyond the firewall: login sessions, accounts, power. Each takes the command's
// arguments ("key=value" strings, as signed by the controller) and returns an outcome for the
// receipt. Arguments (CLI contract in DESIGN.md):
//   kill-sessions   user=NAME session=ID tty=TTY from=CIDR pid=PID (each repeatable; a process
//                   is selected when it matches ANY of them), except=USER (repeatable),
//                   dry_run=1
//   lock-accounts   user=NAME (repeatable) | all=1, except=NAME (repeatable), rotate_root=1,
//                   recipient=BASE64 (the CLI's one-time X25519 public key, with rotate_root)
//   unlock-accounts user=NAME (repeatable) | all=1
//   shutdown        mode=poweroff|reboot|halt, now=1|0
//   revoke-keys     user=NAME, fingerprint=SHA256:... (each repeatable), dry_run=1
//   restore-keys    none (ssh_keys.h)
// Bad input the controller cannot know about (an unknown user, a session id that does not
// exist) fails with details["error"] = "invalid-argument" and changes nothing; the CLI exits 2.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/actions/outcome.h"
#include "agent/runtime/state_store.h"

namespace warden {

class HostActions {
 public:
  virtual ~HostActions() = default;
  virtual ActionOutcome listSessions() = 0;
  virtual ActionOutcome killSessions(const std::vector<std::string>& args) = 0;
  virtual ActionOutcome lockAccounts(const std::vector<std::string>& args) = 0;
  virtual ActionOutcome unlockAccounts(const std::vector<std::string>& args) = 0;
  virtual ActionOutcome revokeKeys(const std::vector<std::string>& args) = 0;
  virtual ActionOutcome restoreKeys(const std::vector<std::string>& args) = 0;
  // Returns at once; the power-off itself is in outcome.after_ack.
  virtual ActionOutcome shutdown(const std::vector<std::string>& args) = 0;
};

namespace linux_os {
// Sessions from procfs and utmp, accounts in /etc/shadow and /etc/passwd (previous values
// kept in `state` for an exact unlock), SSH keys in the files sshd reads, power through reboot(2)
// or the init system. `agent_pid` and its descendants are never killed.
std::unique_ptr<HostActions> makeHostActions(StateStore& state, pid_t agent_pid);
}  // namespace linux_os

}  // namespace warden
