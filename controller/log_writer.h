// What the controller itself writes into the action log (controller/action_log.h is the
// storage): entries in time order, its refusals, and the events of hosts. Opening it writes the
// genesis of a new log and lets the registry catch up on receipts a crash left unstored
// (log_genesis.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/audit/log_entry.h"
#include "controller/action_log.h"
#include "controller/data_dir.h"

namespace warden {

// Untrusted text (a peer's words, an error about them) goes into the log cut to a few
// multiples of this.
inline constexpr std::size_t kMaxUntrustedText = 256;

// The controller's writer of the action log. Thread-safe.
class LogWriter {
 public:
  // Opens the action log in DIR/log; entries are at most `max_entry_bytes`. A new log starts
  // with everything needed to check it (the genesis): the log and command keys, every operator
  // and every host already enrolled. A crash part way through the genesis is finished on the
  // next start.
  static absl::StatusOr<std::unique_ptr<LogWriter>> open(const ControllerKeys& keys,
                                                         std::size_t max_entry_bytes);

  // The log itself, for reading: entries, checkpoints, proofs.
  ActionLog& log() { return *log_; }

  // Appends an entry, durable when this returns. Times never decrease along the log.
  absl::StatusOr<std::uint64_t> appendEntry(LogEntry e);
  // Places `entries` in the log now, in this order (ActionLog::enqueueInOrder): durable once
  // the ticket is waited for. Times never decrease along the log.
  absl::StatusOr<ActionLog::Ticket> enqueueEntries(std::vector<LogEntry> entries,
                                                   std::uint64_t failures_seen);
  // A refusal by the controller: logged (best effort: the refusal stands either way).
  void logRefusal(const std::string& actor, const std::string& host_id, const std::string& ref,
                  const std::string& detail);
  // A refusal of a caller who could not be identified. Anyone who can reach the port can
  // cause these, so they are rate-limited: past kAnonymousRefusalsPerMinute, they are counted
  // and the count goes into the next one logged.
  void logAnonymousRefusal(const std::string& host_id, const std::string& detail);
  // An event of a host, kept with the host in the registry (not in the log).
  void recordEvent(const std::string& host_id, const std::string& kind, const std::string& detail);
  // An event a host reported, or the controller noticed about a host: kept with the host and
  // in the action log.
  void recordLoggedEvent(const std::string& actor, const std::string& host_id,
                         const std::string& kind, const std::string& detail,
                         const std::string& ref = "");

 private:
  static constexpr int kAnonymousRefusalsPerMinute = 30;

  LogWriter(const ControllerKeys& keys, std::unique_ptr<ActionLog> log)
      : keys_(keys), log_(std::move(log)) {}
  absl::StatusOr<std::vector<LogEntry>> genesisEntries();
  absl::Status writeGenesis();
  absl::Status recoverReceipts();
  // The automation key's key entry, once per key: automated requests are checked against it.
  absl::Status logAutomationKey();

  const ControllerKeys& keys_;
  std::unique_ptr<ActionLog> log_;
  std::int64_t last_logged_ms_ = 0;  // only touched under ActionLog's queue lock
  std::mutex anonymous_mu_;
  std::int64_t anonymous_window_start_ms_ = 0;  // guarded by anonymous_mu_
  int anonymous_in_window_ = 0;
  std::uint64_t anonymous_suppressed_ = 0;
};

}  // namespace warden
