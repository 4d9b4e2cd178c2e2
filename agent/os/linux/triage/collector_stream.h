// The collector's end of its stream to the agent (collector_wire.h): a BundleOutput whose
// entries become messages, and the rest of what a Bundle records there — manifest entries,
// limits, the host's identity — plus the steps the agent takes itself. A write that fails (the
// agent went away) is kept and fails every later call: the collector then stops.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "agent/os/linux/triage/bundle_writer.h"
#include "agent/os/linux/triage/collector_wire.h"

namespace warden::triage {

class CollectorStream : public BundleOutput {
 public:
  // Messages come in on `in_fd` and go out on `out_fd` (the same socket, as a rule).
  CollectorStream(int in_fd, int out_fd) : in_(in_fd), out_(out_fd) {}

  // The next message from the agent; Unavailable when it closed the stream.
  absl::StatusOr<v1::CollectorMessage> receive();

  absl::Status begin(const TarEntry& e) override;
  absl::Status data(std::string_view d) override;
  absl::Status end() override;

  absl::Status member(const TriageMember& m);
  absl::Status limitHit(std::string_view line);
  absl::Status identity(std::string_view hostname, std::string_view boot_id);
  absl::Status sandbox(const v1::CollectorSandbox& s);
  // Asks the agent to take its step `s` now and waits for its answer.
  absl::StatusOr<v1::CollectorStepDone> step(CollectorStep s);
  // The collection is complete.
  absl::Status finish(std::uint64_t over_member_limit);

  const absl::Status& status() const { return status_; }

 private:
  absl::Status send(const v1::CollectorMessage& m);

  int in_;
  int out_;
  FrameReader reader_;
  absl::Status status_;
};

}  // namespace warden::triage
