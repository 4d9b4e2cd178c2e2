// The alert intake's Authorization header (controller/alerts/authorization.h): bytes anyone
// who reaches the intake's port chooses. What it yields is one credential at most, made of
// what the header held, and it parses back the same from its canonical form.
#include <string>

#include "common/crypto/encoding.h"
#include "controller/alerts/authorization.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace warden;
  const std::string_view text = fuzz::asText(data, size);
  const intake::Authorization a = intake::parseAuthorization(text);
  const bool basic = !a.basic_user.empty() || !a.basic_password.empty();
  FUZZ_CHECK(a.bearer_token.empty() || !basic);
  if (!a.bearer_token.empty()) {
    FUZZ_CHECK(a.bearer_token.size() < size);
    FUZZ_CHECK(text.find(a.bearer_token) != std::string_view::npos);
    FUZZ_CHECK(a.bearer_token.find_first_of(" \t\r\n") == std::string::npos);
    FUZZ_CHECK(intake::parseAuthorization("Bearer " + a.bearer_token).bearer_token ==
               a.bearer_token);
  }
  if (basic) {
    FUZZ_CHECK(a.basic_user.find(':') == std::string::npos);
    const auto again = intake::parseAuthorization(
        "Basic " + crypto::base64(a.basic_user + ":" + a.basic_password));
    FUZZ_CHECK(again.basic_user == a.basic_user && again.basic_password == a.basic_password);
  }
  return 0;
}
