#include "controller/server.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/audit.h"
#include "common/command.h"
#include "common/log.h"
#include "common/net.h"
#include "common/status.h"
#include "common/token.h"
#include "controller/action_log.h"
#include "controller/evidence/immutable_attribute.h"
#include "controller/evidence/store.h"
#include "warden/v1/agent.grpc.pb.h"
#include "warden/v1/operator.grpc.pb.h"

namespace warden {
namespace {

using AgentStream = grpc::ServerReaderWriter<v1::ControllerMessage, v1::AgentMessage>;

// The containment state a receipt leaves its host in; "" when it changes nothing.
std::string containmentAfter(const Receipt& r) {
  if (r.status != ReceiptStatus::kSucceeded) return "";
  if (r.kind == "isolate") return "isolated";
  if (r.kind == "release") return "none";
  return "";
}

constexpr int kMaxMessageBytes = 4 << 20;
constexpr std::size_t kMaxHostsPerRequest = 1000;
constexpr std::size_t kMaxAllowEntries = 64;
constexpr std::size_t kMaxBlockAddresses = 1024;
constexpr std::uint32_t kMaxWaitMs = 10 * 60 * 1000;
// A signed request is accepted this long after (or before, for clock skew) it was made.
constexpr std::int64_t kRequestWindowMs = 10 * 60 * 1000;
constexpr std::size_t kMaxLogReadBytes = 3 << 20;  // one ReadLog response, under the 4 MB cap
// A log entry holds at most one whole agent message (a receipt) plus its envelope.
constexpr std::size_t kMaxLogEntryBytes = kMaxMessageBytes + (64 << 10);
// Checkpoints one GetCheckpoint(all) answer carries (~220 bytes each): older ones are thinned.
constexpr std::size_t kMaxCheckpointsListed = 8000;
// Refusals of callers who could not be identified (no or unknown certificate, failed
// enrollment) are logged at most this often; the rest are counted into the next one.
constexpr int kAnonymousRefusalsPerMinute = 30;
constexpr std::size_t kMaxUntrustedText = 256;
constexpr std::size_t kMaxEvidenceChunk = 1 << 20;
constexpr std::uint64_t kEvidenceSyncEvery = 64 << 20;  // bytes between fdatasyncs
constexpr int kMaxConcurrentUploads = 8;  // evidence transfers at once, all hosts together
constexpr int kMaxUploadsPerHost = 2;
constexpr int kMaxEvidencePerAction = 64;  // ids ACTION-1 .. ACTION-64 (collect: ACTION-1)

// Fault injection for tests of the agent's and the log's defences, from the environment
// variable WARDEN_FAULT_INJECT (comma separated); announced loudly at start:
//   dispatch-proof-missing   send commands without their log proof
//   dispatch-proof-corrupt   send commands with a wrong inclusion proof
//   exit-after-log:request   exit(70) right after a REQUEST entry is durable, before answering
//   exit-after-log:receipt   exit(70) right after a RECEIPT entry is durable, before the ack
struct Faults {
  bool proof_missing = false;
  bool proof_corrupt = false;
  bool exit_after_request = false;
  bool exit_after_receipt = false;
  static Faults fromEnvironment() {
    Faults f;
    const char* env = std::getenv("WARDEN_FAULT_INJECT");
    const std::string v = env == nullptr ? "" : env;
    f.proof_missing = v.find("dispatch-proof-missing") != std::string::npos;
    f.proof_corrupt = v.find("dispatch-proof-corrupt") != std::string::npos;
    f.exit_after_request = v.find("exit-after-log:request") != std::string::npos;
    f.exit_after_receipt = v.find("exit-after-log:receipt") != std::string::npos;
    if (!v.empty()) logWarning("FAULT INJECTION ACTIVE (WARDEN_FAULT_INJECT=%s): testing only", v);
    return f;
  }
};

grpc::Status toGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// The identity in the peer's verified certificate: CN "agent:<host>" or "operator:<name>".
struct PeerIdentity {
  std::string common_name;
  std::string fingerprint;
};

absl::StatusOr<PeerIdentity> peerIdentity(const grpc::ServerContext* ctx) {
  auto auth = ctx->auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("a client certificate issued by this controller is required");
  }
  PeerIdentity id;
  for (const auto& v : auth->FindPropertyValues("x509_common_name")) {
    id.common_name.assign(v.data(), v.size());
  }
  for (const auto& v : auth->FindPropertyValues("x509_pem_cert")) {
    auto fp = crypto::certFingerprint(std::string(v.data(), v.size()));
    if (fp.ok()) id.fingerprint = *fp;
  }
  if (id.common_name.empty() || id.fingerprint.empty()) {
    return absl::UnauthenticatedError("client certificate carries no usable identity");
  }
  return id;
}

// Host-action arguments ("key=value"), checked for form before anything is dispatched; what
// only the host can know (does the user exist?) the agent checks.
absl::Status validateHostActionArgs(const std::string& kind, const std::vector<std::string>& args) {
  std::set<std::string> allowed;
  if (kind == "kill-sessions")
    allowed = {"user", "session", "tty", "from", "pid", "except", "dry_run"};
  if (kind == "lock-accounts") allowed = {"user", "all", "except", "rotate_root", "recipient"};
  if (kind == "unlock-accounts") allowed = {"user", "all"};
  if (kind == "shutdown") allowed = {"mode", "now"};
  if (kind == "image") allowed = {"device", "all_disks", "rate", "compress"};
  if (kind == "collect") allowed = {"rate", "max_member_mb", "max_total_mb"};
  if (args.size() > 256) return absl::InvalidArgumentError("too many arguments");
  bool selector = false, all = false, users = false;
  for (const auto& a : args) {
    const auto eq = a.find('=');
    const std::string key = a.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (eq == std::string::npos || !allowed.count(key) || value.empty() || value.size() > 1024) {
      return absl::InvalidArgumentError(absl::StrFormat("invalid argument '%s' for %s", a, kind));
    }
    if (key == "from") WARDEN_RETURN_IF_ERROR(IpPrefix::parse(value).status());
    if (key == "pid" &&
        (value.find_first_not_of("0123456789") != std::string::npos || value.size() > 9)) {
      return absl::InvalidArgumentError(absl::StrFormat("invalid pid '%s'", value));
    }
    if (key == "compress" && value != "zstd" && value != "none") {
      return absl::InvalidArgumentError(
          absl::StrFormat("unknown compression '%s' (zstd or none)", value));
    }
    if ((key == "rate" || key == "max_member_mb" || key == "max_total_mb") &&
        (value.find_first_not_of("0123456789.") != std::string::npos || value.size() > 12 ||
         std::atof(value.c_str()) <= 0)) {
      return absl::InvalidArgumentError(absl::StrFormat("invalid %s '%s'", key, value));
    }
    if (key == "mode" && value != "poweroff" && value != "reboot" && value != "halt") {
      return absl::InvalidArgumentError(absl::StrFormat("invalid shutdown mode '%s'", value));
    }
    if (key == "user" || key == "session" || key == "tty" || key == "from" || key == "pid") {
      selector = true;
    }
    users = users || key == "user";
    all = all || key == "all";
  }
  if (kind == "image") {
    // Several devices may be named; --all-disks adds every whole disk (loop, ram and zram
    // devices only when named).
    int devices = 0, bad = 0, all_disks = 0;
    for (const auto& a : args) {
      if (a.rfind("device=", 0) == 0) (a.size() > 8 && a[7] == '/' ? devices : bad) += 1;
      if (a.rfind("all_disks=", 0) == 0) ++all_disks;
    }
    if (bad > 0 || devices + all_disks == 0) {
      return absl::InvalidArgumentError("image needs an absolute device path, or --all-disks");
    }
  }
  if (kind == "kill-sessions" && !selector) {
    return absl::InvalidArgumentError("kill-sessions needs at least one selector");
  }
  if ((kind == "lock-accounts" || kind == "unlock-accounts") && users == all) {
    return absl::InvalidArgumentError("name the accounts with --user, or use --all (not both)");
  }
  return absl::OkStatus();
}

bool validHostId(const std::string& h) {
  if (h.empty() || h.size() > 63) return false;
  if (!std::isalnum(static_cast<unsigned char>(h[0]))) return false;
  return h.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") ==
         std::string::npos;
}

}  // namespace

// One connected agent's stream. Writes come from RPC threads (dispatch) and the stream's own
// reader thread (acks), so they are serialised here.
struct AgentSession {
  std::string host_id;
  std::string peer;
  grpc::ServerContext* ctx = nullptr;
  AgentStream* stream = nullptr;
  std::mutex write_mu;
  bool closed = false;

  bool send(const v1::ControllerMessage& m) {
    std::lock_guard<std::mutex> lock(write_mu);
    if (closed) return false;
    return stream->Write(m);
  }
};

struct ControllerServer::Impl {
  Impl(ControllerKeys k, ServeOptions o) : keys(std::move(k)), options(std::move(o)) {}
  ControllerKeys keys;
  ServeOptions options;
  Faults faults = Faults::fromEnvironment();
  std::unique_ptr<ActionLog> log;
  std::unique_ptr<EvidenceStore> evidence;
  std::mutex upload_mu;
  int uploads_running = 0;                     // guarded by upload_mu
  std::map<std::string, int> uploads_by_host;  // guarded by upload_mu
  std::int64_t last_logged_ms = 0;  // only touched inside ActionLog::appendInOrder's lock
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  std::mutex mu;
  std::condition_variable finished_cv;
  std::map<std::string, std::shared_ptr<AgentSession>> sessions;
  std::set<std::string> receipts_in_flight;    // command ids whose receipt is being logged
  std::int64_t anonymous_window_start_ms = 0;  // logAnonymousRefusal's rate limit (under mu)
  int anonymous_in_window = 0;
  std::uint64_t anonymous_suppressed = 0;
  // Who may act, and with which key, as the log and the registry both say. Exclusive for
  // enrollments and operator changes (and fleet-wide requests, see Submit); shared while a
  // request or receipt is checked against a key and logged, so neither can be logged under a
  // key an enrollment or revocation replaced in the meantime.
  std::shared_mutex identity_mu;
  std::set<std::string> receipts_logged_unstored;  // logged, but the registry write failed

  class AgentService;
  class OperatorService;
  std::unique_ptr<v1::AgentChannel::Service> agent_service;
  std::unique_ptr<v1::Operator::Service> operator_service;

