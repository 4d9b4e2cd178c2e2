// Composes the Linux session, account and power actions behind HostActions.
#include "agent/actions/host_actions.h"

#include "agent/actions/accounts.h"
#include "agent/actions/power.h"
#include "agent/actions/sessions.h"
#include "agent/actions/ssh_keys.h"

namespace warden::linux_os {
namespace {

class LinuxHostActions : public HostActions {
 public:
  LinuxHostActions(StateStore& state, pid_t agent_pid)
      : sessions_(makeSessionActions(agent_pid)),
        accounts_(makeAccountActions(state)),
        power_(makePowerActions()),
        keys_(makeSshKeyActions(makeOwnedFiles(), state)) {}
  ActionOutcome listSessions() override { return sessions_->list(); }
  ActionOutcome killSessions(const std::vector<std::string>& args) override {
    return sessions_->kill(args);
  }
  ActionOutcome lockAccounts(const std::vector<std::string>& args) override {
    return accounts_->lock(args);
  }
  ActionOutcome unlockAccounts(const std::vector<std::string>& args) override {
    return accounts_->unlock(args);
  }
  ActionOutcome revokeKeys(const std::vector<std::string>& args) override {
    return keys_->revoke(args);
  }
  ActionOutcome restoreKeys(const std::vector<std::string>& args) override {
    return keys_->restore(args);
  }
  ActionOutcome shutdown(const std::vector<std::string>& args) override {
    return power_->shutdown(args);
  }

 private:
  std::unique_ptr<SessionActions> sessions_;
  std::unique_ptr<AccountActions> accounts_;
  std::unique_ptr<PowerActions> power_;
  std::unique_ptr<SshKeyActions> keys_;
};

}  // namespace

std::unique_ptr<HostActions> makeHostActions(StateStore& state, pid_t agent_pid) {
  return std::make_unique<LinuxHostActions>(state, agent_pid);
}

}  // namespace warden::linux_os
