// Running test code where its mounts cannot be seen by the machine.
#pragma once

#include <functional>
#include <string>

#include "absl/time/time.h"

namespace warden::testing {

// Runs `body` in a forked child inside a private mount namespace (unshare(CLONE_NEWNS), then
// "/" made private), so whatever it mounts is never seen by the machine and goes away with the
// child. Returns what `body` returned; "set-up failed: ..." when the namespace could not be
// made; "timed out: ..." (the child killed) when no answer came within `timeout` — a mount that
// stops answering (FUSE) can block the child in the kernel.
std::string runInPrivateMountNamespace(const std::function<std::string()>& body,
                                       absl::Duration timeout = absl::Seconds(60));

}  // namespace warden::testing