  std::shared_ptr<AgentSession> session(const std::string& host_id) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = sessions.find(host_id);
    return it == sessions.end() ? nullptr : it->second;
  }

  // Opens the action log in DIR/log. A new log starts with everything needed to check it (the
  // genesis): the log and command keys, every operator and every host already enrolled. A
  // crash part way through the genesis is finished on the next start.
  absl::Status openLog() {
    ActionLogOptions o{keys.data_dir + "/log", keys.log_origin, keys.log_key};
    o.max_entry_bytes = kMaxLogEntryBytes;
    WARDEN_ASSIGN_OR_RETURN(log, ActionLog::open(std::move(o)));
    if (log->size() > 0) {
      WARDEN_ASSIGN_OR_RETURN(std::string last, log->entry(log->size() - 1));
      WARDEN_ASSIGN_OR_RETURN(LogEntry e, decodeLogEntry(last));
      last_logged_ms = e.logged_unix_ms;
    }
    WARDEN_ASSIGN_OR_RETURN(std::vector<LogEntry> genesis, genesisEntries());
    if (log->size() < genesis.size()) {
      for (std::uint64_t i = 0; i < log->size(); ++i) {
        WARDEN_ASSIGN_OR_RETURN(std::string bytes, log->entry(i));
        WARDEN_ASSIGN_OR_RETURN(LogEntry have, decodeLogEntry(bytes));
        if (have.type != genesis[i].type || have.body != genesis[i].body) {
          return absl::DataLossError(absl::StrFormat(
              "action log: entry %d is not the genesis entry expected there; not touching it", i));
        }
      }
      for (std::size_t i = log->size(); i < genesis.size(); ++i) {
        WARDEN_RETURN_IF_ERROR(appendEntry(genesis[i]).status());
      }
      logInfo("action log: genesis written (%d entries)", genesis.size());
    }
    WARDEN_RETURN_IF_ERROR(recoverReceipts());
    logInfo("action log: %d entries", log->size());
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<LogEntry>> genesisEntries() {
    std::vector<LogEntry> out;
    LogEntry e;
    e.type = entry_type::kKey;
    e.actor = "controller";
    e.body =
        encodeKeyRecord(KeyRecord{kKeyRecordVersion, "log", "controller", "", keys.log_vkey, ""});
    e.detail = "action log created; checkpoints are signed by this key";
    out.push_back(e);
    e.body = encodeKeyRecord(KeyRecord{kKeyRecordVersion, "command", "controller", "",
                                       keys.command_key.publicKey(), ""});
    e.detail = "commands are signed by this key";
    out.push_back(e);
    WARDEN_ASSIGN_OR_RETURN(auto operators, keys.registry->listOperators());
    for (const auto& op : operators) {
      LogEntry o;
      o.type = entry_type::kOperator;
      o.actor = "controller";
      o.body = encodeKeyRecord(KeyRecord{kKeyRecordVersion, "operator", op.name, op.role,
                                         op.signing_public_key, op.cert_fingerprint});
      o.detail = absl::StrFormat("operator %s (%s)", op.name, op.role);
      out.push_back(o);
    }
    WARDEN_ASSIGN_OR_RETURN(auto hosts, keys.registry->listHosts());
    for (const auto& h : hosts) {
      LogEntry a;
      a.type = entry_type::kEnrollment;
      a.actor = "agent:" + h.host_id;
      a.host_id = h.host_id;
      a.body = encodeKeyRecord(KeyRecord{kKeyRecordVersion, "agent", h.host_id, "",
                                         h.receipt_public_key, h.cert_fingerprint});
      a.detail = "enrolled before the action log existed";
      out.push_back(a);
    }
    return out;
  }

  // A controller that died between logging a receipt and storing it in the registry: the log
  // is the truth, so the registry catches up (and the receipt is never logged twice).
  absl::Status recoverReceipts() {
    WARDEN_ASSIGN_OR_RETURN(auto waiting, keys.registry->actionsAwaitingReceipt());
    if (waiting.empty()) return absl::OkStatus();
    std::map<std::string, const ActionRecord*> by_id;
    std::uint64_t from = log->size();
    for (const auto& a : waiting) {
      by_id[a.id] = &a;
      from = std::min(from, static_cast<std::uint64_t>(a.log_index));
    }
    for (std::uint64_t i = from; i < log->size(); ++i) {
      WARDEN_ASSIGN_OR_RETURN(std::string bytes, log->entry(i));
      auto e = decodeLogEntry(bytes);
      if (!e.ok() || e->type != entry_type::kReceipt || !by_id.contains(e->ref)) continue;
      auto r = decodeReceipt(e->body);
      if (!r.ok()) continue;
      auto stored = keys.registry->finishAction(e->ref, std::string(receiptStatusName(r->status)),
                                                r->message, e->body, e->signature,
                                                e->logged_unix_ms, containmentAfter(*r));
      if (stored.ok() && *stored) {
        logInfo("action %s: receipt recovered from action log entry %d", e->ref, i);
      }
    }
    return absl::OkStatus();
  }

  // Appends an entry, durable when this returns. Times never decrease along the log.
  absl::StatusOr<std::uint64_t> appendEntry(LogEntry e) {
    return log->appendInOrder([&] {
      e.logged_unix_ms = std::max(nowUnixMs(), last_logged_ms);
      last_logged_ms = e.logged_unix_ms;
      return encodeLogEntry(e);
    });
  }

  // A refusal by the controller: logged (best effort: the refusal stands either way).
  void logRefusal(const std::string& actor, const std::string& host_id, const std::string& ref,
                  const std::string& detail) {
    LogEntry e;
    e.type = entry_type::kRefusal;
    e.actor = actor;
    e.host_id = host_id;
    e.ref = ref;
    e.detail = detail.substr(0, 4 * kMaxUntrustedText);
    if (auto s = appendEntry(e); !s.ok()) {
      logError("action log: cannot log refusal (%s): %s", e.detail, s.status().ToString());
    }
  }

  // A refusal of a caller who could not be identified. Anyone who can reach the port can
  // cause these, so they are rate-limited: past kAnonymousRefusalsPerMinute, they are counted
  // and the count goes into the next one logged.
  void logAnonymousRefusal(const std::string& host_id, const std::string& detail) {
    std::string text = detail.substr(0, kMaxUntrustedText);
    {
      std::lock_guard<std::mutex> lock(mu);
      const std::int64_t now = nowUnixMs();
      if (now - anonymous_window_start_ms >= 60000) {
        anonymous_window_start_ms = now;
        anonymous_in_window = 0;
      }
      if (++anonymous_in_window > kAnonymousRefusalsPerMinute) {
        ++anonymous_suppressed;
        return;
      }
      if (anonymous_suppressed > 0) {
        text += absl::StrFormat(" (and %d similar refusals before it, not logged one by one)",
                                anonymous_suppressed);
        anonymous_suppressed = 0;
      }
    }
    logRefusal("controller", host_id, "", text);
  }

  // Ends a host's stream. Under mu: Connect removes its session before returning, so the
  // context is alive while it is in the map.
  void cancelSession(const std::string& host_id) {
    std::lock_guard<std::mutex> lock(mu);
    if (auto it = sessions.find(host_id); it != sessions.end()) it->second->ctx->TryCancel();
  }

  void recordEvent(const std::string& host_id, const std::string& kind, const std::string& detail) {
    logInfo("host %s: %s: %s", host_id, kind, detail);
    auto s = keys.registry->addEvent(HostEventRecord{host_id, kind, detail, nowUnixMs()});
    if (!s.ok()) logError("host %s: cannot record event: %s", host_id, s.ToString());
  }

  // An event a host reported, or the controller noticed about a host: kept with the host and
  // in the action log.
  void recordLoggedEvent(const std::string& actor, const std::string& host_id,
                         const std::string& kind, const std::string& detail,
                         const std::string& ref = "") {
    recordEvent(host_id, kind, detail);
    LogEntry e;
    e.type = kind == "refusal" || kind == "bad-receipt" ? entry_type::kRefusal : entry_type::kEvent;
    e.actor = actor;
    e.host_id = host_id;
    e.ref = ref;
    e.detail = (kind + ": " + detail).substr(0, 16 * kMaxUntrustedText);
    if (auto s = appendEntry(e); !s.ok()) {
      logError("action log: cannot log %s event of %s: %s", kind, host_id, s.status().ToString());
    }
  }

  // The proof that `a`'s command was logged, against a checkpoint that covers it.
  absl::Status attachProof(const ActionRecord& a, v1::SignedCommand* out) {
    if (a.log_index < 0) return absl::FailedPreconditionError("the command was never logged");
    const auto index = static_cast<std::uint64_t>(a.log_index);
    WARDEN_ASSIGN_OR_RETURN(std::string cp, log->checkpoint());
    WARDEN_ASSIGN_OR_RETURN(note::Checkpoint parsed, note::parseSignedCheckpoint(cp));
    WARDEN_ASSIGN_OR_RETURN(std::string entry, log->entry(index));
    WARDEN_ASSIGN_OR_RETURN(auto proof, log->inclusionProof(index, parsed.size));
    if (faults.proof_missing) return absl::OkStatus();
    if (faults.proof_corrupt && !proof.empty()) proof.front()[0] ^= 1;
    if (faults.proof_corrupt && proof.empty()) proof.push_back(std::string(32, '\0'));
    out->set_checkpoint(cp);
    out->set_log_index(index);
    out->set_log_entry(entry);
    for (auto& h : proof) out->add_inclusion_proof(std::move(h));
    return absl::OkStatus();
  }

  // Sends the action's signed command if the host is connected.
  void deliver(const ActionRecord& a) {
    auto s = session(a.host_id);
    if (!s) return;
    v1::ControllerMessage m;
    m.mutable_command()->set_command(a.command);
    m.mutable_command()->set_signature(a.command_signature);
    if (auto p = attachProof(a, m.mutable_command()); !p.ok()) {
      logError("action %s: no log proof, not delivered: %s", a.id, p.ToString());
      return;
    }
    if (s->send(m)) {
      if (a.state == "queued") {
        auto st = keys.registry->markDelivered(a.id);
        if (!st.ok()) logError("action %s: %s", a.id, st.ToString());
      }
      logInfo("action %s: delivered %s to %s", a.id, a.kind, a.host_id);
    }
  }

  void acceptReceipt(AgentSession& s, const std::string& host_id, const v1::SignedReceipt& sr) {
    std::shared_lock<std::shared_mutex> identity(identity_mu);
    // The key on record now: a re-enrollment replaces it, and the old identity's stream ends.
    auto host = keys.registry->findHost(host_id);
    if (!host.ok()) {
      logWarning("host %s: receipt from a host that is no longer enrolled", host_id);
      return;
    }
    const std::string actor = "agent:" + host_id;
    if (auto v = crypto::ed25519Verify(host->receipt_public_key, sr.receipt(), sr.signature());
        !v.ok()) {
      recordLoggedEvent("controller", host_id, "bad-receipt",
                        absl::StrFormat("receipt signature does not verify: %s", v.message()));
      return;
    }
    auto r = decodeReceipt(sr.receipt());
    if (!r.ok()) {
      recordLoggedEvent("controller", host_id, "bad-receipt",
                        std::string(r.status().message()).substr(0, kMaxUntrustedText));
      return;
    }
    const std::string command_id = r->command_id.substr(0, 64);
    auto action = keys.registry->findAction(r->command_id);
    if (!action.ok() || action->host_id != host_id || r->host_id != host_id) {
      recordLoggedEvent("controller", host_id, "bad-receipt",
                        absl::StrFormat("receipt for unknown action %s", command_id), command_id);
      return;
    }
    v1::ControllerMessage ack;
    ack.mutable_receipt_ack()->set_command_id(r->command_id);
    // One receipt per command in the log: a receipt sent again (the ack was lost, the command
    // was re-delivered) is acknowledged, not logged again.
    if (!action->receipt.empty()) {
      if (action->receipt != sr.receipt()) {
        logWarning("action %s: %s sent a different second receipt; the first one stands",
                   r->command_id, host_id);
      }
      s.send(ack);
      return;
    }
    // Two streams of one host may deliver the same receipt at once: one of them logs it.
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!receipts_in_flight.insert(r->command_id).second) return;
    }
    absl::Cleanup release = [&] {
      std::lock_guard<std::mutex> lock(mu);
      receipts_in_flight.erase(r->command_id);
    };
    // Another stream may have finished it between the first look and the claim.
    if (auto again = keys.registry->findAction(r->command_id);
        again.ok() && !again->receipt.empty()) {
      s.send(ack);
      return;
    }
    bool already_logged = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      already_logged = receipts_logged_unstored.contains(r->command_id);
    }
    if (already_logged) {
      // Logged before, then the registry write failed: only the registry is retried.
    } else if (action->log_index < 0) {
      // Dispatched before the action log existed: there is no dispatch to chain it to.
      recordLoggedEvent(actor, host_id, "legacy-receipt",
                        absl::StrFormat("receipt for %s, dispatched before the action log existed",
                                        r->command_id),
                        r->command_id);
    } else {
      LogEntry e;
      e.type = entry_type::kReceipt;
      e.actor = actor;
      e.host_id = host_id;
      e.ref = r->command_id;
      e.body = sr.receipt();
      e.signature = sr.signature();
      if (auto logged = appendEntry(e); !logged.ok()) {
        // Not acknowledged: the command is re-delivered on the next connection and the agent
        // answers with the same receipt.
        logError("action %s: cannot log receipt: %s", r->command_id, logged.status().ToString());
        return;
      }
      if (faults.exit_after_receipt) _exit(70);
    }
    const std::string state(receiptStatusName(r->status));
    auto fresh = keys.registry->finishAction(r->command_id, state, r->message, sr.receipt(),
                                             sr.signature(), nowUnixMs(), containmentAfter(*r));
    if (fresh.ok() && *fresh && (action->kind == "image" || action->kind == "collect") &&
        r->status != ReceiptStatus::kSucceeded) {
      // The action is over: what it left half-sent can no longer complete.
      if (int n = evidence->markIncomplete(r->command_id); n > 0) {
        logWarning("action %s %s: %d evidence item(s) marked incomplete", r->command_id, state, n);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      if (fresh.ok()) {
        receipts_logged_unstored.erase(r->command_id);
      } else {
        receipts_logged_unstored.insert(r->command_id);
      }
    }
    if (!fresh.ok()) {
      logError("action %s: cannot store receipt: %s", r->command_id, fresh.status().ToString());
      return;
    }
    if (*fresh) {
      logInfo("action %s: %s on %s: %s", r->command_id, state, host_id, r->message);
      if (r->status == ReceiptStatus::kRefused) {
        // The signed receipt in the log is the refusal's record.
        recordEvent(host_id, "refusal",
                    absl::StrFormat("action %s refused: %s", r->command_id, r->message));
      }
      { std::lock_guard<std::mutex> lock(mu); }
      finished_cv.notify_all();
    }
    s.send(ack);
  }

  // Signs a command for one host, logs its DISPATCH and records it as queued; the caller
  // delivers it (deliver()) once every command of the request is logged, so one checkpoint
  // covers them all. `request_id` is empty for commands the controller makes itself.
  absl::StatusOr<ActionRecord> createAction(
      const std::string& request_id, const std::string& requested_by, const std::string& host_id,
      const std::string& kind, const std::string& reason, const std::vector<std::string>& allow,
      const std::vector<std::string>& addresses, const std::vector<std::string>& args = {}) {
    WARDEN_ASSIGN_OR_RETURN(std::string rnd, crypto::randomBytes(8));
    const std::int64_t now = nowUnixMs();
    Command c;
    c.id = "a-" + crypto::hex(rnd);
    c.host_id = host_id;
    c.kind = kind;
    c.issued_unix_ms = now;
    c.expires_unix_ms = now + absl::ToInt64Milliseconds(options.default_expiry);
    c.requested_by = requested_by;
    c.reason = reason;
    c.allow = allow;
    c.addresses = addresses;
    c.args = args;
    const std::string bytes = encodeCommand(c);
    WARDEN_ASSIGN_OR_RETURN(std::string sig, keys.command_key.sign(bytes));
    ActionRecord a;
    a.id = c.id;
    a.host_id = host_id;
    a.kind = kind;
    a.state = "queued";
    a.requested_by = requested_by;
    a.reason = reason;
    if (!allow.empty()) a.params = "allow " + absl::StrJoin(allow, ",");
    if (!addresses.empty()) a.params = absl::StrJoin(addresses, ",");
    if (!args.empty()) a.params = absl::StrJoin(args, " ");
    a.created_ms = now;
    a.expires_ms = c.expires_unix_ms;
    a.command = bytes;
    a.command_signature = sig;
    LogEntry e;
    e.type = entry_type::kDispatch;
    e.actor = "controller";
    e.host_id = host_id;
    e.ref = request_id;
    e.body = bytes;
    e.signature = sig;
    WARDEN_ASSIGN_OR_RETURN(std::uint64_t index, appendEntry(e));
    a.log_index = static_cast<std::int64_t>(index);
    WARDEN_RETURN_IF_ERROR(keys.registry->addAction(a));
    logInfo("action %s: %s requested %s on %s%s (log entry %d)", a.id, requested_by, kind, host_id,
            reason.empty() ? "" : " (" + reason + ")", index);
    return a;
  }

  v1::Action toProto(const ActionRecord& a) {
    v1::Action out;
    out.set_id(a.id);
    out.set_host_id(a.host_id);
    out.set_kind(a.kind);
    out.set_state(a.state);
    out.set_requested_by(a.requested_by);
    out.set_reason(a.reason);
    out.set_created_unix_ms(a.created_ms);
    out.set_expires_unix_ms(a.expires_ms);
    out.set_finished_unix_ms(a.finished_ms);
    out.set_message(a.message);
    out.set_params(a.params);
    out.set_log_index(a.log_index);
    if (!a.receipt.empty()) {
      if (auto r = decodeReceipt(a.receipt); r.ok()) {
        for (const auto& [k, v] : r->details) (*out.mutable_details())[k] = v;
        out.set_receipt_verified(true);  // only verified receipts are ever stored
      }
    }
    return out;
  }
};

