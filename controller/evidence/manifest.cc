#include "controller/evidence/manifest.h"

#include "common/json.h"
#include "common/status.h"

namespace warden {
namespace {

std::string stringAt(const Json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

absl::StatusOr<ManifestFacts> readManifest(std::string_view json) {
  WARDEN_ASSIGN_OR_RETURN(Json m, parseJson(json, "the evidence manifest"));
  ManifestFacts f;
  f.evidence_id = stringAt(m, "evidence_id");
  f.action_id = stringAt(m, "action_id");
  f.sha256 = stringAt(m, "sha256");
  if (m.is_object() && m.contains("source")) f.source_path = stringAt(m["source"], "path");
  return f;
}

}  // namespace warden
