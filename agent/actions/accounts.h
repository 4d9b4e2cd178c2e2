// Account locks and root password rotation on /etc/shadow and /etc/passwd. Arguments: see
// host_actions.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/actions/outcome.h"
#include "agent/runtime/state_store.h"

namespace warden {

class AccountActions {
 public:
  virtual ~AccountActions() = default;
  // details[kResultDetail] = base64(v1::AccountReport)
  virtual ActionOutcome lock(const std::vector<std::string>& args) = 0;
  virtual ActionOutcome unlock(const std::vector<std::string>& args) = 0;
};

namespace linux_os {
// `etc_dir` holds passwd, shadow, login.defs ("/etc" on a host). Previous values for an exact
// unlock are kept in `state`.
std::unique_ptr<AccountActions> makeAccountActions(StateStore& state,
                                                   const std::string& etc_dir = "/etc");
}  // namespace linux_os

}  // namespace warden