namespace {

// The storing stage of an evidence upload: checks each chunk's hash and appends it to the
// store on a thread of its own, fdatasyncing every kEvidenceSyncEvery bytes. At most kDepth
// chunks wait; push() blocks beyond that (flow control reaches the agent through gRPC).
class ChunkPipeline {
 public:
  ChunkPipeline(EvidenceStore& store, std::string id, std::string host)
      : store_(store), id_(std::move(id)), host_(std::move(host)), thread_([this] { work(); }) {}
  ~ChunkPipeline() { (void)finish(); }

  // False when the worker has failed (finish() says why).
  bool push(v1::EvidenceChunk chunk) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return queue_.size() < kDepth || !status_.ok(); });
    if (!status_.ok()) return false;
    queue_.push_back(std::move(chunk));
    cv_.notify_all();
    return true;
  }

  // Stores what was pushed, syncs it, and returns the bytes held durably, or the first error.
  absl::StatusOr<std::uint64_t> finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return status_.ok() ? absl::StatusOr<std::uint64_t>(held_) : status_;
      closed_ = true;
      cv_.notify_all();
    }
    thread_.join();
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    if (!status_.ok()) return status_;
    return held_;
  }

 private:
  static constexpr std::size_t kDepth = 4;

  void work() {
    std::uint64_t unsynced = 0;
    for (;;) {
      v1::EvidenceChunk c;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) break;
        c = std::move(queue_.front());
        queue_.pop_front();
        cv_.notify_all();
      }
      absl::Status s;
      if (!c.data().empty()) {
        if (crypto::sha256(c.data()) != c.sha256()) {
          s = absl::DataLossError(
              absl::StrFormat("evidence %s: chunk at %d does not match its hash", id_, c.offset()));
        } else {
          s = store_.append(id_, c.offset(), c.data());
          unsynced += c.data().size();
        }
      }
      if (s.ok() && unsynced >= kEvidenceSyncEvery) {
        s = store_.sync(id_).status();
        unsynced = 0;
      }
      if (!s.ok()) {
        logError("evidence %s from %s: %s", id_, host_, s.message());
        std::lock_guard<std::mutex> lock(mu_);
        status_ = s;
        cv_.notify_all();
        break;
      }
    }
    // What was stored is made durable either way: a broken stream resumes from it.
    auto synced = store_.sync(id_);
    std::lock_guard<std::mutex> lock(mu_);
    if (synced.ok()) held_ = *synced;
    if (status_.ok() && !synced.ok()) status_ = synced.status();
  }

  EvidenceStore& store_;
  const std::string id_;
  const std::string host_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::EvidenceChunk> queue_;
  bool closed_ = false;
  bool finished_ = false;
  absl::Status status_;
  std::uint64_t held_ = 0;
  std::thread thread_;  // last: starts after everything it uses
};

}  // namespace

class ControllerServer::Impl::AgentService final : public v1::AgentChannel::Service {
 public:
  explicit AgentService(Impl* impl) : impl_(impl) {}

  grpc::Status Enroll(grpc::ServerContext* ctx, const v1::EnrollRequest* req,
                      v1::EnrollResponse* resp) override {
    auto result = enroll(*req, resp);
    if (!result.ok()) {
      logWarning("enrollment of '%s' from %s refused: %s", req->host_id(), ctx->peer(),
                 result.message());
      impl_->logAnonymousRefusal(
          validHostId(req->host_id()) ? req->host_id() : "",
          absl::StrFormat("enrollment of '%s' from %s refused: %s", req->host_id().substr(0, 64),
                          ctx->peer(), result.message()));
    }
    return toGrpc(result);
  }

