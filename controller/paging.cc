#include "controller/paging.h"

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"

namespace warden {
namespace {

// The token's version: a controller refuses tokens of a layout it does not know.
constexpr char kTokenVersion[] = "p1";
// Enough of the filters' SHA-256 to tell one request's filters from another's.
constexpr std::size_t kFiltersDigestHex = 16;
// A token a controller makes is far shorter (its longest part is an evidence id or host id);
// anything longer is not one of ours, and is not decoded at all.
constexpr std::size_t kMaxTokenBytes = 1024;

std::string filtersDigest(std::string_view filters) {
  return crypto::hex(crypto::sha256(filters)).substr(0, kFiltersDigestHex);
}

absl::Status badToken(std::string_view list, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "page_token %s: pass back the next_page_token of the previous page of this %s list, with "
      "the same filters (or no token, for the first page)",
      why, list));
}

}  // namespace

int servedPageSize(std::uint32_t requested) {
  if (requested == 0) return kDefaultPageSize;
  return static_cast<int>(std::min<std::uint32_t>(requested, kMaxPageSize));
}

bool PageBudget::take(std::size_t bytes) {
  if (items_ >= max_items_) return false;
  if (items_ > 0 && bytes > max_bytes_ - std::min(bytes_, max_bytes_)) return false;
  ++items_;
  bytes_ += bytes;
  return true;
}

std::size_t repeatedFieldBytes(std::size_t item_bytes) {
  std::size_t length_bytes = 1;
  for (std::size_t n = item_bytes; n >= 0x80; n >>= 7) ++length_bytes;
  return 1 + length_bytes + item_bytes;  // field numbers below 16 take one tag byte
}

std::string encodePageToken(std::string_view list, std::string_view filters,
                            const PageCursor& after) {
  const std::vector<std::string> parts = {kTokenVersion, std::string(list), filtersDigest(filters),
                                          absl::StrFormat("%d", after.number),
                                          crypto::base64url(after.name)};
  return crypto::base64url(absl::StrJoin(parts, "|"));
}

absl::StatusOr<std::optional<PageCursor>> decodePageToken(std::string_view token,
                                                          std::string_view list,
                                                          std::string_view filters) {
  if (token.empty()) return std::nullopt;
  if (token.size() > kMaxTokenBytes) return badToken(list, "is not one this controller made");
  absl::StatusOr<std::string> text = crypto::unbase64url(token);
  if (!text.ok()) return badToken(list, "is not one this controller made");
  const std::vector<std::string> parts = absl::StrSplit(*text, '|');
  if (parts.size() != 5 || parts[0] != kTokenVersion) {
    return badToken(list, "is not one this controller made");
  }
  if (parts[1] != list) {
    return badToken(list, absl::StrFormat("belongs to the %s list", parts[1].substr(0, 32)));
  }
  if (parts[2] != filtersDigest(filters)) {
    return badToken(list, "was made for a request with other filters");
  }
  PageCursor after;
  absl::StatusOr<std::string> name = crypto::unbase64url(parts[4]);
  if (!absl::SimpleAtoi(parts[3], &after.number) || !name.ok()) {
    return badToken(list, "is not one this controller made");
  }
  after.name = std::move(*name);
  return after;
}

}  // namespace warden
