// What the CLI prints: tables and text for the operator's terminal, and the building blocks
// of --json output.
//
// Everything here that prints text from a host or the action log (host ids, facts and
// addresses, sessions, process command lines, receipt messages and details, evidence sources
// and manifests, log entries) passes it through printable() first, here and only here: an
// agent, or whoever controls one, must not be able to put escape sequences on a responder's
// screen. Verb files print such text only through these functions.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/audit/evidence_verifier.h"
#include "common/audit/export_verifier.h"
#include "common/audit/log_entry.h"
#include "common/json.h"
#include "warden/v1/operator.pb.h"
#include "warden/v1/results.pb.h"

namespace warden::cli {

// ---- text -----------------------------------------------------------------------------------

// "warden: WHAT" on stderr, WHAT through printable(): errors quote controllers and hosts.
void printError(const std::string& what);

// `v` made safe for a terminal: control characters (C0 and C1), bidi overrides and invalid
// UTF-8 become '?'; everything else is kept as it is.
std::string printable(std::string_view v);
// printable() of each line of `v`, joined by `separator`: multi-line text (a checkpoint note,
// a long receipt detail) keeps its line breaks and nothing else.
std::string printableLines(std::string_view v, std::string_view separator);

std::string formatTime(std::int64_t unix_ms);  // "2024-05-01 12:00:00" (UTC), "-" for 0
std::string formatAgo(std::int64_t unix_ms);   // "now", "12s ago", "5m ago", "3h ago", "never"
std::string formatBytes(std::uint64_t n);      // "512 B", "1.5 MiB"
std::string formatEta(double seconds);         // "1:05", "2:00:00", "--:--" when unknown
std::string shortHash(const std::string& h);   // the first 16 characters

// ---- JSON -----------------------------------------------------------------------------------

// protobuf's JSON mapping of `m` (proto field names, every field), pretty-printed.
std::string toJson(const google::protobuf::Message& m);
// toJson(m) and a newline on stdout.
void printMessageJson(const google::protobuf::Message& m);
// toJson(m) as a value to compose into a larger document.
Json messageJson(const google::protobuf::Message& m);

// `j` on one line with a space after every ':' and ',' ({"a": 1, "b": [2, 3]}): the layout
// of the CLI's short answers, which scripts (and the e2e tests) match on.
std::string jsonLine(const Json& j);
// --json's document for a list, {"KEY": [ITEM, ...]}, written an item at a time as the pages of
// a list arrive (pages.h), in exactly the layout toJson() gives a response that holds the whole
// list: what a script reads does not depend on how many pages it took.
class JsonListWriter {
 public:
  explicit JsonListWriter(std::string key, std::FILE* out = stdout)
      : key_(std::move(key)), out_(out) {}
  void add(const google::protobuf::Message& item);
  // The fields of `top` that are set, written after the list as protobuf's printer writes
  // them (the rest of a response besides its list, e.g. `warden hosts`' certificate warnings).
  void trailer(const google::protobuf::Message& top);
  // Ends the document (an empty list: "KEY": []).
  void finish();

 private:
  const std::string key_;
  std::FILE* const out_;
  std::size_t items_ = 0;
  std::string trailer_;  // ",\n FIELD: ..." lines, or ""
};

// jsonLine(j) of an object, except that each element of its array `rows_key` stands on a line
// of its own: a timeline reads, and greps, a row at a time.
std::string jsonRows(const Json& j, std::string_view rows_key);

// ---- hosts and containment ------------------------------------------------------------------

// Tables of lists are printed a row at a time as their pages arrive (pages.h): the header
// before the first row, or the word for an empty list instead.
void printHostsHeader();
void printHostRow(const v1::Host& h);
void printNoHosts();
// The notes under the hosts table: each host whose certificate expires within 30 days (or has
// expired), with what was said of it.
void printHostCertificateNotes(const std::vector<std::pair<std::string, std::string>>& notes);
// The CA's and the controller's certificates expiring soon, on stderr ("warden: warning: ...").
void printCertificateWarnings(const v1::ListHostsResponse& resp);
// One line per host the request went to: the outcome, or where the action stands.
void printSubmitted(const std::string& kind, const v1::SubmitResponse& resp);
void printBlocks(const v1::ListBlocksResponse& resp);

// ---- actions --------------------------------------------------------------------------------

void printActionsHeader();
void printActionRow(const v1::Action& a);
// One action with its receipt details; exit code aside.
void printAction(const v1::Action& a);

// ---- host actions ---------------------------------------------------------------------------

// Where the host action `kind` on `host` ended: queued or delivered (stdout), failed or
// refused (stderr), or succeeded (stdout, before the result's own rendering).
void printHostActionOutcome(const std::string& kind, const std::string& host, const v1::Action& a);
void printSessions(const v1::SessionList& list);
void printKillReport(const v1::KillReport& r);
void printAccountReport(const v1::AccountReport& r);
void printSshKeyReport(const v1::SshKeyReport& r);
// The rotated root password (empty: it could not be opened).
void printRootPassword(const std::string& password);

// ---- evidence -------------------------------------------------------------------------------

// The receipt details of an image or collect action, a block per evidence item.
void printEvidenceDetails(const v1::Action& a);
void printEvidenceListHeader();
void printEvidenceRow(const v1::EvidenceItem& e);
// One item's custody record and the manifest the agent signed.
void printEvidence(const v1::ShowEvidenceResponse& resp);
void printEvidenceChecks(const v1::VerifyEvidenceResponse& resp);

// ---- audit ----------------------------------------------------------------------------------

// One log entry of the timeline, with what happened in a line.
struct TimelineRow {
  std::uint64_t index = 0;
  LogEntry entry;
  std::string summary;
};

// The rows, and how many of the log's `tree_size` entries they are.
void printTimeline(const std::vector<TimelineRow>& rows, std::uint64_t tree_size);
// An entry's verified inclusion proof; `summary` is null when the entry does not decode.
void printProof(std::uint64_t index, std::uint64_t tree_size, const std::string* summary,
                const std::string& leaf_hash, std::size_t proof_hashes,
                const std::string& checkpoint);
void printExported(std::uint64_t entries, const std::string& origin, const std::string& file);
// "warden: audit verify FAILED: WHY" on stderr.
void printAuditFailed(const std::string& why);
// A verified export: what it holds and what was checked, and each evidence item's checks.
void printAuditVerified(const AuditReport& r, const std::vector<EvidenceVerdict>& verdicts);

}  // namespace warden::cli
