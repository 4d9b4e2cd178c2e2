#include "common/audit/log_entry.h"

#include "common/canonical.h"
#include "common/status.h"

namespace warden {

std::string encodeLogEntry(const LogEntry& e) {
  return canonicalRecord("log-entry", e.version, e.type, e.logged_unix_ms, e.actor, e.host_id,
                         e.ref, e.body, e.signature, e.detail);
}

absl::StatusOr<LogEntry> decodeLogEntry(std::string_view bytes) {
  LogEntry e;
  WARDEN_RETURN_IF_ERROR(readCanonicalRecord(bytes, "log-entry", "log entry", kLogEntryVersion,
                                             e.version, e.type, e.logged_unix_ms, e.actor,
                                             e.host_id, e.ref, e.body, e.signature, e.detail));
  return e;
}

}  // namespace warden
