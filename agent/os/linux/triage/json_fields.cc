#include "agent/os/linux/triage/json_fields.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/crypto/encoding.h"

namespace warden::triage {

void putText(Json& j, const std::string& key, std::string_view value) {
  j[key] = std::string(value);
  if (!validUtf8(value)) j[absl::StrCat(key, "_hex")] = crypto::hex(value);
}

Json textArray(const std::vector<std::string>& values, bool hex) {
  Json out = Json::array();
  for (const std::string& v : values) out.push_back(hex ? crypto::hex(v) : v);
  return out;
}

std::string rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string octalMode(std::uint32_t mode) { return absl::StrFormat("%04o", mode & 07777); }

}  // namespace warden::triage