  grpc::Status Connect(grpc::ServerContext* ctx, AgentStream* stream) override {
    auto id = peerIdentity(ctx);
    if (!id.ok()) return toGrpc(id.status());
    if (id->common_name.rfind("agent:", 0) != 0) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          "only agent certificates may open the agent channel");
    }
    const std::string host_id = id->common_name.substr(6);
    auto host = impl_->keys.registry->findHost(host_id);
    if (!host.ok()) return toGrpc(absl::PermissionDeniedError("host is not enrolled"));
    if (host->cert_fingerprint != id->fingerprint) {
      return toGrpc(absl::PermissionDeniedError("certificate was replaced or revoked"));
    }
    v1::AgentMessage first;
    if (!stream->Read(&first) || !first.has_hello() || first.hello().host_id() != host_id) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "expected hello for this host");
    }
    auto session = std::make_shared<AgentSession>();
    session->host_id = host_id;
    session->peer = ctx->peer();
    session->ctx = ctx;
    session->stream = stream;
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      auto& slot = impl_->sessions[host_id];
      if (slot) slot->ctx->TryCancel();  // a newer connection wins
      slot = session;
    }
    (void)impl_->keys.registry->updateHostSeen(host_id, session->peer, &first.hello().facts());
    logInfo("host %s connected from %s", host_id, session->peer);
    if (auto pending = impl_->keys.registry->pendingActions(host_id); pending.ok()) {
      for (const auto& a : *pending) impl_->deliver(a);
    }

    v1::AgentMessage msg;
    while (stream->Read(&msg)) {
      switch (msg.msg_case()) {
        case v1::AgentMessage::kHeartbeat:
          (void)impl_->keys.registry->updateHostSeen(host_id, session->peer,
                                                     &msg.heartbeat().facts());
          break;
        case v1::AgentMessage::kProbe: {
          v1::ControllerMessage ack;
          ack.mutable_probe_ack()->set_nonce(msg.probe().nonce());
          session->send(ack);
          break;
        }
        case v1::AgentMessage::kReceipt:
          impl_->acceptReceipt(*session, host_id, msg.receipt());
          break;
        case v1::AgentMessage::kEvent:
          impl_->recordLoggedEvent("agent:" + host_id, host_id, msg.event().kind().substr(0, 64),
                                   msg.event().detail().substr(0, 4096),
                                   msg.event().command_id().substr(0, 64));
          break;
        default:
          break;
      }
    }
    {
      std::lock_guard<std::mutex> write_lock(session->write_mu);
      session->closed = true;
    }
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      auto it = impl_->sessions.find(host_id);
      if (it != impl_->sessions.end() && it->second == session) impl_->sessions.erase(it);
    }
    (void)impl_->keys.registry->updateHostSeen(host_id, session->peer, nullptr);
    logInfo("host %s disconnected", host_id);
    return grpc::Status::OK;
  }

  grpc::Status GetUploadState(grpc::ServerContext* ctx, const v1::UploadRef* req,
                              v1::UploadState* resp) override {
    auto up = uploadingAction(ctx, req->command_id(), req->evidence_id());
    if (!up.ok()) return toGrpc(up.status());
    auto rp = impl_->evidence->begin(req->evidence_id(), up->compression, /*stream=*/false);
    if (rp.status().code() == absl::StatusCode::kAlreadyExists) {
      auto done = impl_->evidence->find(req->evidence_id());
      if (!done.ok()) return toGrpc(done.status());
      auto manifest = impl_->evidence->manifest(req->evidence_id());
      if (!manifest.ok()) return toGrpc(manifest.status());
      resp->set_complete(true);
      resp->set_size(done->record.size);
      resp->set_sha256(done->record.controller_sha256);
      resp->set_manifest_sha256(done->record.manifest_sha256);
      resp->set_immutable(done->record.immutable);
      resp->set_manifest(manifest->first);
      resp->set_manifest_signature(manifest->second);
      return grpc::Status::OK;
    }
    if (!rp.ok()) return toGrpc(rp.status());
    impl_->evidence->end(req->evidence_id());
    resp->set_offset(rp->offset);
    resp->set_prefix_sha256(rp->prefix_sha256);
    return grpc::Status::OK;
  }

  grpc::Status UploadEvidence(grpc::ServerContext* ctx,
                              grpc::ServerReader<v1::EvidenceChunk>* reader,
                              v1::UploadResult* result) override {
    v1::EvidenceChunk m;
    if (!reader->Read(&m)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty evidence upload");
    }
    auto up = uploadingAction(ctx, m.command_id(), m.evidence_id());
    if (!up.ok()) return toGrpc(up.status());
    const std::string id = m.evidence_id();
    // Bounded: each transfer holds a file, a zstd context and a thread of the server.
    const std::string host_id = up->host.host_id;
    {
      std::lock_guard<std::mutex> lock(impl_->upload_mu);
      // UNAVAILABLE: the agent retries (RESOURCE_EXHAUSTED means a full evidence disk).
      if (impl_->uploads_running >= kMaxConcurrentUploads) {
        return toGrpc(absl::UnavailableError(absl::StrFormat(
            "%d evidence uploads are running; try again later", kMaxConcurrentUploads)));
      }
      // One host cannot take every slot (a compromised one might try).
      if (impl_->uploads_by_host[host_id] >= kMaxUploadsPerHost) {
        return toGrpc(absl::UnavailableError(
            absl::StrFormat("%s already has %d evidence uploads running; try again later", host_id,
                            kMaxUploadsPerHost)));
      }
      ++impl_->uploads_running;
      ++impl_->uploads_by_host[host_id];
    }
    absl::Cleanup release_slot = [&] {
      std::lock_guard<std::mutex> lock(impl_->upload_mu);
      --impl_->uploads_running;
      if (--impl_->uploads_by_host[host_id] == 0) impl_->uploads_by_host.erase(host_id);
    };
    auto rp = impl_->evidence->begin(id, up->compression);
    if (!rp.ok()) return toGrpc(rp.status());
    absl::Cleanup end = [&] { impl_->evidence->end(id); };
    if (m.offset() != rp->offset) {
      return toGrpc(absl::FailedPreconditionError(
          absl::StrFormat("evidence %s: the controller holds %d bytes; resume there, not at %d", id,
                          rp->offset, m.offset())));
    }
    // Two stages, so receiving (TLS, protobuf) and storing (chunk hash, content hash, write)
    // use two cores: this thread reads the stream, a worker checks and stores, a few chunks
    // apart at most.
    ChunkPipeline pipe(*impl_->evidence, id, up->host.host_id);
    bool ended_with_last = false;
    for (;;) {
      if (m.evidence_id() != id || m.data().size() > kMaxEvidenceChunk) {
        return toGrpc(absl::InvalidArgumentError("evidence chunk for another id, or too large"));
      }
      impl_->evidence->noteArrival(id, m.data().size(), m.source_size());
      if (m.last()) {
        ended_with_last = true;
        break;
      }
      if (!pipe.push(std::move(m))) break;  // the worker failed: its error is the answer
      m = v1::EvidenceChunk();
      if (!reader->Read(&m)) break;
    }
    auto stored = pipe.finish();
    if (!stored.ok()) return toGrpc(stored.status());
    const std::uint64_t held = *stored;
    if (ended_with_last) return finishUpload(*up, m, result);
    // The stream ended without its last message: what arrived is kept (and synced by
    // finish() above), resumable.
    result->set_received(held);
    logWarning("evidence %s from %s: stream ended at %d bytes; resumable", id, up->host.host_id,
               held);
    return grpc::Status(grpc::StatusCode::ABORTED,
                        absl::StrFormat("evidence %s incomplete at %d bytes", id, held));
  }

 private:
  struct Upload {
    HostRecord host;
    ActionRecord action;
    Compression compression = Compression::kNone;
  };

  // The agent on the other end, if `command_id` is an unfinished evidence action of its host
  // and `evidence_id` belongs to it.
  absl::StatusOr<Upload> uploadingAction(grpc::ServerContext* ctx, const std::string& command_id,
                                         const std::string& evidence_id) {
    WARDEN_ASSIGN_OR_RETURN(PeerIdentity id, peerIdentity(ctx));
    if (id.common_name.rfind("agent:", 0) != 0) {
      return absl::PermissionDeniedError("only agents upload evidence");
    }
    Upload up;
    WARDEN_ASSIGN_OR_RETURN(up.host, impl_->keys.registry->findHost(id.common_name.substr(6)));
    if (up.host.cert_fingerprint != id.fingerprint) {
      return absl::PermissionDeniedError("certificate was replaced or revoked");
    }
    auto action = impl_->keys.registry->findAction(command_id);
    if (!action.ok() || action->host_id != up.host.host_id ||
        (action->kind != "image" && action->kind != "collect") || action->finished()) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "%s has no unfinished evidence action %s", up.host.host_id, command_id.substr(0, 64)));
    }
    // ACTION-n, n from 1: one per source the action names (one bundle for collect), so an
    // agent cannot make up items the operator did not ask for.
    const std::string suffix = evidence_id.rfind(command_id + "-", 0) == 0
                                   ? evidence_id.substr(command_id.size() + 1)
                                   : "";
    const int limit = action->kind == "collect" ? 1 : kMaxEvidencePerAction;
    if (!EvidenceStore::validId(evidence_id) || suffix.empty() || suffix.size() > 2 ||
        suffix.find_first_not_of("0123456789") != std::string::npos || suffix[0] == '0' ||
        std::atoi(suffix.c_str()) > limit) {
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid evidence id '%s'", evidence_id.substr(0, 80)));
    }
    up.action = std::move(*action);
    for (absl::string_view arg : absl::StrSplit(up.action.params, ' ')) {
      if (arg == "compress=zstd") up.compression = Compression::kZstd;
    }
    return up;
  }

  grpc::Status finishUpload(const Upload& up, const v1::EvidenceChunk& m,
                            v1::UploadResult* result) {
    if (auto v =
            crypto::ed25519Verify(up.host.receipt_public_key, m.manifest(), m.manifest_signature());
        !v.ok()) {
      return toGrpc(
          absl::PermissionDeniedError("the evidence manifest's signature does not verify"));
    }
    // The manifest must describe this item: its id, action and hash.
    EvidenceRecord record;
    try {
      const YAML::Node n = YAML::Load(m.manifest());
      if (n["evidence_id"].as<std::string>("") != m.evidence_id() ||
          n["action_id"].as<std::string>("") != m.command_id() ||
          n["sha256"].as<std::string>("") != crypto::hex(m.total_sha256())) {
        return toGrpc(
            absl::InvalidArgumentError("the evidence manifest names another item, action or hash"));
      }
      record.source = n["source"]["path"].as<std::string>("");
    } catch (const YAML::Exception& e) {
      return toGrpc(absl::InvalidArgumentError(
          absl::StrFormat("the evidence manifest does not parse: %s", e.what())));
    }
    record.action_id = up.action.id;
    record.host_id = up.host.host_id;
    record.operator_name = up.action.requested_by;
    record.kind = up.action.kind;
    auto stored = impl_->evidence->finish(m.evidence_id(), m.total_size(), m.total_sha256(),
                                          m.manifest(), m.manifest_signature(), record);
    if (!stored.ok()) {
      logError("evidence %s from %s: %s", m.evidence_id(), up.host.host_id,
               stored.status().message());
      return toGrpc(stored.status());
    }
    logInfo("evidence %s from %s stored: %d bytes, sha256 %s, %s%s", stored->id, up.host.host_id,
            stored->size, crypto::hex(stored->controller_sha256), stored->stored_name,
            stored->immutable ? ", immutable" : "");
    result->set_received(stored->size);
    result->set_complete(true);
    result->set_sha256(stored->controller_sha256);
    result->set_immutable(stored->immutable);
    return grpc::Status::OK;
  }

  absl::Status enroll(const v1::EnrollRequest& req, v1::EnrollResponse* resp) {
    WARDEN_ASSIGN_OR_RETURN(JoinToken token, JoinToken::parse(req.token()));
    if (token.ca_fingerprint != impl_->keys.ca_fingerprint) {
      return absl::PermissionDeniedError("join token was issued by another controller");
    }
    if (!validHostId(req.host_id())) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid host id '%s' (letters, digits, '.', '-', '_'; at most 63)", req.host_id()));
    }
    if (req.receipt_public_key().size() != 32) {
      return absl::InvalidArgumentError("receipt key must be a raw 32-byte Ed25519 key");
    }
    WARDEN_RETURN_IF_ERROR(
        impl_->keys.registry->consumeToken(token.id, crypto::sha256(token.secret), req.host_id()));
    crypto::CertProfile profile;
    profile.common_name = "agent:" + req.host_id();
    profile.client = true;
    WARDEN_ASSIGN_OR_RETURN(std::string cert,
                            crypto::signCsr(impl_->keys.ca, req.csr_pem(), profile));
    WARDEN_ASSIGN_OR_RETURN(std::string fp, crypto::certFingerprint(cert));
    HostRecord host;
    host.host_id = req.host_id();
    host.cert_fingerprint = fp;
    host.receipt_public_key = req.receipt_public_key();
    host.enrolled_ms = nowUnixMs();
    // consumeToken let an existing host id through only with a token bound to it: that is a
    // deliberate re-enrollment (a reinstalled host), which replaces the old identity.
    std::unique_lock<std::shared_mutex> identity(impl_->identity_mu);
    const bool reenroll = impl_->keys.registry->findHost(req.host_id()).ok();
    // The agent's key is in the log before any receipt it signs can be.
    LogEntry e;
    e.type = entry_type::kEnrollment;
    e.actor = "agent:" + req.host_id();
    e.host_id = req.host_id();
    e.ref = token.id;
    e.body = encodeKeyRecord(
        KeyRecord{kKeyRecordVersion, "agent", req.host_id(), "", req.receipt_public_key(), fp});
    e.detail =
        absl::StrFormat("%s with join token %s", reenroll ? "re-enrolled" : "enrolled", token.id);
    WARDEN_RETURN_IF_ERROR(impl_->appendEntry(e).status());
    WARDEN_RETURN_IF_ERROR(impl_->keys.registry->addHost(host, reenroll));
    // The replaced identity may not go on acting: its stream ends now.
    if (reenroll) impl_->cancelSession(req.host_id());
    resp->set_host_id(req.host_id());
    resp->set_certificate_pem(cert);
    resp->set_ca_pem(impl_->keys.ca.cert_pem);
    resp->set_command_public_key(impl_->keys.command_key.publicKey());
    resp->set_log_vkey(impl_->keys.log_vkey);
    impl_->recordEvent(req.host_id(), "enrolled",
                       absl::StrFormat("certificate %s", fp.substr(0, 16)));
    // A host that joins later gets the fleet-wide blocks with its first connection.
    if (auto fleet = impl_->keys.registry->fleetBlocks(); fleet.ok() && !fleet->empty()) {
      std::vector<std::string> addresses;
      for (const auto& b : *fleet) addresses.push_back(b[0]);
      auto a = impl_->createAction("", "controller", req.host_id(), "block",
                                   "fleet-wide blocks in force", {}, addresses);
      if (!a.ok()) {
        logError("host %s: cannot queue fleet-wide blocks: %s", req.host_id(),
                 a.status().message());
      }
    }
    return absl::OkStatus();
  }

  Impl* impl_;
};

