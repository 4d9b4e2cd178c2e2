// The controller's durable state in SQLite: operators, join tokens, enrolled hosts, actions
// (with the signed command and the signed receipt), and host events such as tampering.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/command.h"
#include "common/sqlite.h"
#include "controller/paging.h"
#include "warden/v1/operator.pb.h"

namespace warden {

// Agents and operators alike hold one current TLS certificate. After a renewal the certificate
// it was renewed with stays good too (`prev_cert_fingerprint`) until the new one is first used:
// a renewal whose answer was lost, or whose new certificate could not be stored, never locks
// its holder out. Re-enrollment and revocation forget both.
struct OperatorRecord {
  std::string name;
  std::string role;
  std::string cert_fingerprint;
  std::string signing_public_key;
  std::string prev_cert_fingerprint;
  std::int64_t cert_not_after_ms = 0;  // 0: not known (an operator added before renewal existed)
  bool holdsCertificate(const std::string& fingerprint) const;
};

// An operator label: key [a-z0-9][a-z0-9._/-]{0,62}, value [A-Za-z0-9._-]{0,63}; the facts the
// agents report (os, kernel, firewall, hostname) are not operator labels.
absl::Status validLabel(const std::string& key, const std::string& value);

struct HostRecord {
  std::string host_id;
  std::string cert_fingerprint;
  std::string receipt_public_key;
  std::int64_t enrolled_ms = 0;
  std::int64_t last_seen_ms = 0;
  std::string peer;
  v1::Facts facts;
  std::string containment = "none";
  std::string prev_cert_fingerprint;
  std::int64_t cert_not_after_ms = 0;  // 0: not known until the agent next connects
  bool holdsCertificate(const std::string& fingerprint) const;
};

struct ActionRecord {
  std::string id;
  std::string host_id;
  std::string kind;
  std::string state;  // queued, delivered, succeeded, failed, refused, expired
  std::string requested_by;
  std::string reason;
  std::string params;
  std::int64_t created_ms = 0;
  std::int64_t expires_ms = 0;
  std::int64_t finished_ms = 0;
  std::string command;
  std::string command_signature;
  std::string receipt;
  std::string receipt_signature;
  std::string message;
  std::int64_t log_index = -1;  // the DISPATCH entry in the action log; -1: not logged
  bool finished() const;
};

// The containment state a receipt leaves its host in ("isolated", "none"); "" when it changes
// nothing. Registry::finishAction records it with the receipt.
std::string containmentAfter(const std::string& action_kind, const Receipt& r);

// One page of a list the registry holds (the operator API pages them, controller/paging.h):
// rows in the list's order, no more than the page's budget, and whether any are left after them.
template <typename Row>
struct RegistryPage {
  std::vector<Row> rows;
  bool more = false;
};

// An action as a page of actions lists it.
struct ActionRow {
  std::int64_t seq = 0;  // the order actions were added in: the list's order and its page key
  ActionRecord action;   // receipt and receipt_signature empty unless the query asked for them
  bool has_receipt = false;
};

// Which page of actions: those after `after_seq`, oldest first.
struct ActionPageQuery {
  std::string host_id;         // "" every host
  std::int64_t after_seq = 0;  // the last row of the page before; 0: the first page
  // First page only: start at the `newest`-th newest action (0: at the oldest). Later pages
  // follow on from `after_seq`: what was added meanwhile comes at the end, never in between.
  std::uint32_t newest = 0;
  bool with_receipts = true;  // the signed receipts (large: a kill lists every process)
  int max_rows = kDefaultPageSize;
  std::size_t max_bytes = kMaxPageBytes;  // of the rows' stored bytes, as PageBudget counts
};

struct HostEventRecord {
  std::string host_id;
  std::string kind;
  std::string detail;
  std::int64_t at_ms = 0;
};

// An incident (common/audit/incident.h) as the controller keeps it; the log holds the signed
// requests that made it.
struct IncidentRecord {
  std::string id;
  std::string codename;
  int severity = 0;
  std::string summary;
  std::string opened_by;
  std::int64_t opened_ms = 0;
  std::int64_t open_log_index = 0;
  std::string closed_by;  // empty while open
  std::int64_t closed_ms = 0;
  bool open() const { return closed_by.empty(); }
};

struct IncidentNote {
  std::string by;
  std::int64_t at_ms = 0;
  std::string text;
  std::int64_t log_index = 0;
};

class Registry {
 public:
  static absl::StatusOr<std::unique_ptr<Registry>> open(const std::string& path);

  absl::Status setMeta(const std::string& key, const std::string& value);
  absl::StatusOr<std::string> meta(const std::string& key);

  absl::Status addOperator(const OperatorRecord& op);
  absl::StatusOr<OperatorRecord> findOperator(const std::string& name);
  absl::StatusOr<std::vector<OperatorRecord>> listOperators();
  // Role "revoked", certificate forgotten: every later call by the operator is refused. The
  // name stays taken, so the log's history of it stays unambiguous.
  absl::Status revokeOperator(const std::string& name);

  // Remembers a signed request's id; AlreadyExists if it was seen before (a replay). Ids older
  // than an hour are forgotten (a request is only accepted within 10 minutes of being made).
  absl::Status addRequestId(const std::string& id, const std::string& operator_name,
                            std::int64_t at_ms);

  absl::Status addToken(const std::string& id, const std::string& secret_hash,
                        const std::string& host_id, std::int64_t expires_ms,
                        const std::string& created_by);
  // Marks the token used by `host_id` and returns OK only if it exists, matches the secret,
  // is unexpired, unused and (if bound) bound to `host_id`; an unbound token may not enroll
  // a host id that is already enrolled. Atomic: a token works once; a refusal does not burn it.
  absl::Status consumeToken(const std::string& id, const std::string& secret_hash,
                            const std::string& host_id);

