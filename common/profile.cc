#include "common/profile.h"

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_format.h"
#include "common/files.h"
#include "common/status.h"

namespace warden {

absl::StatusOr<OperatorProfile> loadProfile(const std::string& path) {
  WARDEN_ASSIGN_OR_RETURN(std::string text, readFile(path, 1 << 20));
  OperatorProfile p;
  try {
    YAML::Node root = YAML::Load(text);
    auto field = [&](const char* key, std::string* out) -> absl::Status {
      if (!root[key] || !root[key].IsScalar()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("profile %s: missing field '%s'", path, key));
      }
      *out = root[key].as<std::string>();
      return absl::OkStatus();
    };
    WARDEN_RETURN_IF_ERROR(field("controller", &p.controller));
    WARDEN_RETURN_IF_ERROR(field("operator", &p.name));
    WARDEN_RETURN_IF_ERROR(field("role", &p.role));
    WARDEN_RETURN_IF_ERROR(field("ca_cert", &p.ca_pem));
    WARDEN_RETURN_IF_ERROR(field("client_cert", &p.cert_pem));
    WARDEN_RETURN_IF_ERROR(field("client_key", &p.key_pem));
    WARDEN_RETURN_IF_ERROR(field("signing_key", &p.signing_key_pem));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrFormat("profile %s: %s", path, e.what()));
  }
  return p;
}

absl::Status saveProfile(const std::string& path, const OperatorProfile& p) {
  YAML::Emitter out;
  out << YAML::Comment("Warden operator profile. Secret: keep it mode 0600.");
  out << YAML::BeginMap;
  out << YAML::Key << "controller" << YAML::Value << p.controller;
  out << YAML::Key << "operator" << YAML::Value << p.name;
  out << YAML::Key << "role" << YAML::Value << p.role;
  out << YAML::Key << "ca_cert" << YAML::Value << YAML::Literal << p.ca_pem;
  out << YAML::Key << "client_cert" << YAML::Value << YAML::Literal << p.cert_pem;
  out << YAML::Key << "client_key" << YAML::Value << YAML::Literal << p.key_pem;
  out << YAML::Key << "signing_key" << YAML::Value << YAML::Literal << p.signing_key_pem;
  out << YAML::EndMap;
  return writeFileAtomic(path, std::string(out.c_str()) + "\n", 0600);
}

}  // namespace warden
