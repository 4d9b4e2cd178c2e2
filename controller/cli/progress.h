// Progress of evidence transfers, for an operator waiting at a terminal.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controller/cli/client.h"
#include "warden/v1/operator.pb.h"

namespace warden::cli {

// A progress line on stderr (a terminal): bytes, rate and time left of the item in transfer.
// A new item ends the previous item's line; so does finishLine() or the destructor.
class ProgressLine {
 public:
  void update(const v1::EvidenceItem& item);
  void finishLine();
  ~ProgressLine() { finishLine(); }

 private:
  std::string id_;
  std::uint64_t last_bytes_ = 0;
  absl::Time last_at_;
  double rate_ = 0;
  bool shown_ = false;
};

// Polls action `id` until it has its receipt (or `timeout`), drawing its evidence transfers
// when `draw`. A controller that restarts meanwhile is waited for (up to two minutes).
absl::StatusOr<v1::Action> waitShowingProgress(Client& c, const std::string& id,
                                               absl::Duration timeout, bool draw);

}  // namespace warden::cli
