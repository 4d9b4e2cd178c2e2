// The alert intake's Authorization header (intake_connection.cc), parsed on its own so that it
// can be fuzzed without the network (tests/fuzz/controller_intake_authorization.cc): anyone who
// reaches the intake's port controls these bytes.
#pragma once

#include <string>
#include <string_view>

namespace warden::intake {

struct Authorization {
  std::string bearer_token;
  std::string basic_user;
  std::string basic_password;
};

// `Bearer TOKEN` or `Basic base64(user:password)` (RFC 6750 §2.1, RFC 7617 §2; the scheme is
// case-insensitive). Anything else, malformed included, is no authorization at all.
Authorization parseAuthorization(std::string_view value);

}  // namespace warden::intake
