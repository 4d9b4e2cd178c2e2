// Pages of the operator API's list RPCs (ListActions, ListHosts, ListEvidence), in the manner
// of AIP-158: a caller asks for `page_size` items and passes back the `next_page_token` of the
// page before. A list can outgrow any one message (a kill's receipt alone may be 2 MiB, a fleet
// holds thousands of hosts), so each page is bounded twice: by count, and by bytes well under
// gRPC's 4 MiB message limit (context.h kMaxMessageBytes).
//
// A token is opaque to callers. Inside, it names the list and a digest of the request's filters
// it was made for, and the sort key of the last item sent: the next page starts strictly after
// that key, so an item is never sent twice, and one added while a caller pages either comes
// after every item sent so far (actions: keys only grow) or was not there when its place went
// by. Nothing else is in it: a forged token can only start a list at another place, never show
// a caller what its role may not read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace warden {

// page_size 0 asks for this many.
inline constexpr int kDefaultPageSize = 100;
// Larger page sizes are clamped to this.
inline constexpr int kMaxPageSize = 1000;
// A page stops taking items before it would pass this many bytes. The first item always goes,
// whatever its size: the largest one (a 2 MiB receipt's action) still fits the message limit,
// and the CLI's channel receives up to 64 MiB.
inline constexpr std::size_t kMaxPageBytes = 2 << 20;

// The page size to serve for a requested one: 0 → kDefaultPageSize, at most kMaxPageSize.
int servedPageSize(std::uint32_t requested);

// Counts a page as items are added: at most `max_items`, and no item that would take the
// page past `max_bytes`, except the first.
class PageBudget {
 public:
  explicit PageBudget(int max_items, std::size_t max_bytes = kMaxPageBytes)
      : max_items_(max_items), max_bytes_(max_bytes) {}

  // Whether an item of `bytes` goes on this page; counted when it does. False: the page is
  // full, and the item starts the next one.
  bool take(std::size_t bytes);

  int items() const { return items_; }
  std::size_t bytes() const { return bytes_; }

 private:
  const int max_items_;
  const std::size_t max_bytes_;
  int items_ = 0;
  std::size_t bytes_ = 0;
};

// The bytes an item adds to a response's repeated field: its own, its tag and its length.
std::size_t repeatedFieldBytes(std::size_t item_bytes);

// The sort key of the last item a page sent.
struct PageCursor {
  std::int64_t number = 0;  // actions: the row's sequence number
  std::string name;         // hosts: the host id; evidence: the item id
  bool operator==(const PageCursor&) const = default;
};

// A token for the page after `after` of `list` ("actions", "hosts", "evidence") requested with
// `filters` (the request's other fields, as the handler spells them).
std::string encodePageToken(std::string_view list, std::string_view filters,
                            const PageCursor& after);
// nullopt for "" (the first page). InvalidArgument for a token that does not decode, or that
// was made for another list or other filters: a caller must page with the request it began with.
absl::StatusOr<std::optional<PageCursor>> decodePageToken(std::string_view token,
                                                          std::string_view list,
                                                          std::string_view filters);

}  // namespace warden