class ControllerServer::Impl::OperatorService final : public v1::Operator::Service {
 public:
  explicit OperatorService(Impl* impl) : impl_(impl) {}

  grpc::Status CreateToken(grpc::ServerContext* ctx, const v1::CreateTokenRequest* req,
                           v1::CreateTokenResponse* resp) override {
    auto op = authorize(ctx, "CreateToken", {"admin"});
    if (!op.ok()) return toGrpc(op.status());
    if (req->ttl_seconds() < 0 || req->ttl_seconds() > 30 * 24 * 3600) {
      return toGrpc(absl::InvalidArgumentError("token ttl must be between 1s and 30 days"));
    }
    if (!req->host_id().empty() && !validHostId(req->host_id())) {
      return toGrpc(
          absl::InvalidArgumentError(absl::StrFormat("invalid host id '%s'", req->host_id())));
    }
    std::shared_lock<std::shared_mutex> identity(impl_->identity_mu);
    if (auto still = stillAuthorized(*op, {"admin"}); !still.ok()) return toGrpc(still);
    auto token = JoinToken::generate(impl_->keys.ca_fingerprint);
    if (!token.ok()) return toGrpc(token.status());
    const std::int64_t ttl = req->ttl_seconds() == 0 ? 3600 : req->ttl_seconds();
    const std::int64_t expires = nowUnixMs() + ttl * 1000;
    auto s = impl_->keys.registry->addToken(token->id, crypto::sha256(token->secret),
                                            req->host_id(), expires, op->name);
    if (!s.ok()) return toGrpc(s);
    logInfo("operator %s created join token %s (expires in %ds%s)", op->name, token->id, ttl,
            req->host_id().empty() ? "" : ", host " + req->host_id());
    LogEntry e;
    e.type = entry_type::kEvent;
    e.actor = "operator:" + op->name;
    e.host_id = req->host_id();
    e.ref = token->id;
    e.detail = absl::StrFormat("join token %s created, valid %ds%s", token->id, ttl,
                               req->host_id().empty() ? "" : " for host " + req->host_id());
    if (auto logged = impl_->appendEntry(e); !logged.ok()) return toGrpc(logged.status());
    resp->set_token(token->toString());
    resp->set_expires_unix_ms(expires);
    return grpc::Status::OK;
  }

