// The agent's durable state in its state directory (0700):
//   tls.key tls.crt ca.pem receipt.key   identity (keys 0600); tls.next.key and tls.next.crt
//                                        only while a renewed certificate is being stored
//                                        (cert_renewal.h)
//   agent.db                             SQLite: settings, containment state, receipts,
//                                        commands started but not yet answered
// Containment state is what `warden-agent restore` re-applies at boot; receipts make commands
// idempotent (a re-delivered command gets its first receipt back, never a second execution).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/os/firewall.h"
#include "common/sqlite.h"

namespace warden {

struct StoredReceipt {
  std::string receipt;
  std::string signature;
};

// A command the agent was about to act on (recorded before its first side effect).
struct StartedCommand {
  std::string kind;
  std::int64_t started_unix_ms = 0;
};

class StateStore {
 public:
  static absl::StatusOr<std::unique_ptr<StateStore>> open(const std::string& state_dir);
  const std::string& dir() const { return dir_; }
  std::string path(const char* name) const { return dir_ + "/" + name; }

  absl::Status set(const std::string& key, const std::string& value);
  absl::StatusOr<std::string> get(const std::string& key);
  std::string getOr(const std::string& key, const std::string& fallback);

  absl::Status saveContainment(const ContainmentState& state);
  // The containment state and `settings` (key, value) in one transaction: a crash leaves all
  // old or all new (an isolation and its deadline; a release and its record).
  absl::Status saveContainmentWith(
      const ContainmentState& state,
      const std::vector<std::pair<std::string, std::string>>& settings);
  absl::StatusOr<ContainmentState> loadContainment();

  absl::Status saveReceipt(const std::string& command_id, const StoredReceipt& r);
  absl::StatusOr<std::optional<StoredReceipt>> findReceipt(const std::string& command_id);

  // Execute once across a crash: a command is marked before it acts; its receipt clears the
  // mark. A mark without a receipt after a restart means it was interrupted part way.
  absl::Status markStarted(const std::string& command_id, const std::string& kind,
                           std::int64_t at_unix_ms);
  absl::StatusOr<std::optional<StartedCommand>> findStarted(const std::string& command_id);

 private:
  StateStore(std::string dir, std::unique_ptr<Database> db)
      : dir_(std::move(dir)), db_(std::move(db)) {}
  std::string dir_;
  std::unique_ptr<Database> db_;
  // One statement or transaction at a time on the shared connection.
  std::recursive_mutex mu_;
};

// Canonical bytes of a containment state (persisted; also digested into receipts).
std::string encodeContainment(const ContainmentState& state);
absl::StatusOr<ContainmentState> decodeContainment(std::string_view bytes);

}  // namespace warden
