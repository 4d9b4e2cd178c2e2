// The triage collector's stream (proto/warden/v1/collector.proto), both ends: framing, and the
// checks the agent makes of everything the collector sends. The collector reads files an
// attacker wrote, so the agent treats it as hostile: a message that is too large, a name that
// could escape the archive or take one of the agent's own member names, an entry larger than
// the limits leave — each is a protocol violation, and the agent stops the collector. Pure
// functions, no I/O: fuzzed by tests/fuzz/agent_triage_stream.cc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/os/linux/triage/tar_header.h"
#include "agent/os/triage.h"
#include "warden/v1/collector.pb.h"

namespace warden::triage {

// The largest message: a 1 MiB data piece and its framing, or a member with long names.
inline constexpr std::size_t kMaxCollectorMessage = (1u << 20) + (64u << 10);
inline constexpr std::size_t kMaxHostString = 4096;  // a name, link target or source path
inline constexpr std::size_t kMaxErrorString = 8192;

// The agent's own steps, which the collector asks for by number in member order.
enum CollectorStep : std::uint32_t {
  kStepNetworkTables = 0,  // nft list ruleset, iptables-save, ip6tables-save
  kStepJournal = 1,        // journalctl
  kStepCount = 2,
};

// The output members the collector writes itself (the agent writes the others, and its own
// names must stay its own).
const std::vector<std::string>& collectorOutputNames();

// InvalidArgument "collector protocol violation: WHAT".
absl::Status protocolViolation(const std::string& what);
// A name the collector sent, quoted and escaped for an error message (and cut at 200 bytes).
std::string shownName(const std::string& name);

// The frame of `m`: its length (4 bytes, little-endian), then its bytes.
std::string frameMessage(const v1::CollectorMessage& m);

// Splits a byte stream into messages.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_message = kMaxCollectorMessage) : max_(max_message) {}
  void feed(std::string_view bytes);
  // The next whole message; nullopt until more bytes come; an error when the stream is broken
  // (a frame over the limit, bytes that are not a message).
  absl::StatusOr<std::optional<v1::CollectorMessage>> next();
  // Bytes received but not yet a whole message.
  std::size_t pending() const { return buf_.size() - pos_; }

 private:
  std::size_t max_;
  std::string buf_;
  std::size_t pos_ = 0;
};

// OK when `name` may be a member the collector writes: "files/<path>" or one of
// collectorOutputNames(); no empty, "." or ".." component, no NUL, at most kMaxHostString
// bytes; a directory's name (and only a directory's) ends with "/".
absl::Status checkCollectorName(const std::string& name, bool directory);

v1::CollectorEntry entryToWire(const TarEntry& e);
// The entry, checked: a known type, a valid name, content only for a regular file, a link
// target only for links, mode and ids in range.
absl::StatusOr<TarEntry> entryFromWire(const v1::CollectorEntry& e);

v1::CollectorMember memberToWire(const TriageMember& m);
// The member, checked like entries; strings bounded. What the agent records of `archived`,
// `size` and `sha256` it never takes from here: it counts and hashes what it received.
absl::StatusOr<TriageMember> memberFromWire(const v1::CollectorMember& m);

// What the collector is told (CollectorOrders): the triage options that concern it, its ids,
// the paths it must never read, and a test-only fault.
struct CollectorOrders {
  std::string root = "/";
  TriageLimits limits;
  std::vector<std::string> withheld;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string fault;
};
v1::CollectorOrders ordersToWire(const CollectorOrders& o);
// Checked: an absolute root, positive limits, a uid and gid that are not root.
absl::StatusOr<CollectorOrders> ordersFromWire(const v1::CollectorOrders& o);

}  // namespace warden::triage
