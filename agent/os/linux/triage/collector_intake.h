// The agent's side of the collector's stream: each message the sandboxed collector sends,
// checked and written into the agent's own Bundle. The collector is treated as hostile. An
// entry must fit what the limits leave, be new and not clash with the archive, and carry
// exactly the bytes it announced; a manifest entry must follow its archive entry or describe
// something that was not archived. The agent hashes and counts the content itself, so a
// member's size and SHA-256 in the manifest are always the agent's. Anything else is a
// protocol violation: the caller stops the collector, and close() completes what it left
// half-written (zeros, and the member says so), so the archive stays sound.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/os/linux/triage/bundle.h"
#include "agent/os/linux/triage/collector_wire.h"
#include "common/crypto/hash.h"

namespace warden::triage {

class CollectorIntake {
 public:
  explicit CollectorIntake(Bundle& bundle) : bundle_(bundle) { bundle_.unboundMemberText(); }

  // What a message asks of the agent: one of its steps, or nothing more (the end).
  struct Request {
    std::optional<CollectorStep> step;
    bool end = false;
  };
  // InvalidArgument (a protocol violation) for anything out of place; other errors are the
  // agent's own (writing the bundle failed).
  absl::StatusOr<Request> take(const v1::CollectorMessage& m);

  // The collector is gone or was stopped, for `why`: an entry it was sending is filled up with
  // zeros and listed with the reason; one it had not described yet is listed too.
  absl::Status close(const std::string& why);

  bool ended() const { return ended_; }
  std::uint32_t lastStep() const { return next_step_; }  // steps before this one were asked
  const std::optional<v1::CollectorSandbox>& sandbox() const { return sandbox_; }
  std::uint64_t messages() const { return messages_; }
  const std::string& lastMember() const { return last_member_; }

 private:
  enum class State { kIdle, kEntry, kDescribe };

  absl::Status beginEntry(const v1::CollectorEntry& w);
  absl::Status entryData(const std::string& d);
  absl::Status endEntry();
  absl::Status listMember(const v1::CollectorMember& w);
  // The member of the current entry from its header alone (the collector did not describe it).
  TriageMember memberOfEntry() const;

  Bundle& bundle_;
  State state_ = State::kIdle;
  TarEntry entry_;
  std::uint64_t received_ = 0;
  crypto::Sha256 hash_;
  std::string entry_sha256_;
  std::uint32_t next_step_ = 0;
  bool identified_ = false;
  bool ended_ = false;
  std::size_t limit_lines_ = 0;
  std::uint64_t messages_ = 0;
  std::string last_member_;
  std::optional<v1::CollectorSandbox> sandbox_;
  std::uint64_t metadata_bytes_ = 0;  // of the members' names, sources, errors and link targets
};

// What the collector's members' text may hold in all, whatever max_members allows: each field
// is bounded (4 KiB, 8 KiB for an error), but 20,000 members of the largest would hold 400 MiB
// in the agent, and the manifest several times that. The collector's own Bundle stops listing
// at kMaxMemberTextBytes, counted the same way; past this, with room to spare, it is a protocol
// violation.
inline constexpr std::uint64_t kMaxCollectorMetadataBytes = kMaxMemberTextBytes + (8u << 20);

}  // namespace warden::triage
