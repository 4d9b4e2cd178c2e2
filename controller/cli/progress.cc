#include "controller/cli/progress.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "controller/cli/render.h"

namespace warden::cli {

void ProgressLine::update(const v1::EvidenceItem& item) {
  const absl::Time now = absl::Now();
  if (item.id() != id_) {
    finishLine();
    id_ = item.id();
    last_bytes_ = item.size();
    last_at_ = now;
    rate_ = 0;
  } else if (now - last_at_ >= absl::Milliseconds(400)) {
    const double dt = absl::ToDoubleSeconds(now - last_at_);
    const double r = static_cast<double>(item.size() - std::min(item.size(), last_bytes_)) / dt;
    rate_ = rate_ == 0 ? r : 0.7 * rate_ + 0.3 * r;  // smoothed over the last few seconds
    last_bytes_ = item.size();
    last_at_ = now;
  }
  const std::uint64_t total = item.total();
  std::string bar;
  std::string pct = "   ";
  if (total > 0) {
    const double f = std::min(1.0, static_cast<double>(item.size()) / static_cast<double>(total));
    const int filled = static_cast<int>(f * 24);
    bar = "[" + std::string(filled, '#') + std::string(24 - filled, '.') + "] ";
    pct = absl::StrFormat("%3d%%", static_cast<int>(f * 100));
  }
  const double eta =
      rate_ > 0 && total > item.size() ? static_cast<double>(total - item.size()) / rate_ : -1;
  std::fprintf(stderr, "\r\033[K%s %s %s%s / %s  %.1f MB/s  ETA %s", item.id().c_str(), pct.c_str(),
               bar.c_str(), formatBytes(item.size()).c_str(),
               total > 0 ? formatBytes(total).c_str() : "?", rate_ / 1e6, formatEta(eta).c_str());
  std::fflush(stderr);
  shown_ = true;
}

void ProgressLine::finishLine() {
  if (shown_) std::fprintf(stderr, "\n");
  shown_ = false;
}

absl::StatusOr<v1::Action> waitShowingProgress(Client& c, const std::string& id,
                                               absl::Duration timeout, bool draw) {
  const absl::Time end = absl::Now() + timeout;
  absl::Time last_ok = absl::Now();
  ProgressLine line;
  for (;;) {
    v1::GetActionRequest get;
    get.set_id(id);
    v1::Action a;
    auto s = c.call(&v1::Operator::Stub::GetAction, get, &a, absl::Seconds(15));
    if (!s.ok()) {
      // A controller restarting mid-transfer comes back; the transfer resumes meanwhile.
      if (s.error_code() != grpc::StatusCode::UNAVAILABLE ||
          absl::Now() - last_ok > absl::Minutes(2) || absl::Now() >= end) {
        return absl::UnavailableError(s.error_message());
      }
      absl::SleepFor(absl::Seconds(1));
      continue;
    }
    last_ok = absl::Now();
    const bool done = a.state() != "queued" && a.state() != "delivered";
    if (done || absl::Now() >= end) return a;
    if (!draw) {
      absl::SleepFor(absl::Milliseconds(250));
      continue;
    }
    v1::ListEvidenceRequest list;
    list.set_action_id(id);
    v1::ListEvidenceResponse items;
    if (c.call(&v1::Operator::Stub::ListEvidence, list, &items, absl::Seconds(15)).ok()) {
      for (const auto& item : items.items()) {
        if (item.state() == "receiving") line.update(item);
      }
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
}

}  // namespace warden::cli
