// The triage bundle's bookkeeping: which members are listed and archived, what the limits
// leave (the total size limit is spent first come, first served), and the three ways an
// output whose size is known only at its end becomes a member (a spool, a capped output, a
// generated JSON table). Every collector writes through one Bundle; the manifest is made from
// what it recorded (manifest.cc).
//
// A Bundle has one of two ends. In the agent it writes the .tar.zst file and the manifest. In
// the sandboxed collector (collector_main.cc) it sends every entry, manifest entry, limit and
// the host's identity to the agent over the collector's stream, and the agent's own Bundle
// takes them in (collector_intake.h).
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/os/linux/triage/bundle_writer.h"
#include "agent/os/linux/triage/collector_stream.h"
#include "agent/os/linux/triage/spool.h"
#include "agent/os/triage.h"
#include "common/json.h"
#include "common/status.h"

namespace warden::triage {

inline constexpr char kTotalLimitError[] = "not collected: total size limit reached";

// The tar entry of a member: its name, mode, owner and mtime, with `type` and `size`.
TarEntry tarEntryFor(const TriageMember& m, char type, std::uint64_t size);

// What the members' names, sources, errors and link targets may hold in all.
inline constexpr std::uint64_t kMaxMemberTextBytes = 32u << 20;

class Bundle {
 public:
  // The agent's end: the bundle file at `out_path`.
  Bundle(const TriageOptions& options, std::string out_path);
  // The collector's end: everything goes to the agent over `stream`.
  Bundle(const TriageOptions& options, CollectorStream& stream);

  // Creates the output file (the agent's end) and stamps the collection time.
  absl::Status create();
  // Lists the limits that were hit in summary, appends MANIFEST.json and finishes the file;
  // at the collector's end, tells the agent the collection is complete.
  absl::StatusOr<TriageResult> finish();
  // Removes the unfinished output.
  void discard() { file_.discard(); }

  const TriageOptions& options() const { return options_; }
  const TriageLimits& limits() const { return limits_; }
  absl::Time now() const { return now_; }             // when the collection began
  absl::Time bootTime() const { return boot_time_; }  // the host's, from CLOCK_BOOTTIME
  BundleOutput& writer() {
    return stream_ != nullptr ? static_cast<BundleOutput&>(*stream_) : file_;
  }
  CollectorStream* stream() { return stream_; }
  // A kPiece scratch buffer for reading and hashing.
  std::vector<char>& buffer();
  // The host's name and boot id for the manifest (commands/host.json reads them).
  void identify(std::string hostname, std::string boot_id);

  // ---- limits ----
  std::uint64_t remaining() const {
    return total_ >= limits_.max_total_bytes ? 0 : limits_.max_total_bytes - total_;
  }
  // The most the next member may hold, and which limit that is.
  std::uint64_t capNow() const { return std::min(limits_.max_member_bytes, remaining()); }
  const char* capName() const {
    return limits_.max_member_bytes <= remaining() ? "max_member_bytes" : "max_total_bytes";
  }
  // One line of TriageResult::limits_hit.
  void noteLimit(std::string line);
  void noteCut(const TriageMember& m, std::uint64_t of, const char* limit);
  // Content bytes archived outside archiveSpool (host files).
  void countContent(std::uint64_t bytes) { total_ += bytes; }
  // Members the other end listed (the agent's steps, seen from the collector): they count
  // against max_members here too.
  void countOtherMembers(std::size_t n) { other_members_ += n; }
  // Sources the collector could neither collect nor list (max_members), for the summary.
  void countUnlisted(std::size_t n) { over_member_limit_ += n; }
  // The sandboxed collector's record for the manifest ("collector"): how it was confined and
  // how it ended.
  void setCollector(Json collector) { collector_ = std::move(collector); }

  // ---- members ----
  // Whether a new entry named `name` may be listed: not when that name is listed already (the
  // same file asked for twice), nor past max_members or kMaxMemberTextBytes (then it is
  // counted for limits_hit).
  bool admit(const std::string& name);
  // The agent's copy of a collector's bundle: the collector keeps the text bound, the agent's
  // intake holds it to one with room for the agent's own members (collector_intake.h).
  void unboundMemberText() { max_member_text_ = UINT64_MAX; }
  bool listed(const std::string& name) const { return names_.contains(name); }
  bool archived(const std::string& name) const { return archived_.contains(name); }
  // The archived entry that extracting `name` would have to go through (a non-directory on
  // its path) or, for a non-directory, an archived entry below it; "" when there is none.
  // Physical names make this impossible short of a race; it keeps the archive sound anyway.
  std::string conflictFor(const std::string& name, bool directory) const;
  void list(TriageMember m);
  std::size_t memberCount() const { return members_.size(); }
  TriageMember& member(std::size_t index) { return members_[index]; }

  // ---- outputs ----
  // An output member: mode 0444, owned by root, stamped with the collection time.
  TriageMember outputMember(const std::string& name, const std::string& source) const;
  // Lists an output that is not collected at all: no room left, or its source failed.
  void listUncollected(TriageMember m, std::string error);
  absl::StatusOr<Spool> newSpool(const std::string& member, std::uint64_t cap);
  // Archives what `spool` holds as `m` (whose truncated and source_size the caller set).
  absl::Status archiveSpool(TriageMember m, Spool& spool);
  // An output (command, procfs file) archived from a spool that may have overflowed:
  // `produced` is all it wrote, or 0 when that is not known.
  absl::Status archiveOutput(TriageMember m, Spool& spool, std::uint64_t produced,
                             const char* limit);
  // A generated JSON array: "[\n" rec ",\n" rec ... "\n]\n", records added through `add`
  // until one does not fit. `fill` gets `add` and returns how many records it had in all.
  using AddRecord = std::function<bool(const Json&)>;
  absl::Status addJsonTable(const std::string& name, const std::string& source,
                            const std::string& what,
                            const std::function<std::size_t(const AddRecord&)>& fill);

 private:
  // MANIFEST.json (see manifest.cc).
  std::string manifest(absl::Time finished) const;

  const TriageOptions& options_;
  const TriageLimits limits_;
  const std::string out_path_;
  CollectorStream* const stream_ = nullptr;
  std::string out_dir_;  // where spools go; "" at the collector's end (memfd)
  absl::Time now_;
  absl::Time boot_time_;
  std::string hostname_;
  std::string boot_id_;
  BundleWriter file_;
  std::vector<char> buffer_;
  std::vector<TriageMember> members_;
  std::size_t other_members_ = 0;
  Json collector_;
  std::set<std::string> names_;     // every listed name
  std::set<std::string> archived_;  // names with an entry in the archive
  std::set<std::string> leaves_;    // archived names that are not directories
  std::uint64_t total_ = 0;
  std::size_t over_total_limit_ = 0;
  std::size_t over_member_limit_ = 0;
  // The members' names, sources, errors and link targets: each is bounded, but 20,000 of the
  // largest would hold 400 MiB (and the manifest several times that).
  std::uint64_t member_text_ = 0;
  std::uint64_t max_member_text_ = kMaxMemberTextBytes;
  std::size_t over_text_limit_ = 0;
  std::vector<std::string> limits_hit_;
};

}  // namespace warden::triage
