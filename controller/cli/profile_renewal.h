// An operator's certificate, renewed over the channel before it expires (DESIGN.md "The hostile
// host"): every verb renews the profile's certificate first once the last third of its lifetime
// (or its last 30 days) has begun, with a note on stderr; `warden operator renew` does it now.
// A fresh TLS key and its CSR, signed with the profile's signing key over a controller
// challenge (controller/renewal/); the profile file is rewritten atomically with the mode it had,
// under a lock on its directory so that two `warden` processes never both renew it.
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/cli/client.h"

namespace warden::cli {

struct ProfileRenewal {
  absl::Time not_after;
  std::uint64_t log_index = 0;
};

// Renews the certificate of `c`'s profile when due (or at once with `force`), rewrites the
// profile file and reconnects `c` with it. nullopt when nothing was due.
absl::StatusOr<std::optional<ProfileRenewal>> renewProfile(Client& c, bool force);

// renewProfile(c, false) for a verb about to run: says on stderr what it did or why it could
// not; never stops the verb (its certificate still works until it expires).
void renewProfileIfDue(Client& c);

// `warden operator renew`.
int operatorRenew(const Globals& g);

}  // namespace warden::cli
