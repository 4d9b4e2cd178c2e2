// The lock-accounts / unlock-accounts actions over an AccountFiles (agent/os/accounts.h), so
// their rules run in unit tests against a fake; linux_os::makeAccountActions (accounts.h)
// wires them to the real files.
#pragma once

#include <memory>

#include "agent/actions/accounts.h"
#include "agent/os/accounts.h"
#include "agent/runtime/state_store.h"

namespace warden {

// The StateStore key holding a user's LockRecord (shadow_file.h) while Warden's lock is on.
std::string accountLockKey(const std::string& user);

std::unique_ptr<AccountActions> makeAccountActions(std::unique_ptr<AccountFiles> files,
                                                   StateStore& state);

}  // namespace warden