  absl::Status addHost(const HostRecord& host, bool replace);
  absl::StatusOr<HostRecord> findHost(const std::string& host_id);
  absl::StatusOr<std::vector<HostRecord>> listHosts();
  // A page of hosts in order of host id, after `after_host_id` ("" for the first page).
  absl::StatusOr<RegistryPage<HostRecord>> listHostsPage(const std::string& after_host_id,
                                                         int max_rows,
                                                         std::size_t max_bytes = kMaxPageBytes);
  // Stores `facts` (when given) cut to common/facts_bounds.h.
  absl::Status updateHostSeen(const std::string& host_id, const std::string& peer,
                              const v1::Facts* facts);
  absl::Status setContainment(const std::string& host_id, const std::string& containment);

  // Certificates (registry_certificates.cc). A renewal makes `fingerprint` the identity's
  // certificate and keeps `previous` (the one it proved itself with; "" for none) good until
  // the new one is used. A host's renewal only lands while its enrolled receipt key is still
  // `receipt_public_key` (a re-enrollment in between wins); an operator's only while not revoked.
  absl::Status renewHostCertificate(const std::string& host_id,
                                    const std::string& receipt_public_key,
                                    const std::string& fingerprint, const std::string& previous,
                                    std::int64_t not_after_ms);
  absl::Status renewOperatorCertificate(const std::string& name, const std::string& fingerprint,
                                        const std::string& previous, std::int64_t not_after_ms);
  // The identity connected with its current certificate `fingerprint`, which expires at
  // `not_after_ms`: the previous one retires, and the expiry is recorded (hosts enrolled
  // before it was kept). Nothing changes when `fingerprint` is not the current one.
  absl::Status noteHostCertificate(const std::string& host_id, const std::string& fingerprint,
                                   std::int64_t not_after_ms);
  absl::Status noteOperatorCertificate(const std::string& name, const std::string& fingerprint,
                                       std::int64_t not_after_ms);

  absl::Status addAction(const ActionRecord& a);
  absl::StatusOr<ActionRecord> findAction(const std::string& id);
  // The newest `limit` actions (of the host, or of all hosts for ""), oldest first.
  absl::StatusOr<std::vector<ActionRecord>> listActions(const std::string& host_id, int limit);
  // A page of actions (registry_pages.cc).
  absl::StatusOr<RegistryPage<ActionRow>> listActionsPage(const ActionPageQuery& q);
  // Actions for the host that are neither finished nor expired, oldest first. Expired
  // ones are marked so on the way.
  absl::StatusOr<std::vector<ActionRecord>> pendingActions(const std::string& host_id);
  absl::Status markDelivered(const std::string& id);
  // Actions with a logged dispatch and no receipt yet: queued, delivered, or expired within
  // the last day.
  absl::StatusOr<std::vector<ActionRecord>> actionsAwaitingReceipt();
  // Stores the agent's verified receipt; false if the action already had one or failed
  // otherwise. An action the controller marked expired still takes the receipt: the agent
  // acted before the command expired there. A non-empty `containment` (a succeeded isolate or
  // release) becomes the host's containment state in the same transaction: one commit, and no
  // crash between the two can leave the registry saying otherwise than the receipt.
  absl::StatusOr<bool> finishAction(const std::string& id, const std::string& state,
                                    const std::string& message, const std::string& receipt,
                                    const std::string& receipt_signature, std::int64_t finished_ms,
                                    const std::string& containment = "");

  // Fleet-wide blocks: every host gets them, including hosts that enroll later.
  absl::Status addFleetBlock(const std::string& address, const std::string& created_by,
                             const std::string& reason);
  absl::Status removeFleetBlock(const std::string& address);
  absl::StatusOr<std::vector<std::vector<std::string>>> fleetBlocks();  // address, by, ms, reason

  // Operator labels (registry_labels.cc). Keys and values are checked by validLabel().
  absl::Status setLabels(const std::string& host_id, const std::map<std::string, std::string>& set,
                         const std::vector<std::string>& remove);
  absl::StatusOr<std::map<std::string, std::string>> labels(const std::string& host_id);
  // Hosts whose id, or whose label `key`, equals `value` (ASCII case ignored).
  absl::StatusOr<std::vector<std::string>> hostsNamed(const std::string& value,
                                                      const std::string& key);

  // Incidents (registry_incidents.cc). AlreadyExists when the id or codename is taken.
  absl::Status addIncident(const IncidentRecord& i);
  // By id or codename; NotFound otherwise.
  absl::StatusOr<IncidentRecord> findIncident(const std::string& id_or_codename);
  // Newest first, at most `limit`.
  absl::StatusOr<std::vector<IncidentRecord>> listIncidents(int limit);
  // FailedPrecondition when it is closed already.
  absl::Status closeIncident(const std::string& id, const std::string& by, std::int64_t at_ms);
  absl::Status addIncidentNote(const std::string& id, const IncidentNote& note);
  absl::StatusOr<std::vector<IncidentNote>> incidentNotes(const std::string& id);

  absl::Status addEvent(const HostEventRecord& e);
  absl::StatusOr<std::vector<HostEventRecord>> recentEvents(const std::string& host_id, int limit);

 private:
  explicit Registry(std::unique_ptr<Database> db) : db_(std::move(db)) {}
  absl::StatusOr<ActionRecord> readAction(Statement& st);
  absl::StatusOr<std::vector<ActionRecord>> readActions(Statement& st);  // every row
  std::mutex mu_;  // one writer at a time; SQLite's own locking covers other processes
  std::unique_ptr<Database> db_;
};

}  // namespace warden
