#include "common/audit/request.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/canonical.h"
#include "common/crypto/encoding.h"
#include "common/status.h"

namespace warden {

std::string encodeRequest(const Request& q) {
  // A version 1 request (decoded from an older log) is written back as it was signed.
  if (q.version == 1) {
    return canonicalRecord("request", q.version, q.id, q.operator_name, q.kind, q.hosts,
                           std::uint64_t{q.all_hosts ? 1u : 0u}, q.allow, q.addresses, q.args,
                           q.reason, q.issued_unix_ms);
  }
  return canonicalRecord("request", q.version, q.id, q.operator_name, q.kind, q.hosts,
                         std::uint64_t{q.all_hosts ? 1u : 0u}, q.allow, q.addresses, q.args,
                         q.reason, q.issued_unix_ms, q.incident);
}

absl::StatusOr<Request> decodeRequest(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "request"));
  Request q;
  WARDEN_ASSIGN_OR_RETURN(q.version, r.u64());
  if (q.version != 1 && q.version != kRequestVersion) {
    return absl::InvalidArgumentError(absl::StrFormat("unsupported request version %d", q.version));
  }
  WARDEN_RETURN_IF_ERROR(r.fields(q.id, q.operator_name, q.kind, q.hosts));
  std::uint64_t all = 0;
  WARDEN_ASSIGN_OR_RETURN(all, r.u64());
  if (all > 1) return absl::InvalidArgumentError("request all_hosts is not 0 or 1");
  q.all_hosts = all == 1;
  WARDEN_RETURN_IF_ERROR(r.fields(q.allow, q.addresses, q.args, q.reason, q.issued_unix_ms));
  if (q.version >= 2) WARDEN_RETURN_IF_ERROR(r.fields(q.incident));
  WARDEN_RETURN_IF_ERROR(r.done());
  return q;
}

absl::StatusOr<OperatorChange> operatorChangeOf(const Request& r) {
  OperatorChange c;
  if (r.kind != kAddOperatorKind && r.kind != kRevokeOperatorKind) {
    return absl::InvalidArgumentError(
        absl::StrFormat("request kind '%s' is not an operator change", r.kind));
  }
  c.revoke = r.kind == kRevokeOperatorKind;
  if (!r.hosts.empty() || r.all_hosts || !r.allow.empty() || !r.addresses.empty()) {
    return absl::InvalidArgumentError("an operator change names no hosts or addresses");
  }
  std::vector<std::string> seen;
  for (const auto& a : r.args) {
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (eq == std::string::npos || value.empty() ||
        std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return absl::InvalidArgumentError(absl::StrFormat("bad operator change argument '%s'", a));
    }
    seen.push_back(key);
    if (key == "name") {
      c.name = value;
    } else if (key == "role" && !c.revoke) {
      c.role = value;
    } else if (key == "signing_key" && !c.revoke) {
      auto raw = crypto::unhex(value);
      if (!raw.ok() || raw->size() != 32) {
        return absl::InvalidArgumentError("signing_key must be 64 hex digits (Ed25519)");
      }
      c.signing_key = *raw;
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("bad operator change argument '%s'", a));
    }
  }
  if (c.name.empty()) return absl::InvalidArgumentError("the operator change names no operator");
  if (!c.revoke && c.role != "admin" && c.role != "responder" && c.role != "auditor") {
    return absl::InvalidArgumentError(absl::StrFormat("invalid role '%s'", c.role));
  }
  if (!c.revoke && c.signing_key.empty()) {
    return absl::InvalidArgumentError("adding an operator needs their signing_key");
  }
  return c;
}

std::vector<std::string> operatorChangeArgs(const OperatorChange& c) {
  if (c.revoke) return {"name=" + c.name};
  return {"name=" + c.name, "role=" + c.role, "signing_key=" + crypto::hex(c.signing_key)};
}

}  // namespace warden
