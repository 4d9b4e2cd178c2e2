#include "common/audit.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/canonical.h"
#include "common/crypto.h"
#include "common/merkle.h"
#include "common/status.h"

namespace warden {

std::string encodeLogEntry(const LogEntry& e) {
  CanonicalWriter w("log-entry");
  w.u64(e.version)
      .str(e.type)
      .i64(e.logged_unix_ms)
      .str(e.actor)
      .str(e.host_id)
      .str(e.ref)
      .str(e.body)
      .str(e.signature)
      .str(e.detail);
  return std::move(w).finish();
}

absl::StatusOr<LogEntry> decodeLogEntry(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "log-entry"));
  LogEntry e;
  WARDEN_ASSIGN_OR_RETURN(e.version, r.u64());
  if (e.version != kLogEntryVersion) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unsupported log entry version %d", e.version));
  }
  WARDEN_ASSIGN_OR_RETURN(e.type, r.str());
  WARDEN_ASSIGN_OR_RETURN(e.logged_unix_ms, r.i64());
  WARDEN_ASSIGN_OR_RETURN(e.actor, r.str());
  WARDEN_ASSIGN_OR_RETURN(e.host_id, r.str());
  WARDEN_ASSIGN_OR_RETURN(e.ref, r.str());
  WARDEN_ASSIGN_OR_RETURN(e.body, r.str());
  WARDEN_ASSIGN_OR_RETURN(e.signature, r.str());
  WARDEN_ASSIGN_OR_RETURN(e.detail, r.str());
  WARDEN_RETURN_IF_ERROR(r.done());
  return e;
}

std::string encodeRequest(const Request& q) {
  CanonicalWriter w("request");
  w.u64(q.version)
      .str(q.id)
      .str(q.operator_name)
      .str(q.kind)
      .list(q.hosts)
      .u64(q.all_hosts ? 1 : 0)
      .list(q.allow)
      .list(q.addresses)
      .list(q.args)
      .str(q.reason)
      .i64(q.issued_unix_ms);
  return std::move(w).finish();
}

absl::StatusOr<Request> decodeRequest(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "request"));
  Request q;
  WARDEN_ASSIGN_OR_RETURN(q.version, r.u64());
  if (q.version != kRequestVersion) {
    return absl::InvalidArgumentError(absl::StrFormat("unsupported request version %d", q.version));
  }
  WARDEN_ASSIGN_OR_RETURN(q.id, r.str());
  WARDEN_ASSIGN_OR_RETURN(q.operator_name, r.str());
  WARDEN_ASSIGN_OR_RETURN(q.kind, r.str());
  WARDEN_ASSIGN_OR_RETURN(q.hosts, r.list());
  std::uint64_t all = 0;
  WARDEN_ASSIGN_OR_RETURN(all, r.u64());
  if (all > 1) return absl::InvalidArgumentError("request all_hosts is not 0 or 1");
  q.all_hosts = all == 1;
  WARDEN_ASSIGN_OR_RETURN(q.allow, r.list());
  WARDEN_ASSIGN_OR_RETURN(q.addresses, r.list());
  WARDEN_ASSIGN_OR_RETURN(q.args, r.list());
  WARDEN_ASSIGN_OR_RETURN(q.reason, r.str());
  WARDEN_ASSIGN_OR_RETURN(q.issued_unix_ms, r.i64());
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

std::string encodeKeyRecord(const KeyRecord& k) {
  CanonicalWriter w("key");
  w.u64(k.version)
      .str(k.purpose)
      .str(k.subject)
      .str(k.role)
      .str(k.public_key)
      .str(k.cert_fingerprint);
  return std::move(w).finish();
}

absl::StatusOr<KeyRecord> decodeKeyRecord(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "key"));
  KeyRecord k;
  WARDEN_ASSIGN_OR_RETURN(k.version, r.u64());
  if (k.version != kKeyRecordVersion) {
    return absl::InvalidArgumentError(
        absl::StrFormat("unsupported key record version %d", k.version));
  }
  WARDEN_ASSIGN_OR_RETURN(k.purpose, r.str());
  WARDEN_ASSIGN_OR_RETURN(k.subject, r.str());
  WARDEN_ASSIGN_OR_RETURN(k.role, r.str());
  WARDEN_ASSIGN_OR_RETURN(k.public_key, r.str());
  WARDEN_ASSIGN_OR_RETURN(k.cert_fingerprint, r.str());
  WARDEN_RETURN_IF_ERROR(r.done());
  return k;
}

absl::Status verifyDispatchProof(std::string_view log_vkey, std::string_view command,
                                 std::string_view signature, const DispatchProof& proof) {
  if (proof.checkpoint.empty()) {
    return absl::FailedPreconditionError("the command carries no log checkpoint");
  }
  auto verifier = note::parseVerifierKey(log_vkey);
  if (!verifier.ok()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the pinned log key is unusable: %s", verifier.status().message()));
  }
  auto opened = note::openNote(proof.checkpoint, {*verifier});
  if (!opened.ok()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "the checkpoint is not signed by the pinned log key: %s", opened.status().message()));
  }
  auto cp = note::parseCheckpoint(opened->text);
  if (!cp.ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the checkpoint does not parse: %s", cp.status().message()));
  }
  if (cp->origin != verifier->name) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the checkpoint is for log '%s', not '%s'", cp->origin, verifier->name));
  }
  auto entry = decodeLogEntry(proof.entry);
  if (!entry.ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the log entry does not decode: %s", entry.status().message()));
  }
  if (entry->type != entry_type::kDispatch || entry->body != command ||
      entry->signature != signature) {
    return absl::PermissionDeniedError("the log entry is not this command's dispatch");
  }
  if (proof.index >= cp->size) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "entry %d is outside the checkpoint's tree of %d entries", proof.index, cp->size));
  }
  if (auto s = merkle::verifyInclusion(proof.index, cp->size, merkle::leafHash(proof.entry),
                                       proof.proof, cp->root_hash);
      !s.ok()) {
    return absl::PermissionDeniedError(
        absl::StrFormat("the inclusion proof does not verify: %s", s.message()));
  }
  return absl::OkStatus();
}

}  // namespace warden