  grpc::Status ListHosts(grpc::ServerContext* ctx, const v1::ListHostsRequest*,
                         v1::ListHostsResponse* resp) override {
    auto op = authorize(ctx, "ListHosts", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto hosts = impl_->keys.registry->listHosts();
    if (!hosts.ok()) return toGrpc(hosts.status());
    for (const auto& h : *hosts) {
      auto* out = resp->add_hosts();
      out->set_host_id(h.host_id);
      out->set_connected(impl_->session(h.host_id) != nullptr);
      out->set_last_seen_unix_ms(h.last_seen_ms);
      out->set_enrolled_unix_ms(h.enrolled_ms);
      *out->mutable_facts() = h.facts;
      // What the agent reports is the truth about its rules; the registry is the fallback.
      out->set_containment(h.facts.isolated() ? "isolated" : h.containment);
      out->set_peer(h.peer);
      if (auto events = impl_->keys.registry->recentEvents(h.host_id, 10); events.ok()) {
        for (const auto& e : *events) {
          auto* ev = out->add_events();
          ev->set_kind(e.kind);
          ev->set_detail(e.detail);
          ev->set_at_unix_ms(e.at_ms);
        }
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status Submit(grpc::ServerContext* ctx, const v1::SubmitRequest* req,
                      v1::SubmitResponse* resp) override {
    auto op = authorize(ctx, "Submit", {"admin", "responder"});
    if (!op.ok()) return toGrpc(op.status());
    const std::string actor = "operator:" + op->name;
    auto request = verifyRequest(*op, *req);
    if (!request.ok()) {
      logWarning("operator %s: unsigned or invalid request refused: %s", op->name,
                 request.status().message());
      impl_->logRefusal(actor, "", "",
                        absl::StrFormat("request refused: %s", request.status().message()));
      return toGrpc(request.status());
    }
    // A fleet-wide change and an enrollment (which sends the fleet-wide blocks in force) are
    // logged one after the other, never interleaved: the log then says which blocks each
    // enrolling host was sent, and why.
    std::shared_lock<std::shared_mutex> identity(impl_->identity_mu, std::defer_lock);
    std::unique_lock<std::shared_mutex> fleet_lock(impl_->identity_mu, std::defer_lock);
    if (request->all_hosts) {
      fleet_lock.lock();
    } else {
      identity.lock();
    }
    // Authorised before waiting for the lock; revoked in the meantime means refused.
    if (auto still = stillAuthorized(*op, {"admin", "responder"}); !still.ok()) {
      impl_->logRefusal(actor, "", request->id,
                        absl::StrFormat("request %s refused: %s", request->id, still.message()));
      return toGrpc(still);
    }
    LogEntry e;
    e.type = entry_type::kRequest;
    e.actor = actor;
    e.ref = request->id;
    e.body = req->request();
    e.signature = req->request_signature();
    if (auto logged = impl_->appendEntry(e); !logged.ok()) {
      logError("operator %s: request %s not logged, refused: %s", op->name, request->id,
               logged.status().ToString());
      return toGrpc(absl::UnavailableError(
          absl::StrFormat("the action log refused the request: %s", logged.status().message())));
    }
    if (impl_->faults.exit_after_request) _exit(70);
    std::vector<ActionRecord> created;
    const absl::Status dispatched = submit(*op, request->id, toSubmit(*request), &created);
    if (fleet_lock.owns_lock()) fleet_lock.unlock();
    if (identity.owns_lock()) identity.unlock();
    // Sent outside the lock: a host that does not read its stream holds up nobody else.
    std::vector<std::string> sent;
    for (const auto& a : created) {
      impl_->deliver(a);
      sent.push_back(a.id);
    }
    absl::StatusOr<std::vector<std::string>> ids = std::move(sent);
    if (!dispatched.ok()) ids = dispatched;
    if (!ids.ok()) {
      logWarning("operator %s: %s %s rejected: %s", op->name, request->kind,
                 absl::StrJoin(request->hosts, ","), ids.status().message());
      impl_->logRefusal(actor, "", request->id,
                        absl::StrFormat("request %s (%s) refused: %s", request->id, request->kind,
                                        ids.status().message()));
      return toGrpc(ids.status());
    }
    // Wait for every receipt (or the deadline, or the operator giving up).
    const auto deadline =
        std::chrono::steady_clock::now() +
        std::chrono::milliseconds(std::min<std::uint32_t>(req->wait_ms(), kMaxWaitMs));
    for (;;) {
      bool all_done = true;
      resp->clear_actions();
      for (const auto& id : *ids) {
        auto a = impl_->keys.registry->findAction(id);
        if (!a.ok()) return toGrpc(a.status());
        all_done = all_done && a->finished();
        *resp->add_actions() = impl_->toProto(*a);
      }
      if (all_done || req->wait_ms() == 0 || ctx->IsCancelled() ||
          std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      std::unique_lock<std::mutex> lock(impl_->mu);
      impl_->finished_cv.wait_until(lock, std::min(deadline, std::chrono::steady_clock::now() +
                                                                 std::chrono::milliseconds(200)));
    }
    return grpc::Status::OK;
  }

  grpc::Status ListActions(grpc::ServerContext* ctx, const v1::ListActionsRequest* req,
                           v1::ListActionsResponse* resp) override {
    auto op = authorize(ctx, "ListActions", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    const int limit = req->limit() == 0 ? 100 : std::min<int>(req->limit(), 10000);
    if (!req->host_id().empty()) {
      if (auto h = impl_->keys.registry->findHost(req->host_id()); !h.ok()) {
        return toGrpc(h.status());
      }
    }
    auto actions = impl_->keys.registry->listActions(req->host_id(), limit);
    if (!actions.ok()) return toGrpc(actions.status());
    for (auto& a : *actions) {
      if (!a.finished() && a.expires_ms <= nowUnixMs()) a.state = "expired";
      *resp->add_actions() = impl_->toProto(a);
    }
    return grpc::Status::OK;
  }

  grpc::Status AddOperator(grpc::ServerContext* ctx, const v1::AddOperatorRequest* req,
                           v1::AddOperatorResponse* resp) override {
    auto op = authorize(ctx, "AddOperator", {"admin"});
    if (!op.ok()) return toGrpc(op.status());
    auto s = addOperator(*op, *req, resp);
    if (!s.ok()) {
      logWarning("operator %s: adding '%s' refused: %s", op->name, req->name(), s.message());
      impl_->logRefusal("operator:" + op->name, "", "",
                        absl::StrFormat("adding operator '%s' refused: %s",
                                        req->name().substr(0, 64), s.message()));
    }
    return toGrpc(s);
  }

  grpc::Status RevokeOperator(grpc::ServerContext* ctx, const v1::RevokeOperatorRequest* req,
                              v1::RevokeOperatorResponse*) override {
    auto op = authorize(ctx, "RevokeOperator", {"admin"});
    if (!op.ok()) return toGrpc(op.status());
    auto s = revokeOperator(*op, *req);
    if (!s.ok()) {
      logWarning("operator %s: revoking '%s' refused: %s", op->name, req->name(), s.message());
      impl_->logRefusal("operator:" + op->name, "", "",
                        absl::StrFormat("revoking operator '%s' refused: %s",
                                        req->name().substr(0, 64), s.message()));
    }
    return toGrpc(s);
  }

  absl::Status revokeOperator(const OperatorRecord& by, const v1::RevokeOperatorRequest& req) {
    if (req.reason().size() > 4096) return absl::InvalidArgumentError("reason is too long");
    std::unique_lock<std::shared_mutex> identity(impl_->identity_mu);
    WARDEN_RETURN_IF_ERROR(stillAuthorized(by, {"admin"}));
    WARDEN_ASSIGN_OR_RETURN(OperatorRecord target, impl_->keys.registry->findOperator(req.name()));
    if (target.role == "revoked") {
      return absl::FailedPreconditionError(
          absl::StrFormat("operator '%s' is already revoked", req.name()));
    }
    WARDEN_ASSIGN_OR_RETURN(Request signed_request,
                            verifySignedRequest(by, req.request(), req.request_signature()));
    WARDEN_ASSIGN_OR_RETURN(OperatorChange change, operatorChangeOf(signed_request));
    if (!change.revoke || change.name != req.name() || signed_request.reason != req.reason()) {
      return absl::InvalidArgumentError("the signed request does not match the revocation");
    }
    if (target.role == "admin") {
      WARDEN_ASSIGN_OR_RETURN(auto all, impl_->keys.registry->listOperators());
      const auto admins = std::count_if(all.begin(), all.end(),
                                        [](const OperatorRecord& o) { return o.role == "admin"; });
      if (admins <= 1) {
        return absl::FailedPreconditionError("refusing to revoke the last admin");
      }
    }
    LogEntry e;
    e.type = entry_type::kOperator;
    e.actor = "operator:" + by.name;
    e.ref = signed_request.id;
    e.body = req.request();
    e.signature = req.request_signature();
    e.detail = absl::StrFormat("operator %s (%s) revoked by %s%s", target.name, target.role,
                               by.name, req.reason().empty() ? "" : ": " + req.reason());
    WARDEN_RETURN_IF_ERROR(impl_->appendEntry(e).status());
    WARDEN_RETURN_IF_ERROR(impl_->keys.registry->revokeOperator(target.name));
    logInfo("operator %s revoked operator %s (%s)", by.name, target.name, target.role);
    return absl::OkStatus();
  }

  absl::Status addOperator(const OperatorRecord& op, const v1::AddOperatorRequest& req,
                           v1::AddOperatorResponse* resp) {
    if (!validHostId(req.name())) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid operator name '%s' (letters, digits, '.', '-', '_'; at most 63)", req.name()));
    }
    if (req.role() != "admin" && req.role() != "responder" && req.role() != "auditor") {
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid role '%s' (admin, responder or auditor)", req.role()));
    }
    if (req.signing_public_key().size() != 32) {
      return absl::InvalidArgumentError("signing key must be a raw 32-byte Ed25519 key");
    }
    std::unique_lock<std::shared_mutex> identity(impl_->identity_mu);
    WARDEN_RETURN_IF_ERROR(stillAuthorized(op, {"admin"}));
    if (impl_->keys.registry->findOperator(req.name()).ok()) {
      return absl::AlreadyExistsError(absl::StrFormat("operator '%s' already exists", req.name()));
    }
    // The admin's signed request is what the log keeps: an auditor checks the new key was
    // vouched for by an admin, not just by the controller.
    WARDEN_ASSIGN_OR_RETURN(Request signed_request,
                            verifySignedRequest(op, req.request(), req.request_signature()));
    WARDEN_ASSIGN_OR_RETURN(OperatorChange change, operatorChangeOf(signed_request));
    if (change.revoke || change.name != req.name() || change.role != req.role() ||
        change.signing_key != req.signing_public_key()) {
      return absl::InvalidArgumentError("the signed request does not match the operator to add");
    }
    crypto::CertProfile profile;
    profile.common_name = "operator:" + req.name();
    profile.client = true;
    WARDEN_ASSIGN_OR_RETURN(std::string cert,
                            crypto::signCsr(impl_->keys.ca, req.csr_pem(), profile));
    WARDEN_ASSIGN_OR_RETURN(std::string fp, crypto::certFingerprint(cert));
    LogEntry e;
    e.type = entry_type::kOperator;
    e.actor = "operator:" + op.name;
    e.ref = signed_request.id;
    e.body = req.request();
    e.signature = req.request_signature();
    e.detail = absl::StrFormat("operator %s (%s) added by %s; certificate %s", req.name(),
                               req.role(), op.name, fp.substr(0, 16));
    WARDEN_RETURN_IF_ERROR(impl_->appendEntry(e).status());
    WARDEN_RETURN_IF_ERROR(impl_->keys.registry->addOperator(
        OperatorRecord{req.name(), req.role(), fp, req.signing_public_key()}));
    logInfo("operator %s added operator %s with role %s", op.name, req.name(), req.role());
    resp->set_certificate_pem(cert);
    resp->set_ca_pem(impl_->keys.ca.cert_pem);
    resp->set_controller(impl_->keys.advertise);
    return absl::OkStatus();
  }

  grpc::Status ListBlocks(grpc::ServerContext* ctx, const v1::ListBlocksRequest*,
                          v1::ListBlocksResponse* resp) override {
    auto op = authorize(ctx, "ListBlocks", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto blocks = impl_->keys.registry->fleetBlocks();
    if (!blocks.ok()) return toGrpc(blocks.status());
    for (const auto& b : *blocks) {
      auto* out = resp->add_blocks();
      out->set_address(b[0]);
      out->set_created_by(b[1]);
      out->set_created_unix_ms(std::stoll(b[2]));
      out->set_reason(b[3]);
    }
    return grpc::Status::OK;
  }

  grpc::Status ReadLog(grpc::ServerContext* ctx, const v1::ReadLogRequest* req,
                       v1::ReadLogResponse* resp) override {
    auto op = authorize(ctx, "ReadLog", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    const std::uint64_t size = impl_->log->size();
    resp->set_tree_size(size);
    const std::uint64_t limit = req->limit() == 0 ? 100000 : req->limit();
    std::size_t bytes = 0;
    for (std::uint64_t i = req->start(); i < size && i - req->start() < limit; ++i) {
      auto e = impl_->log->entry(i);
      if (!e.ok()) return toGrpc(e.status());
      if (bytes + e->size() > kMaxLogReadBytes && resp->entries_size() > 0) break;
      bytes += e->size();
      resp->add_entries(std::move(*e));
    }
    return grpc::Status::OK;
  }

  grpc::Status GetCheckpoint(grpc::ServerContext* ctx, const v1::GetCheckpointRequest* req,
                             v1::GetCheckpointResponse* resp) override {
    auto op = authorize(ctx, "GetCheckpoint", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto cp = impl_->log->checkpoint();
    if (!cp.ok()) return toGrpc(cp.status());
    resp->set_checkpoint(*cp);
    resp->set_origin(impl_->keys.log_origin);
    resp->set_vkey(impl_->keys.log_vkey);
    if (req->all()) {
      auto all = impl_->log->checkpoints();
      if (!all.ok()) return toGrpc(all.status());
      // Identical re-signs once; beyond kMaxCheckpointsListed, an even spread plus the newest.
      std::vector<std::string> distinct;
      for (auto& c : *all) {
        if (distinct.empty() || distinct.back() != c) distinct.push_back(std::move(c));
      }
      const std::size_t n = distinct.size();
      const std::size_t step = n <= kMaxCheckpointsListed ? 1 : n / kMaxCheckpointsListed + 1;
      for (std::size_t i = 0; i < n; ++i) {
        if (i % step == 0 || i + 1 == n) resp->add_checkpoints(std::move(distinct[i]));
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ProveEntry(grpc::ServerContext* ctx, const v1::ProveEntryRequest* req,
                          v1::ProveEntryResponse* resp) override {
    auto op = authorize(ctx, "ProveEntry", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto cp = impl_->log->checkpoint();
    if (!cp.ok()) return toGrpc(cp.status());
    auto parsed = note::parseSignedCheckpoint(*cp);
    if (!parsed.ok()) return toGrpc(parsed.status());
    if (req->index() >= parsed->size) {
      return toGrpc(absl::OutOfRangeError(
          absl::StrFormat("no entry %d: the log has %d entries", req->index(), parsed->size)));
    }
    auto entry = impl_->log->entry(req->index());
    if (!entry.ok()) return toGrpc(entry.status());
    auto proof = impl_->log->inclusionProof(req->index(), parsed->size);
    if (!proof.ok()) return toGrpc(proof.status());
    resp->set_index(req->index());
    resp->set_tree_size(parsed->size);
    resp->set_entry(*entry);
    for (auto& h : *proof) resp->add_proof(std::move(h));
    resp->set_checkpoint(*cp);
    return grpc::Status::OK;
  }

  grpc::Status GetAction(grpc::ServerContext* ctx, const v1::GetActionRequest* req,
                         v1::Action* resp) override {
    auto op = authorize(ctx, "GetAction", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto a = impl_->keys.registry->findAction(req->id());
    if (!a.ok()) return toGrpc(a.status());
    if (!a->finished() && a->expires_ms <= nowUnixMs()) a->state = "expired";
    *resp = impl_->toProto(*a);
    return grpc::Status::OK;
  }

  grpc::Status ListEvidence(grpc::ServerContext* ctx, const v1::ListEvidenceRequest* req,
                            v1::ListEvidenceResponse* resp) override {
    auto op = authorize(ctx, "ListEvidence", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto items = impl_->evidence->list();
    if (!items.ok()) return toGrpc(items.status());
    const auto progress = impl_->evidence->progress();
    for (const StoredEvidence& e : *items) {
      v1::EvidenceItem item = evidenceItem(e, progress);
      if (!req->host_id().empty() && item.host_id() != req->host_id()) continue;
      if (!req->action_id().empty() && item.action_id() != req->action_id()) continue;
      *resp->add_items() = std::move(item);
    }
    return grpc::Status::OK;
  }

  grpc::Status ShowEvidence(grpc::ServerContext* ctx, const v1::ShowEvidenceRequest* req,
                            v1::ShowEvidenceResponse* resp) override {
    auto op = authorize(ctx, "ShowEvidence", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto item = findEvidence(req->id());
    if (!item.ok()) return toGrpc(item.status());
    *resp->mutable_item() = std::move(*item);
    if (resp->item().state() == "complete") {
      auto m = impl_->evidence->manifest(req->id());
      if (!m.ok()) return toGrpc(m.status());
      resp->set_manifest(m->first);
      resp->set_manifest_signature(m->second);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetEvidence(grpc::ServerContext* ctx, const v1::ShowEvidenceRequest* req,
                           grpc::ServerWriter<v1::EvidenceData>* writer) override {
    auto op = authorize(ctx, "GetEvidence", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto found = impl_->evidence->find(req->id());
    if (!found.ok()) return toGrpc(found.status());
    v1::EvidenceData first;
    *first.mutable_item() = evidenceItem(*found, {});
    if (!writer->Write(first)) return grpc::Status(grpc::StatusCode::CANCELLED, "reader gone");
    // Chain of custody: every copy handed out is in the action log.
    LogEntry e;
    e.type = entry_type::kEvent;
    e.actor = "operator:" + op->name;
    e.host_id = found->record.host_id;
    e.ref = req->id();
    e.detail = absl::StrFormat("evidence %s copied out (%d bytes, sha256 %s)", req->id(),
                               found->record.size, crypto::hex(found->record.controller_sha256));
    if (auto logged = impl_->appendEntry(e); !logged.ok()) return toGrpc(logged.status());
    logInfo("operator %s reads evidence %s", op->name, req->id());
    auto s = impl_->evidence->readContent(req->id(), [&](std::string_view piece) {
      v1::EvidenceData d;
      d.set_data(piece.data(), piece.size());
      return !ctx->IsCancelled() && writer->Write(d);
    });
    return toGrpc(s);
  }

  grpc::Status VerifyEvidence(grpc::ServerContext* ctx, const v1::ShowEvidenceRequest* req,
                              v1::VerifyEvidenceResponse* resp) override {
    auto op = authorize(ctx, "VerifyEvidence", {"admin", "responder", "auditor"});
    if (!op.ok()) return toGrpc(op.status());
    auto found = impl_->evidence->find(req->id());
    if (!found.ok()) return toGrpc(found.status());
    const EvidenceRecord& r = found->record;
    *resp->mutable_item() = evidenceItem(*found, {});
    resp->set_receipt_log_index(-1);
    bool all = true;
    auto check = [&](const char* name, bool ok, const std::string& detail) {
      auto* c = resp->add_checks();
      c->set_name(name);
      c->set_ok(ok);
      c->set_detail(detail);
      all = all && ok;
    };
    // 1. The stored bytes, re-read now.
    auto m = impl_->evidence->measure(req->id());
    if (!m.ok()) {
      check("stored file", false, std::string(m.status().message()));
    } else {
      check("stored file", m->stored_size == r.stored_size && m->stored_sha256 == r.stored_sha256,
            absl::StrFormat("%s: %d bytes, sha256 %s (recorded %d bytes, %s)", r.stored_name,
                            m->stored_size, crypto::hex(m->stored_sha256), r.stored_size,
                            crypto::hex(r.stored_sha256)));
      check("content",
            m->size == r.size && m->sha256 == r.controller_sha256 &&
                r.controller_sha256 == r.agent_sha256,
            absl::StrFormat("%d bytes, sha256 %s (recorded %d bytes, %s)", m->size,
                            crypto::hex(m->sha256), r.size, crypto::hex(r.controller_sha256)));
    }
    std::string why;
    const bool immutable_now = isImmutable(found->path, &why);
    check("read-only", !r.immutable || immutable_now,
          r.immutable ? (immutable_now ? "immutable attribute set"
                                       : "the immutable attribute was lifted since it was stored")
                      : "mode 0444; the file system or the controller's capabilities did not "
                        "allow the immutable attribute");
    // 2. The agent's signed manifest.
    auto host = impl_->keys.registry->findHost(r.host_id);
    auto manifest = impl_->evidence->manifest(req->id());
    if (!host.ok() || !manifest.ok()) {
      check("manifest", false,
            std::string(!host.ok() ? host.status().message() : manifest.status().message()));
    } else {
      const bool signed_ok =
          crypto::ed25519Verify(host->receipt_public_key, manifest->first, manifest->second).ok();
      std::string named;
      try {
        named = YAML::Load(manifest->first)["sha256"].as<std::string>("");
      } catch (const YAML::Exception&) {
      }
      check("manifest",
            signed_ok && crypto::sha256(manifest->first) == r.manifest_sha256 &&
                named == crypto::hex(r.agent_sha256),
            absl::StrFormat("signed by %s's receipt key: %s; sha256 %s; names content %s",
                            r.host_id, signed_ok ? "yes" : "NO",
                            crypto::hex(crypto::sha256(manifest->first)), named));
    }
    // 3. The agent's signed receipt, as the action log holds it.
    auto action = impl_->keys.registry->findAction(r.action_id);
    if (!action.ok() || action->receipt.empty() || !host.ok()) {
      check("receipt", false, "the action has no receipt");
    } else {
      auto receipt = decodeReceipt(action->receipt);
      const bool sig = crypto::ed25519Verify(host->receipt_public_key, action->receipt,
                                             action->receipt_signature)
                           .ok();
      auto detail = [&](const std::string& key) {
        if (!receipt.ok()) return std::string();
        auto it = receipt->details.find(r.id + "." + key);
        return it == receipt->details.end() ? std::string() : it->second;
      };
      check("receipt",
            // Per item: in an action that imaged several devices, one failed device does not
            // undo the others.
            sig && receipt.ok() && detail("sha256") == crypto::hex(r.agent_sha256) &&
                detail("controller_sha256") == crypto::hex(r.controller_sha256) &&
                detail("manifest_sha256") == crypto::hex(r.manifest_sha256),
            absl::StrFormat("action %s, signed by the agent: %s; names sha256 %s, manifest %s",
                            r.action_id, sig ? "yes" : "NO", detail("sha256"),
                            detail("manifest_sha256")));
      std::int64_t index = -1;
      for (std::uint64_t i = action->log_index < 0 ? 0 : action->log_index;
           i < impl_->log->size() && index < 0; ++i) {
        auto bytes = impl_->log->entry(i);
        if (!bytes.ok()) break;
        auto e = decodeLogEntry(*bytes);
        if (e.ok() && e->type == entry_type::kReceipt && e->ref == r.action_id &&
            e->body == action->receipt && e->signature == action->receipt_signature) {
          index = static_cast<std::int64_t>(i);
        }
      }
      resp->set_receipt_log_index(index);
      check("action log", index >= 0,
            index >= 0 ? absl::StrFormat("RECEIPT entry %d ('warden audit prove %d' proves it)",
                                         index, index)
                       : "no RECEIPT entry of the action carries this receipt");
    }
    resp->set_ok(all);
    logInfo("operator %s verified evidence %s: %s", op->name, req->id(), all ? "ok" : "FAILED");
    LogEntry e;
    e.type = entry_type::kEvent;
    e.actor = "operator:" + op->name;
    e.host_id = r.host_id;
    e.ref = req->id();
    std::string failed;
    for (const auto& c : resp->checks()) {
      if (!c.ok()) failed += (failed.empty() ? "" : ", ") + c.name();
    }
    e.detail = all ? absl::StrFormat("evidence %s verified", req->id())
                   : absl::StrFormat("evidence %s FAILED verification: %s", req->id(), failed);
    if (auto logged = impl_->appendEntry(e); !logged.ok()) return toGrpc(logged.status());
    return grpc::Status::OK;
  }

 private:
  v1::EvidenceItem evidenceItem(const StoredEvidence& e,
                                const std::map<std::string, TransferProgress>& progress) {
    v1::EvidenceItem item;
    item.set_id(e.id);
    item.set_state(e.state);
    item.set_size(e.size);
    const EvidenceRecord& r = e.record;
    if (e.state == "complete") {
      item.set_action_id(r.action_id);
      item.set_host_id(r.host_id);
      item.set_kind(r.kind);
      item.set_source(r.source);
      item.set_operator_(r.operator_name);
      item.set_sha256(crypto::hex(r.controller_sha256));
      item.set_stored_name(r.stored_name);
      item.set_stored_size(r.stored_size);
      item.set_stored_sha256(crypto::hex(r.stored_sha256));
      item.set_compression(std::string(compressionName(r.compression)));
      item.set_immutable(r.immutable);
      item.set_started_unix_ms(r.started_unix_ms);
      item.set_finished_unix_ms(r.finished_unix_ms);
      item.set_wire_bytes(r.wire_bytes);
      item.set_streams(r.streams);
      item.set_manifest_sha256(crypto::hex(r.manifest_sha256));
      item.set_record_json(r.toJson());
      return item;
    }
    // In progress or given up: what the action and this process's transfer figures say.
    const std::size_t dash = e.id.rfind('-');
    const std::string action_id = dash == std::string::npos ? e.id : e.id.substr(0, dash);
    item.set_action_id(action_id);
    if (auto a = impl_->keys.registry->findAction(action_id); a.ok()) {
      item.set_host_id(a->host_id);
      item.set_kind(a->kind);
      item.set_operator_(a->requested_by);
      // An action that ended (or expired) without the item: it can no longer complete.
      if (e.state == "receiving" && (a->finished() || a->expires_ms <= nowUnixMs())) {
        item.set_state("incomplete");
      }
    }
    if (auto p = progress.find(e.id); p != progress.end()) {
      item.set_total(p->second.total);
      item.set_started_unix_ms(p->second.started_unix_ms);
      item.set_finished_unix_ms(p->second.updated_unix_ms);
      item.set_wire_bytes(p->second.wire_bytes);
      item.set_streams(p->second.streams);
    }
    return item;
  }

  absl::StatusOr<v1::EvidenceItem> findEvidence(const std::string& id) {
    if (!EvidenceStore::validId(id)) {
      return absl::InvalidArgumentError(
          absl::StrFormat("invalid evidence id '%s'", id.substr(0, 80)));
    }
    WARDEN_ASSIGN_OR_RETURN(StoredEvidence e, impl_->evidence->lookup(id));
    return evidenceItem(e, impl_->evidence->progress());
  }

  absl::StatusOr<OperatorRecord> authorize(grpc::ServerContext* ctx, const char* rpc,
                                           std::initializer_list<const char*> roles) {
    auto id = peerIdentity(ctx);
    if (!id.ok()) {
      logWarning("%s from %s refused: %s", rpc, ctx->peer(), id.status().message());
      impl_->logAnonymousRefusal(
          "", absl::StrFormat("%s from %s refused: %s", rpc, ctx->peer(), id.status().message()));
      return id.status();
    }
    if (id->common_name.rfind("operator:", 0) != 0) {
      logWarning("%s from %s refused: %s is not an operator", rpc, ctx->peer(), id->common_name);
      impl_->logAnonymousRefusal("", absl::StrFormat("%s from %s refused: %s is not an operator",
                                                     rpc, ctx->peer(), id->common_name));
      return absl::PermissionDeniedError("this certificate is not an operator's");
    }
    auto op = impl_->keys.registry->findOperator(id->common_name.substr(9));
    if (!op.ok() || op->cert_fingerprint != id->fingerprint) {
      logWarning("%s from %s refused: unknown or revoked operator certificate", rpc, ctx->peer());
      impl_->logAnonymousRefusal(
          "", absl::StrFormat("%s from %s refused: unknown or revoked certificate of %s", rpc,
                              ctx->peer(), id->common_name));
      return absl::PermissionDeniedError("operator certificate is unknown or revoked");
    }
    for (const char* r : roles) {
      if (op->role == r) return op;
    }
    logWarning("%s by operator %s (%s) refused: role not allowed", rpc, op->name, op->role);
    impl_->logRefusal(
        "operator:" + op->name, "", "",
        absl::StrFormat("%s refused: operator %s has role %s", rpc, op->name, op->role));
    return absl::PermissionDeniedError(
        absl::StrFormat("operator %s has role %s, which may not call %s", op->name, op->role, rpc));
  }

  // The operator's signed request: signature by their logged key, their name, fresh, unseen.
  absl::StatusOr<Request> verifyRequest(const OperatorRecord& op, const v1::SubmitRequest& req) {
    return verifySignedRequest(op, req.request(), req.request_signature());
  }

  absl::StatusOr<Request> verifySignedRequest(const OperatorRecord& op, const std::string& bytes,
                                              const std::string& signature) {
    if (bytes.empty() || signature.empty()) {
      return absl::InvalidArgumentError(
          "the request is not signed (a warden CLI older than the action log?)");
    }
    if (op.signing_public_key.size() != 32) {
      return absl::FailedPreconditionError(
          absl::StrFormat("operator %s has no signing key on record", op.name));
    }
    if (auto v = crypto::ed25519Verify(op.signing_public_key, bytes, signature); !v.ok()) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "the request's signature does not verify under %s's signing key", op.name));
    }
    WARDEN_ASSIGN_OR_RETURN(Request r, decodeRequest(bytes));
    if (r.operator_name != op.name) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "the request is signed for operator '%s', not %s", r.operator_name, op.name));
    }
    if (r.id.size() != 18 || r.id.rfind("r-", 0) != 0 ||
        r.id.find_first_not_of("0123456789abcdef", 2) != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat("invalid request id '%s'", r.id));
    }
    const std::int64_t now = nowUnixMs();
    if (r.issued_unix_ms < now - kRequestWindowMs || r.issued_unix_ms > now + kRequestWindowMs) {
      return absl::PermissionDeniedError(absl::StrFormat(
          "request %s was made at %d ms, more than 10 minutes from the controller's clock", r.id,
          r.issued_unix_ms));
    }
    WARDEN_RETURN_IF_ERROR(impl_->keys.registry->addRequestId(r.id, op.name, now));
    return r;
  }

  // The request as the dispatch logic reads it.
  static v1::SubmitRequest toSubmit(const Request& r) {
    v1::SubmitRequest out;
    out.set_kind(r.kind);
    for (const auto& h : r.hosts) out.add_hosts(h);
    out.set_all_hosts(r.all_hosts);
    out.set_reason(r.reason);
    for (const auto& a : r.addresses) out.add_addresses(a);
    for (const auto& a : r.args) out.add_args(a);
    for (const auto& text : r.allow) {
      // Malformed entries are kept as they are, for submit() to refuse.
      auto* e = out.add_allow();
      auto parsed = AllowEntry::parse(text);
      e->set_cidr(parsed.ok() ? parsed->prefix.toString() : text);
      e->set_port(parsed.ok() ? parsed->port : 0);
    }
    return out;
  }

  // Validates the request, then logs and queues one command per host into `created`; the
  // caller delivers them. After an error part way, `created` holds what was logged.
  absl::Status submit(const OperatorRecord& op, const std::string& request_id,
                      const v1::SubmitRequest& req, std::vector<ActionRecord>* created) {
    const std::string& kind = req.kind();
    const bool blocks = kind == "block" || kind == "unblock";
    if (!knownCommandKind(kind)) {
      return absl::InvalidArgumentError(absl::StrFormat("unknown action '%s'", kind));
    }
    const bool host_action = !blocks && kind != "isolate" && kind != "release";
    std::vector<std::string> args(req.args().begin(), req.args().end());
    if (!host_action && !args.empty()) {
      return absl::InvalidArgumentError(absl::StrFormat("%s takes no arguments", kind));
    }
    if (host_action) {
      WARDEN_RETURN_IF_ERROR(validateHostActionArgs(kind, args));
      if (req.hosts_size() != 1) {
        return absl::InvalidArgumentError(absl::StrFormat("%s acts on exactly one host", kind));
      }
    }
    if (req.all_hosts() && (!blocks || req.hosts_size() > 0)) {
      return absl::InvalidArgumentError("--all goes with block/unblock and no host names");
    }
    if (req.hosts().empty() && !req.all_hosts()) return absl::InvalidArgumentError("no host named");
    if (static_cast<std::size_t>(req.hosts_size()) > kMaxHostsPerRequest) {
      return absl::InvalidArgumentError("too many hosts in one request");
    }
    if (static_cast<std::size_t>(req.allow_size()) > kMaxAllowEntries) {
      return absl::InvalidArgumentError("too many --allow entries");
    }
    if (kind != "isolate" && req.allow_size() > 0) {
      return absl::InvalidArgumentError("--allow only applies to isolate");
    }
    if (blocks != (req.addresses_size() > 0)) {
      return absl::InvalidArgumentError(blocks ? "no address to block"
                                               : "addresses only apply to block/unblock");
    }
    if (static_cast<std::size_t>(req.addresses_size()) > kMaxBlockAddresses) {
      return absl::InvalidArgumentError("too many addresses in one request");
    }
    if (req.reason().size() > 4096) return absl::InvalidArgumentError("reason is too long");
    // Validate everything before dispatching anything.
    std::vector<std::string> allow;
    for (const auto& e : req.allow()) {
      if (e.port() > 65535) return absl::InvalidArgumentError("allow port out of range");
      WARDEN_ASSIGN_OR_RETURN(IpPrefix p, IpPrefix::parse(e.cidr()));
      allow.push_back(AllowEntry{p, static_cast<std::uint16_t>(e.port())}.toString());
    }
    std::vector<std::string> addresses;
    for (const auto& a : req.addresses()) {
      WARDEN_ASSIGN_OR_RETURN(IpPrefix p, IpPrefix::parse(a));
      if (kind == "block") WARDEN_RETURN_IF_ERROR(refuseControllerBlock(p));
      if (std::find(addresses.begin(), addresses.end(), p.toString()) == addresses.end()) {
        addresses.push_back(p.toString());
      }
    }
    std::vector<std::string> hosts(req.hosts().begin(), req.hosts().end());
    if (req.all_hosts()) {
      WARDEN_ASSIGN_OR_RETURN(auto all, impl_->keys.registry->listHosts());
      for (const auto& h : all) hosts.push_back(h.host_id);
    }
    for (const auto& h : hosts) {
      if (auto found = impl_->keys.registry->findHost(h); !found.ok()) return found.status();
    }
    if (req.all_hosts()) {
      for (const auto& a : addresses) {
        WARDEN_RETURN_IF_ERROR(kind == "block"
                                   ? impl_->keys.registry->addFleetBlock(a, op.name, req.reason())
                                   : impl_->keys.registry->removeFleetBlock(a));
      }
      logInfo("operator %s: fleet-wide %s of %s", op.name, kind, absl::StrJoin(addresses, ","));
    }
    for (const auto& h : hosts) {
      auto a =
          impl_->createAction(request_id, op.name, h, kind, req.reason(), allow, addresses, args);
      if (!a.ok()) {
        // What is logged and queued goes out; the operator hears which hosts did not get it.
        return absl::Status(
            a.status().code(),
            absl::StrFormat("dispatched to %d of %d hosts, then failed on %s: %s", created->size(),
                            hosts.size(), h, a.status().message()));
      }
      created->push_back(std::move(*a));
    }
    return absl::OkStatus();
  }

  // The caller as the registry says now: authorize() ran before the call waited for
  // identity_mu, and a revocation may have landed in between.
  absl::Status stillAuthorized(const OperatorRecord& op, std::initializer_list<const char*> roles) {
    auto now = impl_->keys.registry->findOperator(op.name);
    if (now.ok() && now->cert_fingerprint == op.cert_fingerprint) {
      for (const char* r : roles) {
        if (now->role == r) return absl::OkStatus();
      }
    }
    return absl::PermissionDeniedError(
        absl::StrFormat("operator %s was revoked or changed while the call waited", op.name));
  }

  // The controller's own addresses must stay reachable from every host.
  absl::Status refuseControllerBlock(const IpPrefix& p) {
    for (const std::string& endpoint : {impl_->keys.listen, impl_->keys.advertise}) {
      auto hp = HostPort::parse(endpoint);
      if (!hp.ok()) continue;
      auto addr = IpPrefix::parse(hp->host);
      if (addr.ok() && p.contains(*addr)) {
        return absl::InvalidArgumentError(
            absl::StrFormat("refusing to block %s: it covers the controller's address %s",
                            p.toString(), addr->toString()));
      }
    }
    return absl::OkStatus();
  }

  Impl* impl_;
};

ControllerServer::ControllerServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ControllerServer::~ControllerServer() { shutdown(); }

absl::StatusOr<std::unique_ptr<ControllerServer>> ControllerServer::start(
    ControllerKeys keys, const ServeOptions& options) {
  auto impl = std::make_unique<Impl>(std::move(keys), options);
  WARDEN_RETURN_IF_ERROR(impl->openLog());
  WARDEN_ASSIGN_OR_RETURN(impl->evidence, EvidenceStore::open(impl->keys.data_dir + "/evidence"));
  const std::string listen =
      options.listen_override.empty() ? impl->keys.listen : options.listen_override;
  WARDEN_ASSIGN_OR_RETURN(HostPort hp, HostPort::parse(listen));

  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = impl->keys.ca.cert_pem;
  // The chain includes the CA so an enrolling agent can fetch it and check the fingerprint
  // its join token pins.
  ssl.pem_key_cert_pairs.push_back(
      {impl->keys.server_key_pem, impl->keys.server_cert_pem + impl->keys.ca.cert_pem});

  impl->agent_service = std::make_unique<Impl::AgentService>(impl.get());
  impl->operator_service = std::make_unique<Impl::OperatorService>(impl.get());
  grpc::ServerBuilder builder;
  builder.AddListeningPort(hp.toString(), grpc::SslServerCredentials(ssl), &impl->port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  // Agents keep their stream open for days; keepalives find dead peers.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.RegisterService(impl->agent_service.get());
  builder.RegisterService(impl->operator_service.get());
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return absl::UnavailableError(absl::StrFormat("cannot listen on %s", hp.toString()));
  }
  logInfo("controller listening on %s (port %d), advertised as %s", hp.toString(), impl->port,
          impl->keys.advertise);
  return std::unique_ptr<ControllerServer>(new ControllerServer(std::move(impl)));
}

int ControllerServer::port() const { return impl_->port; }

void ControllerServer::wait() { impl_->server->Wait(); }

void ControllerServer::shutdown() {
  if (impl_ && impl_->server) {
    impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
}

}  // namespace warden
