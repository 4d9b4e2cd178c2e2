#include "common/token.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/status.h"

namespace warden {
namespace {

bool isLowerHex(std::string_view s) {
  return s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

std::string JoinToken::toString() const {
  return absl::StrFormat("wdn1.%s.%s.%s", id, crypto::base64url(secret), ca_fingerprint);
}

absl::StatusOr<JoinToken> JoinToken::parse(std::string_view text) {
  const auto bad = [](const char* why) {
    return absl::InvalidArgumentError(absl::StrFormat("malformed join token: %s", why));
  };
  // Split on every dot; an empty part (leading, trailing or doubled dot) is a part too, so
  // "wdn1.<id>.<secret>.<ca-hash>." has five parts and is refused.
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (parts.size() <= 4) {
    const auto dot = text.find('.', start);
    parts.emplace_back(text.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() != 4) return bad("expected wdn1.<id>.<secret>.<ca-hash>");
  if (parts[0] != "wdn1") return bad("unknown version (expected wdn1)");
  if (parts[1].size() != 16 || !isLowerHex(parts[1])) return bad("bad id");
  if (parts[3].size() != 64 || !isLowerHex(parts[3])) return bad("bad CA fingerprint");
  auto secret = crypto::unbase64url(parts[2]);
  if (!secret.ok() || secret->size() != 32) return bad("bad secret");
  return JoinToken{parts[1], *secret, parts[3]};
}

absl::StatusOr<JoinToken> JoinToken::generate(const std::string& ca_fingerprint) {
  WARDEN_ASSIGN_OR_RETURN(std::string id, crypto::randomBytes(8));
  WARDEN_ASSIGN_OR_RETURN(std::string secret, crypto::randomBytes(32));
  return JoinToken{crypto::hex(id), secret, ca_fingerprint};
}

}  // namespace warden
