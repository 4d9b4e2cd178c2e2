#include "common/command.h"

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/canonical.h"
#include "common/status.h"

namespace warden {

bool knownCommandKind(const std::string& kind) {
  for (const char* k : {"isolate", "release", "block", "unblock", "sessions", "kill-sessions",
                        "lock-accounts", "unlock-accounts", "shutdown", "image", "collect"}) {
    if (kind == k) return true;
  }
  return false;
}

std::int64_t nowUnixMs() { return absl::ToUnixMillis(absl::Now()); }

std::string encodeCommand(const Command& c) {
  CanonicalWriter w("command");
  w.u64(c.version)
      .str(c.id)
      .str(c.host_id)
      .str(c.kind)
      .i64(c.issued_unix_ms)
      .i64(c.expires_unix_ms)
      .str(c.requested_by)
      .str(c.reason)
      .list(c.allow)
      .list(c.addresses)
      .list(c.args);
  return std::move(w).finish();
}

absl::StatusOr<Command> decodeCommand(std::string_view bytes) {
  auto r = CanonicalReader::open(bytes, "command");
  if (!r.ok()) return r.status();
  Command c;
  WARDEN_ASSIGN_OR_RETURN(c.version, r->u64());
  if (c.version != kCommandVersion) {
    return absl::InvalidArgumentError(absl::StrFormat("unsupported command version %d", c.version));
  }
  WARDEN_ASSIGN_OR_RETURN(c.id, r->str());
  WARDEN_ASSIGN_OR_RETURN(c.host_id, r->str());
  WARDEN_ASSIGN_OR_RETURN(c.kind, r->str());
  WARDEN_ASSIGN_OR_RETURN(c.issued_unix_ms, r->i64());
  WARDEN_ASSIGN_OR_RETURN(c.expires_unix_ms, r->i64());
  WARDEN_ASSIGN_OR_RETURN(c.requested_by, r->str());
  WARDEN_ASSIGN_OR_RETURN(c.reason, r->str());
  WARDEN_ASSIGN_OR_RETURN(c.allow, r->list());
  WARDEN_ASSIGN_OR_RETURN(c.addresses, r->list());
  WARDEN_ASSIGN_OR_RETURN(c.args, r->list());
  if (auto s = r->done(); !s.ok()) return s;
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
  }
  return "failed";
}

std::string encodeReceipt(const Receipt& r) {
  CanonicalWriter w("receipt");
  w.u64(r.version)
      .str(r.command_id)
      .str(r.host_id)
      .str(r.kind)
      .u64(static_cast<std::uint64_t>(r.status))
      .str(r.message)
      .i64(r.started_unix_ms)
      .i64(r.finished_unix_ms);
  std::vector<std::string> kv;
  for (const auto& [k, v] : r.details) {
    kv.push_back(k);
    kv.push_back(v);
  }
  w.list(kv);
  return std::move(w).finish();
}

absl::StatusOr<Receipt> decodeReceipt(std::string_view bytes) {
  auto rd = CanonicalReader::open(bytes, "receipt");
  if (!rd.ok()) return rd.status();
  Receipt r;
  WARDEN_ASSIGN_OR_RETURN(r.version, rd->u64());
  if (r.version != kReceiptVersion) {
    return absl::InvalidArgumentError(absl::StrFormat("unsupported receipt version %d", r.version));
  }
  WARDEN_ASSIGN_OR_RETURN(r.command_id, rd->str());
  WARDEN_ASSIGN_OR_RETURN(r.host_id, rd->str());
  WARDEN_ASSIGN_OR_RETURN(r.kind, rd->str());
  std::uint64_t status = 0;
  WARDEN_ASSIGN_OR_RETURN(status, rd->u64());
  if (status > static_cast<std::uint64_t>(ReceiptStatus::kRefused)) {
    return absl::InvalidArgumentError(absl::StrFormat("unknown receipt status %d", status));
  }
  r.status = static_cast<ReceiptStatus>(status);
  WARDEN_ASSIGN_OR_RETURN(r.message, rd->str());
  WARDEN_ASSIGN_OR_RETURN(r.started_unix_ms, rd->i64());
  WARDEN_ASSIGN_OR_RETURN(r.finished_unix_ms, rd->i64());
  std::vector<std::string> kv;
  WARDEN_ASSIGN_OR_RETURN(kv, rd->list());
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
  if (auto s = rd->done(); !s.ok()) return s;
  return r;
}

}  // namespace warden
