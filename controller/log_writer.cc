#include "controller/log_writer.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/command.h"
#include "common/log.h"

namespace warden {

absl::StatusOr<std::uint64_t> LogWriter::appendEntry(LogEntry e) {
  return log_->appendInOrder([&] {
    e.logged_unix_ms = std::max(nowUnixMs(), last_logged_ms_);
    last_logged_ms_ = e.logged_unix_ms;
    return encodeLogEntry(e);
  });
}

absl::StatusOr<ActionLog::Ticket> LogWriter::enqueueEntries(std::vector<LogEntry> entries,
                                                            std::uint64_t failures_seen) {
  return log_->enqueueInOrder(
      [&] {
        std::vector<std::string> out;
        out.reserve(entries.size());
        const std::int64_t now = std::max(nowUnixMs(), last_logged_ms_);
        last_logged_ms_ = now;
        for (LogEntry& e : entries) {
          e.logged_unix_ms = now;
          out.push_back(encodeLogEntry(e));
        }
        return out;
      },
      failures_seen);
}

void LogWriter::logRefusal(const std::string& actor, const std::string& host_id,
                           const std::string& ref, const std::string& detail) {
  LogEntry e;
  e.type = entry_type::kRefusal;
  e.actor = actor;
  e.host_id = host_id;
  e.ref = ref;
  e.detail = detail.substr(0, 4 * kMaxUntrustedText);
  if (auto s = appendEntry(e); !s.ok()) {
    logError("action log: cannot log refusal (%s): %s", e.detail, s.status().ToString());
  }
}

void LogWriter::logAnonymousRefusal(const std::string& host_id, const std::string& detail) {
  std::string text = detail.substr(0, kMaxUntrustedText);
  {
    std::lock_guard<std::mutex> lock(anonymous_mu_);
    const std::int64_t now = nowUnixMs();
    if (now - anonymous_window_start_ms_ >= 60000) {
      anonymous_window_start_ms_ = now;
      anonymous_in_window_ = 0;
    }
    if (++anonymous_in_window_ > kAnonymousRefusalsPerMinute) {
      ++anonymous_suppressed_;
      return;
    }
    if (anonymous_suppressed_ > 0) {
      text += absl::StrFormat(" (and %d similar refusals before it, not logged one by one)",
                              anonymous_suppressed_);
      anonymous_suppressed_ = 0;
    }
  }
  logRefusal("controller", host_id, "", text);
}

void LogWriter::recordEvent(const std::string& host_id, const std::string& kind,
                            const std::string& detail) {
  logInfo("host %s: %s: %s", host_id, kind, detail);
  auto s = keys_.registry->addEvent(HostEventRecord{host_id, kind, detail, nowUnixMs()});
  if (!s.ok()) logError("host %s: cannot record event: %s", host_id, s.ToString());
}

void LogWriter::recordLoggedEvent(const std::string& actor, const std::string& host_id,
                                  const std::string& kind, const std::string& detail,
                                  const std::string& ref) {
  recordEvent(host_id, kind, detail);
  LogEntry e;
  e.type = kind == "refusal" || kind == "bad-receipt" ? entry_type::kRefusal : entry_type::kEvent;
  e.actor = actor;
  e.host_id = host_id;
  e.ref = ref;
  e.detail = (kind + ": " + detail).substr(0, 16 * kMaxUntrustedText);
  if (auto s = appendEntry(e); !s.ok()) {
    logError("action log: cannot log %s event of %s: %s", kind, host_id, s.status().ToString());
  }
}

}  // namespace warden
