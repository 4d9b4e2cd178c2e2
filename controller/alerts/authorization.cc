#include "controller/alerts/authorization.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/crypto/encoding.h"

namespace warden::intake {
namespace {

// Drops spaces and tabs (RFC 9110 §5.6.3 OWS) at both ends.
std::string_view trimOws(std::string_view s) {
  const std::size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool isBearerToken(std::string_view t) {
  const std::size_t end = t.find_last_not_of('=');
  if (end == std::string_view::npos) return false;
  return std::all_of(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(end) + 1, [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
           c == '~' || c == '+' || c == '/';
  });
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(absl::string_view(a.data(), a.size()),
                                absl::string_view(b.data(), b.size()));
}

}  // namespace

Authorization parseAuthorization(std::string_view value) {
  Authorization out;
  value = trimOws(value);
  const std::size_t space = value.find(' ');
  if (space == std::string_view::npos) return out;
  const std::string_view scheme = value.substr(0, space);
  const std::string_view credentials = trimOws(value.substr(space + 1));
  if (!isBearerToken(credentials)) return out;  // token68, which base64 also is
  if (equalsIgnoreCase(scheme, "Bearer")) {
    out.bearer_token = std::string(credentials);
  } else if (equalsIgnoreCase(scheme, "Basic")) {
    auto decoded = crypto::unbase64(credentials);
    if (!decoded.ok()) return out;
    const std::size_t colon = decoded->find(':');  // RFC 7617 §2: a user-id has no colon
    if (colon == std::string::npos) return out;
    out.basic_user = decoded->substr(0, colon);
    out.basic_password = decoded->substr(colon + 1);
  }
  return out;
}

}  // namespace warden::intake
