// How the triage bundle's JSON (its tables and MANIFEST.json) says host text and times. Host
// text may not be UTF-8: dumpJson (common/json.h) writes U+FFFD for what is not, and a string
// from the host (path, argv, link target) that is not valid UTF-8 also gets a twin field
// "<name>_hex" with its bytes in hex, so nothing the host wrote is lost.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "common/json.h"

namespace warden::triage {

// j[key] = value, then j[key + "_hex"] = the bytes in hex when `value` is not UTF-8.
void putText(Json& j, const std::string& key, std::string_view value);
// The strings of `values` as a JSON array; with `hex`, each one's bytes in hex.
Json textArray(const std::vector<std::string>& values, bool hex = false);
// RFC 3339 in UTC with as many fractional digits as needed.
std::string rfc3339(absl::Time t);
// "0755": the permission bits of a mode.
std::string octalMode(std::uint32_t mode);

}  // namespace warden::triage
