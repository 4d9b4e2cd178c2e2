#include "common/command.h"

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/canonical.h"
#include "common/status.h"

namespace warden {

bool knownCommandKind(const std::string& kind) {
  for (const char* k :
       {"isolate", "release", "block", "unblock", "sessions", "kill-sessions", "lock-accounts",
        "unlock-accounts", "revoke-keys", "restore-keys", "shutdown", "image", "collect"}) {
    if (kind == k) return true;
  }
  return false;
}

std::int64_t nowUnixMs() { return absl::ToUnixMillis(absl::Now()); }

std::string encodeCommand(const Command& c) {
  if (c.version == 1) {
    return canonicalRecord("command", c.version, c.id, c.host_id, c.kind, c.issued_unix_ms,
                           c.expires_unix_ms, c.requested_by, c.reason, c.allow, c.addresses,
                           c.args);
  }
  return canonicalRecord("command", c.version, c.id, c.host_id, c.kind, c.issued_unix_ms,
                         c.expires_unix_ms, c.requested_by, c.incident, c.allow, c.addresses,
                         c.args);
}

absl::StatusOr<Command> decodeCommand(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "command"));
  Command c;
  WARDEN_ASSIGN_OR_RETURN(c.version, r.u64());
  if (c.version != 1 && c.version != kCommandVersion) {
    return absl::InvalidArgumentError(absl::StrFormat("unsupported command version %d", c.version));
  }
  WARDEN_RETURN_IF_ERROR(r.fields(c.id, c.host_id, c.kind, c.issued_unix_ms, c.expires_unix_ms,
                                  c.requested_by, c.version == 1 ? c.reason : c.incident, c.allow,
                                  c.addresses, c.args));
  WARDEN_RETURN_IF_ERROR(r.done());
  return c;
}

std::string_view receiptStatusName(ReceiptStatus s) {
  switch (s) {
    case ReceiptStatus::kSucceeded:
      return "succeeded";
    case ReceiptStatus::kFailed:
      return "failed";
    case ReceiptStatus::kRefused:
      return "refused";
    case ReceiptStatus::kInterrupted:
      return "interrupted";
  }
  return "failed";
}

std::string encodeReceipt(const Receipt& r) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : r.details) {
    kv.push_back(k);
    kv.push_back(v);
  }
  return canonicalRecord("receipt", r.version, r.command_id, r.host_id, r.kind,
                         static_cast<std::uint64_t>(r.status), r.message, r.started_unix_ms,
                         r.finished_unix_ms, kv);
}

absl::StatusOr<Receipt> decodeReceipt(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader rd, CanonicalReader::open(bytes, "receipt"));
  Receipt r;
  WARDEN_RETURN_IF_ERROR(rd.version(r.version, kReceiptVersion, "receipt"));
  WARDEN_RETURN_IF_ERROR(rd.fields(r.command_id, r.host_id, r.kind));
  std::uint64_t status = 0;
  WARDEN_ASSIGN_OR_RETURN(status, rd.u64());
  if (status > static_cast<std::uint64_t>(ReceiptStatus::kInterrupted)) {
    return absl::InvalidArgumentError(absl::StrFormat("unknown receipt status %d", status));
  }
  r.status = static_cast<ReceiptStatus>(status);
  std::vector<std::string> kv;
  WARDEN_RETURN_IF_ERROR(rd.fields(r.message, r.started_unix_ms, r.finished_unix_ms, kv));
  if (kv.size() % 2 != 0)
    return absl::InvalidArgumentError("receipt details are not key/value pairs");
  for (std::size_t i = 0; i < kv.size(); i += 2) {
    // Keys strictly increasing, as encodeReceipt writes them: one receipt, one encoding.
    if (i > 0 && kv[i] == kv[i - 2]) {
      return absl::InvalidArgumentError("receipt details repeat a key");
    }
    if (i > 0 && kv[i] < kv[i - 2]) {
      return absl::InvalidArgumentError("receipt details are not sorted by key");
    }
    r.details.emplace(kv[i], kv[i + 1]);
  }
  WARDEN_RETURN_IF_ERROR(rd.done());
  return r;
}

}  // namespace warden
