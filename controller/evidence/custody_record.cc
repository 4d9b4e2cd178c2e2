#include "controller/evidence/custody_record.h"

#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/json.h"
#include "common/status.h"

namespace warden {
namespace {

constexpr char kSchema[] = "warden-evidence-record/1";

std::string hexOrEmpty(const std::string& raw) { return raw.empty() ? "" : crypto::hex(raw); }

// Raw bytes from a hex field; a field that is missing or empty is "".
absl::StatusOr<std::string> rawAt(const Json& object, const char* key) {
  const std::string h = object.value(key, std::string());
  if (h.empty()) return std::string();
  return crypto::unhex(h);
}

}  // namespace

std::string_view compressionName(Compression c) {
  return c == Compression::kZstd ? "zstd" : "none";
}

std::string EvidenceRecord::toJson() const {
  Json j;
  j["schema"] = kSchema;
  j["evidence_id"] = id;
  j["action_id"] = action_id;
  j["host_id"] = host_id;
  j["operator"] = operator_name;
  j["kind"] = kind;
  j["source"] = source;
  j["size"] = size;
  j["agent_sha256"] = hexOrEmpty(agent_sha256);
  j["controller_sha256"] = hexOrEmpty(controller_sha256);
  j["manifest_sha256"] = hexOrEmpty(manifest_sha256);
  Json& stored = j["stored"];
  stored["name"] = stored_name;
  stored["size"] = stored_size;
  stored["sha256"] = hexOrEmpty(stored_sha256);
  stored["compression"] = std::string(compressionName(compression));
  stored["immutable"] = immutable;
  Json& received = j["received"];
  received["started_unix_ms"] = started_unix_ms;
  received["finished_unix_ms"] = finished_unix_ms;
  received["wire_bytes"] = wire_bytes;
  received["streams"] = streams;
  return dumpJson(j);
}

absl::StatusOr<EvidenceRecord> EvidenceRecord::fromJson(std::string_view json) {
  auto parsed = parseJson(json, "custody record");
  if (!parsed.ok()) return absl::DataLossError(parsed.status().message());
  const Json& n = *parsed;
  try {
    if (!n.is_object() || n.value("schema", std::string()) != kSchema) {
      return absl::DataLossError("not a warden-evidence-record/1 document");
    }
    EvidenceRecord r;
    r.id = n.at("evidence_id").get<std::string>();
    r.action_id = n.at("action_id").get<std::string>();
    r.host_id = n.at("host_id").get<std::string>();
    r.operator_name = n.value("operator", std::string());
    r.kind = n.at("kind").get<std::string>();
    r.source = n.value("source", std::string());
    r.size = n.at("size").get<std::uint64_t>();
    WARDEN_ASSIGN_OR_RETURN(r.agent_sha256, rawAt(n, "agent_sha256"));
    WARDEN_ASSIGN_OR_RETURN(r.controller_sha256, rawAt(n, "controller_sha256"));
    WARDEN_ASSIGN_OR_RETURN(r.manifest_sha256, rawAt(n, "manifest_sha256"));
    const Json& st = n.at("stored");
    r.stored_name = st.at("name").get<std::string>();
    r.stored_size = st.at("size").get<std::uint64_t>();
    WARDEN_ASSIGN_OR_RETURN(r.stored_sha256, rawAt(st, "sha256"));
    r.compression =
        st.at("compression").get<std::string>() == "zstd" ? Compression::kZstd : Compression::kNone;
    r.immutable = st.value("immutable", false);
    const Json received = n.value("received", Json::object());
    r.started_unix_ms = received.value("started_unix_ms", std::int64_t{0});
    r.finished_unix_ms = received.value("finished_unix_ms", std::int64_t{0});
    r.wire_bytes = received.value("wire_bytes", std::uint64_t{0});
    r.streams = received.value("streams", std::uint32_t{0});
    return r;
  } catch (const Json::exception& e) {
    return absl::DataLossError(absl::StrFormat("custody record does not parse: %s", e.what()));
  }
}

}  // namespace warden
