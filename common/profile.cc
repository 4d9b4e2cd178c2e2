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

namespace {

// A YAML literal block ("|") keeps PEM text readable, but it can only carry text that ends in
// exactly one newline, has no carriage returns or other control characters, and does not
// start with a space or newline. Anything else is emitted as a quoted scalar, so every value
// loads back byte for byte.
bool fitsLiteralBlock(const std::string& v) {
  if (v.empty() || v.back() != '\n' || v.front() == ' ' || v.front() == '\n') return false;
  if (v.size() >= 2 && v[v.size() - 2] == '\n') return false;
  for (const char c : v) {
    if (c != '\n' && static_cast<unsigned char>(c) < 0x20) return false;
  }
  return true;
}

void emitText(YAML::Emitter& out, const char* key, const std::string& value) {
  out << YAML::Key << key << YAML::Value;
  if (fitsLiteralBlock(value)) {
    out << YAML::Literal << value;
  } else {
    out << YAML::DoubleQuoted << value;
  }
}

}  // namespace

absl::Status saveProfile(const std::string& path, const OperatorProfile& p, unsigned mode) {
  YAML::Emitter out;
  out << YAML::Comment("Warden operator profile. Secret: keep it mode 0600.");
  out << YAML::BeginMap;
  out << YAML::Key << "controller" << YAML::Value << p.controller;
  out << YAML::Key << "operator" << YAML::Value << p.name;
  out << YAML::Key << "role" << YAML::Value << p.role;
  emitText(out, "ca_cert", p.ca_pem);
  emitText(out, "client_cert", p.cert_pem);
  emitText(out, "client_key", p.key_pem);
  emitText(out, "signing_key", p.signing_key_pem);
  out << YAML::EndMap;
  return writeFileAtomic(path, std::string(out.c_str()) + "\n", mode);
}

}  // namespace warden
