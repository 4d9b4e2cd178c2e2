#include "common/audit_verify.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "common/audit.h"
#include "common/audit_export.h"
#include "common/command.h"
#include "common/crypto.h"
#include "common/net.h"
#include "common/note.h"
#include "common/status.h"

namespace warden {
namespace {

// Entries per batch: large enough that handing a batch to the signature threads costs nothing
// next to its ~4096 Ed25519 checks, small enough that two batches in memory stay a few MiB.
constexpr std::size_t kDefaultBatchEntries = 4096;
// Signature checks a thread takes at a time from a batch.
constexpr std::size_t kJobChunk = 32;
constexpr std::size_t kReadChunk = 4 << 20;

// Where a problem sits in log order, so that the first one wins however the work was split:
// anything between entries (a checkpoint, a malformed line, the header) after k entries sits
// at 2k, entry i at 2i + 1.
using Position = std::uint64_t;
constexpr Position kNoProblem = std::numeric_limits<Position>::max();
Position gapPosition(std::uint64_t entries_before) { return 2 * entries_before; }
Position entryPosition(std::uint64_t index) { return 2 * index + 1; }

struct Problem {
  Position position = kNoProblem;
  std::int64_t index = -1;
  std::uint64_t line = 0;
  std::string message;
};

// Error messages quote names and ids from the file, which an attacker may have written: no
// byte outside printable ASCII reaches the auditor's terminal (escape sequences), only \xNN.
std::string printableAscii(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += absl::StrFormat("\\x%02x", c);
    }
  }
  return out;
}

// A short, printable quote of untrusted text for an error message.
std::string quote(std::string_view text) {
  constexpr std::size_t kMax = 48;
  const std::string_view head = text.substr(0, kMax);
  std::string out = absl::CHexEscape(absl::string_view(head.data(), head.size()));
  if (text.size() > kMax) out += "...";
  return "'" + out + "'";
}

// Strict decimal: digits only, no sign, no leading zeros (except "0"), fits 64 bits.
std::optional<std::uint64_t> parseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 20 || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

absl::Status errnoStatus(std::string_view what, std::string_view path, int err) {
  return absl::Status(err == ENOENT   ? absl::StatusCode::kNotFound
                      : err == EACCES ? absl::StatusCode::kPermissionDenied
                                      : absl::StatusCode::kInternal,
                      absl::StrFormat("Failed to %s %s: %s", what, path, std::strerror(err)));
}

// ---- Reading lines -----------------------------------------------------------------------------

class LineReader {
 public:
  enum class Result { kLine, kEof, kTooLong, kUnterminated };

  LineReader() = default;
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  ~LineReader() {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return errnoStatus("open", path, errno);
    buf_.resize(kReadChunk);
    return absl::OkStatus();
  }

  std::uint64_t lineNumber() const { return line_; }

  // The next line, without its '\n'; valid until the next call.
  absl::StatusOr<Result> next(std::string_view* line) {
    for (;;) {
      const char* nl =
          static_cast<const char*>(std::memchr(buf_.data() + scanned_, '\n', end_ - scanned_));
      if (nl != nullptr) {
        const std::size_t at = static_cast<std::size_t>(nl - buf_.data());
        const std::size_t length = at - begin_;
        *line = std::string_view(buf_.data() + begin_, length);
        begin_ = scanned_ = at + 1;
        ++line_;
        return length > kAuditExportMaxLine ? Result::kTooLong : Result::kLine;
      }
      scanned_ = end_;
      if (end_ - begin_ > kAuditExportMaxLine) {
        ++line_;
        return Result::kTooLong;
      }
      if (eof_) {
        if (begin_ == end_) return Result::kEof;
        *line = std::string_view(buf_.data() + begin_, end_ - begin_);
        begin_ = scanned_ = end_;
        ++line_;
        return Result::kUnterminated;
      }
      // Keep the partial line, make room for the next chunk.
      if (begin_ > 0) {
        std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        scanned_ -= begin_;
        begin_ = 0;
      }
      if (buf_.size() - end_ < kReadChunk / 2) buf_.resize(buf_.size() + kReadChunk);
      const ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errnoStatus("read", path_, errno);
      }
      if (n == 0) eof_ = true;
      end_ += static_cast<std::size_t>(n);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::vector<char> buf_;
  std::size_t begin_ = 0;    // start of the unread data
  std::size_t scanned_ = 0;  // no '\n' in [begin_, scanned_)
  std::size_t end_ = 0;      // end of the data read
  bool eof_ = false;
  std::uint64_t line_ = 0;
};

// ---- Parallel signature checks -----------------------------------------------------------------

// One Ed25519 check, with the key the log had recorded for the signer when the entry came.
struct SignatureJob {
  std::uint32_t slot = 0;  // the entry within its batch
  std::array<char, 32> public_key{};
};

struct Batch {
  std::uint64_t first_index = 0;
  std::vector<LogEntry> entries;
  std::vector<std::uint64_t> lines;
  std::vector<SignatureJob> jobs;
  std::atomic<std::size_t> next_job{0};
  std::mutex mu;
  std::uint32_t bad_slot = std::numeric_limits<std::uint32_t>::max();  // guarded by mu
  std::string bad_reason;                                              // guarded by mu

  void reset(std::uint64_t first) {
    first_index = first;
    entries.clear();
    lines.clear();
    jobs.clear();
    next_job.store(0);
    bad_slot = std::numeric_limits<std::uint32_t>::max();
    bad_reason.clear();
  }

  // Checks jobs until none are left; several threads may run this on one batch.
  void work() {
    for (;;) {
      const std::size_t start = next_job.fetch_add(kJobChunk);
      if (start >= jobs.size()) return;
      const std::size_t stop = std::min(jobs.size(), start + kJobChunk);
      for (std::size_t j = start; j < stop; ++j) {
        const SignatureJob& job = jobs[j];
        const LogEntry& e = entries[job.slot];
        const absl::Status s = crypto::ed25519Verify(
            std::string_view(job.public_key.data(), job.public_key.size()), e.body, e.signature);
        if (!s.ok()) {
          std::lock_guard lock(mu);
          if (job.slot < bad_slot) {
            bad_slot = job.slot;
            bad_reason = s.code() == absl::StatusCode::kPermissionDenied
                             ? ""
                             : absl::StrFormat(" (%s)", s.message());
          }
        }
      }
    }
  }
};

// Threads that help with the signature checks of one published batch at a time.
class SignaturePool {
 public:
  explicit SignaturePool(unsigned workers) {
    for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { run(); });
  }
  ~SignaturePool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void publish(Batch* batch) {
    {
      std::lock_guard lock(mu_);
      current_ = batch;
      ++generation_;
    }
    work_cv_.notify_all();
  }

  // Works on `batch` too, then waits until no thread is still on it.
  void finish(Batch* batch) {
    batch->work();
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [&] { return busy_ == 0; });
    if (current_ == batch) current_ = nullptr;
  }

 private:
  void run() {
    std::uint64_t seen = 0;
    std::unique_lock lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stop_ || (current_ != nullptr && generation_ != seen); });
      if (stop_) return;
      seen = generation_;
      Batch* batch = current_;
      ++busy_;
      lock.unlock();
      batch->work();
      lock.lock();
      if (--busy_ == 0) idle_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  Batch* current_ = nullptr;
  std::uint64_t generation_ = 0;
  unsigned busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// ---- The log's rules ---------------------------------------------------------------------------

bool isRole(std::string_view role) {
  return role == "admin" || role == "responder" || role == "auditor";
}

std::optional<std::string_view> afterPrefix(std::string_view s, std::string_view prefix) {
  if (s.size() <= prefix.size() || s.substr(0, prefix.size()) != prefix) return std::nullopt;
  return s.substr(prefix.size());
}

// "entry 17 (receipt by agent:host-42, command a-...)"
std::string entryLabel(const LogEntry& e, std::uint64_t index) {
  std::string label = absl::StrFormat("entry %d (%s", index, e.type.empty() ? "?" : e.type);
  if (!e.actor.empty()) label += " by " + e.actor;
  if (e.type == entry_type::kRequest) {
    label += ", request " + e.ref;
  } else if (e.type == entry_type::kDispatch) {
    if (auto cmd = decodeCommand(e.body); cmd.ok()) label += ", command " + cmd->id;
    if (!e.ref.empty()) label += ", for request " + e.ref;
  } else if (e.type == entry_type::kReceipt) {
    label += ", command " + e.ref;
  } else if (!e.host_id.empty()) {
    label += ", host " + e.host_id;
  }
  return label + ")";
}

// Whose key signs entries of this type, for the error message.
std::string signerName(const LogEntry& e) {
  if (e.type == entry_type::kRequest) {
    return absl::StrFormat("operator %s's key", e.actor.substr(e.actor.find(':') + 1));
  }
  if (e.type == entry_type::kDispatch) return "the controller's command key";
  return absl::StrFormat("%s's enrolled key", e.host_id);
}

// Compact names: a fleet has few hosts, operators and kinds, and every request and command
// refers to them, so they are stored once.
class Names {
 public:
  std::uint32_t id(const std::string& name) {
    auto [it, inserted] = ids_.try_emplace(name, static_cast<std::uint32_t>(names_.size()));
    if (inserted) names_.push_back(name);
    return it->second;
  }
  std::optional<std::uint32_t> find(const std::string& name) const {
    auto it = ids_.find(name);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  const std::string& name(std::uint32_t id) const { return names_[id]; }

 private:
  std::unordered_map<std::string, std::uint32_t> ids_;
  std::vector<std::string> names_;
};

struct OperatorState {
  std::string role;
  std::array<char, 32> public_key{};
};

// What a request asked for, beyond its kind and hosts, normalized as the controller does before
// it dispatches (controller/server.cc submit()): a 16-byte SHA-256 prefix of the reason, args,
// allow list and addresses, so that memory stays small per request (32 bytes in all); and a
// cheap in-process 32-bit hash per field, only to name the field that differs in an error
// message (the SHA-256 prefix alone decides whether they match).
struct FieldsDigest {
  std::array<char, 16> all{};
  std::array<std::uint32_t, 4> field{};  // reason, args, allow, addresses
};

constexpr std::array<const char*, 4> kFieldNames = {"reason", "argument list", "allow list",
                                                    "address list"};

void appendLength(std::string& out, std::size_t n) {
  for (int i = 0; i < 8; ++i) {
    out += static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff);
  }
}

// Length-prefixed, so no two different field sets serialize alike.
FieldsDigest digestFields(std::string& scratch, std::string_view reason,
                          const std::vector<std::string>& args,
                          const std::vector<std::string>& allow,
                          const std::vector<std::string>& addresses) {
  FieldsDigest d;
  scratch.clear();
  std::array<std::size_t, 5> bounds{};
  appendLength(scratch, reason.size());
  scratch.append(reason);
  bounds[1] = scratch.size();
  const std::vector<std::string>* lists[] = {&args, &allow, &addresses};
  for (int f = 0; f < 3; ++f) {
    appendLength(scratch, lists[f]->size());
    for (const auto& item : *lists[f]) {
      appendLength(scratch, item.size());
      scratch.append(item);
    }
    bounds[f + 2] = scratch.size();
  }
  const std::string sha = crypto::sha256(scratch);
  std::memcpy(d.all.data(), sha.data(), d.all.size());
  const std::string_view all(scratch);
  for (int f = 0; f < 4; ++f) {
    d.field[f] = static_cast<std::uint32_t>(
        std::hash<std::string_view>{}(all.substr(bounds[f], bounds[f + 1] - bounds[f])));
  }
  return d;
}

// A request's allow list and addresses as the controller dispatches them (controller/server.cc
// toSubmit() and submit()): each allow entry parsed and printed canonically, each address too,
// duplicates dropped (the first stays). Nothing when an element does not parse: the controller
// refuses such a request; `why` then says which element.
struct NormalizedRequest {
  std::vector<std::string> allow;
  std::vector<std::string> addresses;
};

std::optional<NormalizedRequest> normalizeRequest(const Request& q, std::string* why) {
  NormalizedRequest out;
  out.allow.reserve(q.allow.size());
  for (const auto& text : q.allow) {
    auto a = AllowEntry::parse(text);
    if (!a.ok()) {
      *why = absl::StrFormat("allow entry %s, which does not parse", quote(text));
      return std::nullopt;
    }
    out.allow.push_back(a->toString());
  }
  out.addresses.reserve(q.addresses.size());
  std::unordered_set<std::string> seen;  // only for long lists: a few are searched in place
  constexpr std::size_t kLinear = 16;
  for (const auto& text : q.addresses) {
    auto p = IpPrefix::parse(text);
    if (!p.ok()) {
      *why = absl::StrFormat("address %s, which does not parse", quote(text));
      return std::nullopt;
    }
    std::string canonical = p->toString();
    bool duplicate;
    if (q.addresses.size() <= kLinear) {
      duplicate =
          std::find(out.addresses.begin(), out.addresses.end(), canonical) != out.addresses.end();
    } else {
      duplicate = !seen.insert(canonical).second;
    }
    if (!duplicate) out.addresses.push_back(std::move(canonical));
  }
  return out;
}

struct RequestState {
  std::uint32_t operator_name = 0;
  std::uint32_t kind = 0;
  bool all_hosts = false;
  // The controller would refuse it (an allow entry or address that does not parse): nothing
  // may be dispatched for it. The reason is in ExportVerifier::unparseable_.
  bool unparseable = false;
  bool dispatched = false;  // a dispatch for it is logged
  bool refused = false;     // its operator's refusal (ref = its id) is logged
  // The operator's role when the request was logged (the controller checks it then).
  bool may_dispatch = false;
  FieldsDigest fields;
  std::vector<std::uint32_t> hosts;
};

struct CommandState {
  std::uint32_t host = 0;
  bool receipted = false;
};

std::array<char, 32> keyArray(std::string_view key) {
  std::array<char, 32> out{};
  std::memcpy(out.data(), key.data(), out.size());
  return out;
}

// ---- The verifier ------------------------------------------------------------------------------

struct SavedCheckpoint {
  std::uint64_t size = 0;
  std::string root;
  std::size_t ordinal = 0;  // 1-based, in the order the caller gave them
};

class ExportVerifier {
 public:
  explicit ExportVerifier(const AuditVerifyOptions& options) : options_(options) {}

  absl::StatusOr<AuditReport> run(const std::string& path);

 private:
  // Parse and state updates for one line; false once verification must stop.
  absl::StatusOr<bool> header(LineReader& reader);
  bool entryLine(std::string_view b64, std::uint64_t line, Batch& batch);
  bool checkpointLine(std::string_view b64, std::uint64_t line);
  // The log's rules for entry `index`; adds its signature check to `batch`. An error message
  // (without the entry label) when a rule is broken.
  std::optional<std::string> applyRules(const LogEntry& e, std::uint64_t index, Batch& batch);
  void checkSavedCheckpointsAtSize();
  void applyFleetRequest(const std::string& id, std::uint64_t index, bool block,
                         std::vector<std::string> addresses);
  void noteRefusal(const LogEntry& e);

  void fail(Position position, std::int64_t index, std::uint64_t line, std::string message) {
    if (position < problem_.position) {
      problem_ = Problem{position, index, line, printableAscii(message)};
    }
  }
  void failGap(std::uint64_t line, std::string message) {
    fail(gapPosition(frontier_.size()), -1, line, std::move(message));
  }
  void collect(Batch& batch);

  const AuditVerifyOptions& options_;
  AuditReport report_;
  Problem problem_;

  std::string vkey_;
  note::Verifier verifier_;
  std::vector<SavedCheckpoint> saved_;  // by size
  std::size_t next_saved_ = 0;

  MerkleFrontier frontier_;
  std::uint64_t covered_ = 0;  // size of the last verified checkpoint
  bool have_checkpoint_ = false;
  std::int64_t last_ms_ = std::numeric_limits<std::int64_t>::min();

  Names names_;  // hosts, operators, kinds
  std::unordered_map<std::string, OperatorState> operators_;
  std::unordered_map<std::uint32_t, std::array<char, 32>> agent_keys_;  // by host name id
  std::unordered_map<std::string, RequestState> requests_;
  std::unordered_map<std::string, CommandState> commands_;
  std::optional<std::array<char, 32>> command_key_;
  // Still in the genesis: every entry so far is a key, operator or enrollment entry.
  bool genesis_ = true;
  // Requests the controller would refuse, with the reason (rare: kept apart from RequestState).
  std::unordered_map<std::string, std::string> unparseable_;

  // Fleet-wide blocks (requests with all_hosts, kind block or unblock; see applyFleetRequest).
  // For each normalized address, the fleet requests that changed it, in log order (by the
  // request entry's index): it is in force when the last one is a block. Operators make few
  // fleet-wide requests, so keeping them all costs little.
  struct FleetChange {
    std::uint64_t request_index = 0;
    bool block = false;
  };
  struct FleetRequest {
    std::uint64_t index = 0;
    std::vector<std::string> addresses;
  };
  std::unordered_map<std::string, std::vector<FleetChange>> fleet_;
  std::unordered_map<std::string, FleetRequest> fleet_requests_;  // by request id
  bool fleetBlocked(const std::string& address) const {
    auto it = fleet_.find(address);
    return it != fleet_.end() && !it->second.empty() && it->second.back().block;
  }

  std::string scratch_;  // digestFields' buffer
};

absl::StatusOr<bool> ExportVerifier::header(LineReader& reader) {
  std::string_view line;
  std::string lines[3];
  for (int i = 0; i < 3; ++i) {
    WARDEN_ASSIGN_OR_RETURN(LineReader::Result r, reader.next(&line));
    if (r != LineReader::Result::kLine) {
      fail(0, -1, reader.lineNumber(),
           absl::StrFormat("line %d: the file ends inside the header: not a complete Warden audit "
                           "export",
                           reader.lineNumber()));
      return false;
    }
    lines[i] = std::string(line);
  }
  if (lines[0] != kAuditExportMagic) {
    fail(0, -1, 1,
         absl::StrFormat("line 1: not a Warden audit export (expected '%s', found %s)",
                         kAuditExportMagic, quote(lines[0])));
    return false;
  }
  auto origin = afterPrefix(lines[1], "origin ");
  if (!origin || !note::isValidKeyName(*origin)) {
    fail(0, -1, 2,
         absl::StrFormat("line 2: expected 'origin <log origin>', found %s", quote(lines[1])));
    return false;
  }
  report_.origin = std::string(*origin);
  auto file_vkey = afterPrefix(lines[2], "vkey ");
  if (!file_vkey) {
    fail(0, -1, 3,
         absl::StrFormat("line 3: expected 'vkey <verifier key>', found %s", quote(lines[2])));
    return false;
  }
  auto parsed = note::parseVerifierKey(*file_vkey);
  if (!parsed.ok()) {
    fail(0, -1, 3,
         absl::StrFormat("line 3: the export's verifier key does not parse: %s",
                         parsed.status().message()));
    return false;
  }
  if (options_.pinned_vkey.has_value()) {
    report_.vkey_pinned = true;
    report_.vkey = *options_.pinned_vkey;
    if (*file_vkey != *options_.pinned_vkey) {
      fail(0, -1, 3,
           absl::StrFormat("line 3: the export names log key %s, not the pinned key %s",
                           quote(*file_vkey), quote(*options_.pinned_vkey)));
      return false;
    }
  } else {
    report_.vkey = std::string(*file_vkey);
  }
  vkey_ = std::string(*file_vkey);
  verifier_ = *parsed;
  if (verifier_.name != report_.origin) {
    fail(0, -1, 3,
         absl::StrFormat("line 3: the log key is named '%s', but the log's origin is '%s'",
                         verifier_.name, report_.origin));
    return false;
  }
  return true;
}

std::optional<std::string> ExportVerifier::applyRules(const LogEntry& e, std::uint64_t index,
                                                      Batch& batch) {
  using absl::StrFormat;
  if (e.logged_unix_ms < last_ms_) {
    return StrFormat("logged at %d ms, before the previous entry (%d ms): time went backwards",
                     e.logged_unix_ms, last_ms_);
  }
  if (index == 0 && e.type != entry_type::kKey) {
    return std::string("the log must start with the controller's log key (a key entry)");
  }
  if (e.type != entry_type::kKey && e.type != entry_type::kOperator &&
      e.type != entry_type::kEnrollment) {
    genesis_ = false;
  }
  const auto addSignature = [&](const std::array<char, 32>& key) {
    batch.jobs.push_back(SignatureJob{static_cast<std::uint32_t>(batch.entries.size() - 1), key});
  };

  if (e.type == entry_type::kKey) {
    if (e.actor != "controller")
      return StrFormat("key entries are the controller's, not %s", quote(e.actor));
    auto k = decodeKeyRecord(e.body);
    if (!k.ok()) return StrFormat("body is not a key record: %s", k.status().message());
    if (k->subject != "controller") {
      return StrFormat("key entry for %s, not the controller", quote(k->subject));
    }
    if (index == 0 && k->purpose != "log") {
      return std::string("the log must start with the controller's log key (purpose log)");
    }
    if (k->purpose == "log") {
      if (k->public_key != vkey_) {
        return StrFormat("records log key %s, but the log is signed with %s", quote(k->public_key),
                         quote(vkey_));
      }
    } else if (k->purpose == "command") {
      if (k->public_key.size() != 32) {
        return StrFormat("command key is %d bytes, not a 32-byte Ed25519 key",
                         k->public_key.size());
      }
      command_key_ = keyArray(k->public_key);
    } else {
      return StrFormat("key entry with purpose %s (expected log or command)", quote(k->purpose));
    }
  } else if (e.type == entry_type::kOperator && e.actor == "controller") {
    // The controller logs the operators it already has when it creates the log (a key record
    // each; role "revoked" for one the registry already held revoked); every later change is
    // an admin's signed request (controller/server.cc addOperator, revokeOperator).
    if (!genesis_) {
      return std::string(
          "the controller adds operators only in the log's genesis (before the first request, "
          "dispatch, receipt, refusal or event); later an admin adds them");
    }
    auto k = decodeKeyRecord(e.body);
    if (!k.ok()) return StrFormat("body is not a key record: %s", k.status().message());
    if (k->purpose != "operator") {
      return StrFormat("operator entry with key purpose %s", quote(k->purpose));
    }
    if (k->subject.empty()) return std::string("operator entry without a name");
    if (!isRole(k->role) && k->role != "revoked")
      return StrFormat("operator %s has unknown role %s", k->subject, quote(k->role));
    if (k->public_key.size() != 32) {
      return StrFormat("operator %s's key is %d bytes, not a 32-byte Ed25519 key", k->subject,
                       k->public_key.size());
    }
    if (!operators_.try_emplace(k->subject, OperatorState{k->role, keyArray(k->public_key)})
             .second) {
      return StrFormat("operator %s is already logged", k->subject);
    }
  } else if (e.type == entry_type::kOperator) {
    auto admin = afterPrefix(e.actor, "operator:");
    if (!admin)
      return StrFormat("operators are added by the controller or an admin, not %s", quote(e.actor));
    auto it = operators_.find(std::string(*admin));
    if (it == operators_.end() || it->second.role != "admin") {
      return StrFormat("%s is not a logged admin, so may not add operators", quote(*admin));
    }
    const std::array<char, 32> admin_key = it->second.public_key;  // emplace below may rehash
    auto q = decodeRequest(e.body);
    if (!q.ok()) return StrFormat("body is not a signed request: %s", q.status().message());
    if (q->operator_name != *admin) {
      return StrFormat("the signed request is operator %s's, not %s's", quote(q->operator_name),
                       *admin);
    }
    if (e.ref.empty() || q->id != e.ref) {
      return StrFormat("the signed request has id %s, the entry says %s", quote(q->id),
                       quote(e.ref));
    }
    auto change = operatorChangeOf(*q);
    if (!change.ok()) return StrFormat("not an operator change: %s", change.status().message());
    auto existing = operators_.find(change->name);
    if (change->revoke) {
      if (existing == operators_.end()) {
        return StrFormat("operator %s is revoked before it was ever logged", change->name);
      }
      if (existing->second.role == "revoked") {
        return StrFormat("operator %s is already revoked", change->name);
      }
      existing->second.role = "revoked";
    } else {
      if (existing != operators_.end()) {
        return StrFormat("operator %s is already logged", change->name);
      }
      operators_.emplace(change->name, OperatorState{change->role, keyArray(change->signing_key)});
    }
    // Request ids are one namespace: an operator change cannot be replayed as another.
    RequestState state;
    state.operator_name = names_.id(q->operator_name);
    state.kind = names_.id(q->kind);
    if (!requests_.try_emplace(e.ref, std::move(state)).second) {
      return StrFormat("request id %s was already logged", e.ref);
    }
    addSignature(admin_key);
  } else if (e.type == entry_type::kEnrollment) {
    auto host = afterPrefix(e.actor, "agent:");
    if (!host) return StrFormat("enrollments are by an agent, not %s", quote(e.actor));
    if (*host != e.host_id) {
      return StrFormat("enrollment by %s for host %s", e.actor, quote(e.host_id));
    }
    auto k = decodeKeyRecord(e.body);
    if (!k.ok()) return StrFormat("body is not a key record: %s", k.status().message());
    if (k->purpose != "agent" || k->subject != e.host_id) {
      return StrFormat("enrollment of %s carries a %s key for %s", e.host_id, quote(k->purpose),
                       quote(k->subject));
    }
    if (k->public_key.size() != 32) {
      return StrFormat("%s's key is %d bytes, not a 32-byte Ed25519 key", e.host_id,
                       k->public_key.size());
    }
    // Hosts enrolled before the log existed are logged in its genesis, without a join token
    // ("enrolled before the action log existed"); every later enrollment names its token.
    if (e.ref.empty() && !genesis_) {
      return std::string("an enrollment after the log's genesis must name its join token (ref)");
    }
    agent_keys_[names_.id(e.host_id)] = keyArray(k->public_key);
  } else if (e.type == entry_type::kRequest) {
    auto name = afterPrefix(e.actor, "operator:");
    if (!name) return StrFormat("requests are by an operator, not %s", quote(e.actor));
    auto op = operators_.find(std::string(*name));
    if (op == operators_.end()) return StrFormat("%s is not a logged operator", quote(*name));
    if (op->second.role == "revoked") {
      return StrFormat("operator %s was revoked before this request", *name);
    }
    if (e.ref.empty()) return std::string("request entry without the request id");
    auto q = decodeRequest(e.body);
    if (!q.ok()) return StrFormat("body is not a request: %s", q.status().message());
    if (q->operator_name != *name) {
      return StrFormat("the signed request is operator %s's, not %s's", quote(q->operator_name),
                       *name);
    }
    if (q->id != e.ref) return StrFormat("the signed request has id %s", quote(q->id));
    RequestState state;
    state.operator_name = names_.id(q->operator_name);
    state.kind = names_.id(q->kind);
    state.all_hosts = q->all_hosts;
    state.may_dispatch = op->second.role == "admin" || op->second.role == "responder";
    state.hosts.reserve(q->hosts.size());
    for (const auto& h : q->hosts) state.hosts.push_back(names_.id(h));
    std::string unparseable;
    auto normalized = normalizeRequest(*q, &unparseable);
    state.unparseable = !normalized.has_value();
    if (normalized) {
      state.fields =
          digestFields(scratch_, q->reason, q->args, normalized->allow, normalized->addresses);
    }
    if (!requests_.try_emplace(e.ref, std::move(state)).second) {
      return StrFormat("request id %s was already used", e.ref);
    }
    if (!normalized) {
      unparseable_[e.ref] = std::move(unparseable);
    } else if (q->all_hosts && q->hosts.empty() && (q->kind == "block" || q->kind == "unblock") &&
               (op->second.role == "admin" || op->second.role == "responder")) {
      applyFleetRequest(e.ref, index, q->kind == "block", std::move(normalized->addresses));
    }
    addSignature(op->second.public_key);
  } else if (e.type == entry_type::kDispatch) {
    if (e.actor != "controller") {
      return StrFormat("dispatches are the controller's, not %s", quote(e.actor));
    }
    if (!command_key_) return std::string("no controller command key is logged before it");
    auto c = decodeCommand(e.body);
    if (!c.ok()) return StrFormat("body is not a command: %s", c.status().message());
    if (c->id.empty()) return std::string("command without an id");
    if (c->host_id.empty() || c->host_id != e.host_id) {
      return StrFormat("the signed command is for host %s, the entry says %s", quote(c->host_id),
                       quote(e.host_id));
    }
    const std::uint32_t host = names_.id(c->host_id);
    if (e.ref.empty()) {
      if (c->requested_by != "controller") {
        return StrFormat(
            "a dispatch without a request must be the controller's own, not requested by %s",
            quote(c->requested_by));
      }
      // The controller's own commands are the fleet-wide blocks it sends a host that enrolls
      // (controller/server.cc enroll()): what operators' --all block requests put in force.
      if (c->kind != "block") {
        return StrFormat("the controller's own commands are fleet-wide blocks, not %s",
                         quote(c->kind));
      }
      if (!agent_keys_.contains(host)) {
        return StrFormat("host %s has not enrolled", c->host_id);
      }
      if (c->addresses.empty()) return std::string("a fleet-wide block without addresses");
      if (!c->allow.empty() || !c->args.empty()) {
        return std::string("a fleet-wide block carries no allow list or arguments");
      }
      for (const auto& a : c->addresses) {
        if (!fleetBlocked(a)) {
          return StrFormat(
              "address %s is not blocked fleet-wide at this point (no --all block request for it "
              "is in force)",
              quote(a));
        }
      }
    } else {
      auto q = requests_.find(e.ref);
      if (q == requests_.end()) {
        return StrFormat("request %s is not logged before it", e.ref);
      }
      RequestState& req = q->second;
      if (req.refused) return StrFormat("request %s was refused before it", e.ref);
      if (names_.name(req.kind) != c->kind) {
        return StrFormat("command kind %s, but request %s asked for %s", quote(c->kind), e.ref,
                         quote(names_.name(req.kind)));
      }
      const std::string& requester = names_.name(req.operator_name);
      if (c->requested_by != requester) {
        return StrFormat("command says requested by %s, but request %s is %s's",
                         quote(c->requested_by), e.ref, requester);
      }
      if (!req.all_hosts &&
          std::find(req.hosts.begin(), req.hosts.end(), host) == req.hosts.end()) {
        return StrFormat("request %s does not name host %s", e.ref, c->host_id);
      }
      if (!req.may_dispatch) {
        auto op = operators_.find(requester);
        const std::string role = op == operators_.end() ? "" : op->second.role;
        return StrFormat("operator %s (role %s) may not have commands dispatched", requester,
                         role.empty() ? "none" : role);
      }
      if (req.unparseable) {
        return StrFormat(
            "request %s has %s: the controller refuses it, so nothing may be dispatched for it",
            e.ref, unparseable_[e.ref]);
      }
      // Exactly what the operator signed, as the controller normalizes it.
      const FieldsDigest got = digestFields(scratch_, c->reason, c->args, c->allow, c->addresses);
      if (got.all != req.fields.all) {
        for (std::size_t f = 0; f < kFieldNames.size(); ++f) {
          if (got.field[f] != req.fields.field[f]) {
            return StrFormat("command %s differs from request %s's", kFieldNames[f], e.ref);
          }
        }
        return StrFormat(
            "command reason, arguments, allow or address list differ from request %s's", e.ref);
      }
      if (!req.dispatched) {
        req.dispatched = true;
        if (req.all_hosts) fleet_requests_.erase(e.ref);  // settled: no refusal undoes it
      }
    }
    if (!commands_.try_emplace(c->id, CommandState{host, false}).second) {
      return StrFormat("command id %s was already dispatched", c->id);
    }
    addSignature(*command_key_);
  } else if (e.type == entry_type::kReceipt) {
    auto host_name = afterPrefix(e.actor, "agent:");
    if (!host_name) return StrFormat("receipts are by an agent, not %s", quote(e.actor));
    if (*host_name != e.host_id) {
      return StrFormat("receipt by %s for host %s", e.actor, quote(e.host_id));
    }
    auto host = names_.find(e.host_id);
    auto key = host ? agent_keys_.find(*host) : agent_keys_.end();
    if (key == agent_keys_.end()) return StrFormat("host %s has not enrolled", e.host_id);
    if (e.ref.empty()) return std::string("receipt entry without the command id");
    auto r = decodeReceipt(e.body);
    if (!r.ok()) return StrFormat("body is not a receipt: %s", r.status().message());
    if (r->host_id != e.host_id) {
      return StrFormat("the signed receipt is from host %s", quote(r->host_id));
    }
    if (r->command_id != e.ref) {
      return StrFormat("the signed receipt answers command %s", quote(r->command_id));
    }
    auto c = commands_.find(e.ref);
    if (c == commands_.end()) {
      return StrFormat("command %s was not dispatched before it (orphan receipt)", e.ref);
    }
    if (c->second.host != *host) {
      return StrFormat("command %s was dispatched to %s, not %s", e.ref,
                       names_.name(c->second.host), e.host_id);
    }
    if (c->second.receipted) return StrFormat("command %s already has a receipt", e.ref);
    c->second.receipted = true;
    addSignature(key->second);
  } else if (e.type == entry_type::kRefusal || e.type == entry_type::kEvent) {
    if (e.detail.empty())
      return StrFormat("a %s entry must say what happened (empty detail)", e.type);
    if (e.type == entry_type::kRefusal && !e.ref.empty()) noteRefusal(e);
  } else {
    return StrFormat("unknown entry type %s", quote(e.type));
  }
  last_ms_ = e.logged_unix_ms;
  return std::nullopt;
}

// An operator's fleet-wide block or unblock (all_hosts) changes the fleet's blocks when its
// request entry is seen. The controller changes its fleet-wide list right after logging the
// request, before it dispatches anything (controller/server.cc submit()), so a host that
// enrolls meanwhile is already sent the new list; an --all request can also have no dispatch
// at all (no host enrolled yet) and still be in force.
//
// A refusal of the request by its operator (ref = its id), logged before any of its dispatches,
// undoes the change: the controller refused it while validating it, before touching the list.
// After its first dispatch the change is settled: a refusal then means dispatching failed part
// way, and the controller keeps the list as changed. (A controller that fails while writing the
// list itself and refuses then is not told apart: its later fleet-wide blocks of those
// addresses are reported.)
void ExportVerifier::applyFleetRequest(const std::string& id, std::uint64_t index, bool block,
                                       std::vector<std::string> addresses) {
  for (const auto& a : addresses) fleet_[a].push_back(FleetChange{index, block});
  fleet_requests_[id] = FleetRequest{index, std::move(addresses)};
}

// A refusal whose ref is a logged request, by that request's operator (the controller logs a
// refused request's refusal under the operator's name; agents' events can carry any ref, so
// their refusals are not taken as the request's).
void ExportVerifier::noteRefusal(const LogEntry& e) {
  auto q = requests_.find(e.ref);
  if (q == requests_.end() || q->second.refused) return;
  auto name = afterPrefix(e.actor, "operator:");
  if (!name || *name != names_.name(q->second.operator_name)) return;
  q->second.refused = true;
  auto f = fleet_requests_.find(e.ref);
  if (f == fleet_requests_.end()) return;  // not fleet-wide, or settled by a dispatch
  for (const auto& a : f->second.addresses) {
    auto changes = fleet_.find(a);
    if (changes == fleet_.end()) continue;
    auto& list = changes->second;
    for (auto it = list.rbegin(); it != list.rend(); ++it) {
      if (it->request_index == f->second.index) {
        list.erase(std::next(it).base());
        break;
      }
    }
    if (list.empty()) fleet_.erase(changes);
  }
  fleet_requests_.erase(f);
}

bool ExportVerifier::entryLine(std::string_view b64, std::uint64_t line, Batch& batch) {
  const std::uint64_t index = frontier_.size();
  auto bytes = crypto::unbase64(b64);
  if (!bytes.ok()) {
    fail(entryPosition(index), static_cast<std::int64_t>(index), line,
         absl::StrFormat("entry %d (line %d): not valid base64: %s", index, line,
                         bytes.status().message()));
    return false;
  }
  auto entry = decodeLogEntry(*bytes);
  if (!entry.ok()) {
    fail(entryPosition(index), static_cast<std::int64_t>(index), line,
         absl::StrFormat("entry %d (line %d): does not decode as a log entry: %s", index, line,
                         entry.status().message()));
    return false;
  }
  frontier_.append(*bytes);
  batch.entries.push_back(std::move(*entry));
  batch.lines.push_back(line);
  const LogEntry& e = batch.entries.back();
  if (auto broken = applyRules(e, index, batch)) {
    fail(entryPosition(index), static_cast<std::int64_t>(index), line,
         absl::StrFormat("%s: %s", entryLabel(e, index), *broken));
    return false;
  }
  ++report_.entries_by_type[e.type];
  if (options_.on_entry) options_.on_entry(index, e);
  checkSavedCheckpointsAtSize();
  return problem_.position == kNoProblem;
}

bool ExportVerifier::checkpointLine(std::string_view b64, std::uint64_t line) {
  const std::uint64_t n = frontier_.size();
  const std::string where = absl::StrFormat("checkpoint at line %d (after %d entries)", line, n);
  auto note_text = crypto::unbase64(b64);
  if (!note_text.ok()) {
    failGap(line, absl::StrFormat("%s: not valid base64: %s", where, note_text.status().message()));
    return false;
  }
  auto opened = note::openNote(*note_text, {verifier_});
  if (!opened.ok()) {
    failGap(line, absl::StrFormat("%s: not signed by the log key %s: %s", where, verifier_.name,
                                  opened.status().message()));
    return false;
  }
  auto cp = note::parseCheckpoint(opened->text);
  if (!cp.ok()) {
    failGap(line, absl::StrFormat("%s: not a checkpoint: %s", where, cp.status().message()));
    return false;
  }
  if (cp->origin != report_.origin) {
    failGap(line,
            absl::StrFormat("%s: for log %s, not %s", where, quote(cp->origin), report_.origin));
    return false;
  }
  if (cp->size != n) {
    failGap(line, absl::StrFormat("%s: has size %d; a checkpoint must follow the entry that "
                                  "brings the tree to its size",
                                  where, cp->size));
    return false;
  }
  const std::string root = frontier_.root();
  if (cp->root_hash != root && covered_ == n) {
    // Nothing since the last verified checkpoint (or the empty tree) could explain it.
    failGap(line, absl::StrFormat("%s: signs root %s, but the tree of size %d has root %s, "
                                  "already vouched for: the log key signed a fork",
                                  where, crypto::hex(cp->root_hash), n, crypto::hex(root)));
    return false;
  }
  if (cp->root_hash != root) {
    failGap(line,
            absl::StrFormat("%s: signed root %s, but the entries before it have root %s: one of "
                            "entries %d..%d is not what the log signed",
                            where, crypto::hex(cp->root_hash), crypto::hex(root), covered_,
                            static_cast<std::int64_t>(n) - 1));
    return false;
  }
  covered_ = n;
  have_checkpoint_ = true;
  ++report_.checkpoints;
  report_.latest_checkpoint = std::move(*note_text);
  return true;
}

void ExportVerifier::checkSavedCheckpointsAtSize() {
  const std::uint64_t n = frontier_.size();
  while (next_saved_ < saved_.size() && saved_[next_saved_].size == n) {
    const SavedCheckpoint& s = saved_[next_saved_++];
    ++report_.previous_checkpoints_checked;
    const std::string root = frontier_.root();
    if (s.root != root) {
      fail(gapPosition(n), -1, 0,
           absl::StrFormat("saved checkpoint %d (size %d) has root %s, but this log's root at "
                           "size %d is %s: the log has forked from the one you saw",
                           s.ordinal, s.size, crypto::hex(s.root), n, crypto::hex(root)));
    }
  }
}

void ExportVerifier::collect(Batch& batch) {
  report_.signatures_verified += batch.jobs.size();
  if (batch.bad_slot == std::numeric_limits<std::uint32_t>::max()) return;
  const LogEntry& e = batch.entries[batch.bad_slot];
  const std::uint64_t index = batch.first_index + batch.bad_slot;
  fail(entryPosition(index), static_cast<std::int64_t>(index), batch.lines[batch.bad_slot],
       absl::StrFormat("%s: signature does not verify under %s%s", entryLabel(e, index),
                       signerName(e), batch.bad_reason));
}

absl::StatusOr<AuditReport> ExportVerifier::run(const std::string& path) {
  // Unusable options are the caller's error, not the file's.
  if (options_.pinned_vkey.has_value()) {
    if (auto v = note::parseVerifierKey(*options_.pinned_vkey); !v.ok()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("the pinned log key does not parse: %s", v.status().message()));
    }
  }
  for (std::size_t i = 0; i < options_.previous_checkpoints.size(); ++i) {
    if (auto s = checkpointSize(options_.previous_checkpoints[i]); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "saved checkpoint %d is not a checkpoint note: %s", i + 1, s.status().message()));
    }
  }

  LineReader reader;
  WARDEN_RETURN_IF_ERROR(reader.open(path));
  WARDEN_ASSIGN_OR_RETURN(const bool header_ok, header(reader));
  if (!header_ok) {
    report_.ok = false;
    report_.bad_index = problem_.index;
    report_.bad_line = problem_.line;
    report_.error = problem_.message;
    return report_;
  }

  // The auditor's saved checkpoints must verify under the same key before they mean anything.
  for (std::size_t i = 0; i < options_.previous_checkpoints.size(); ++i) {
    auto opened = note::openNote(options_.previous_checkpoints[i], {verifier_});
    if (!opened.ok()) {
      fail(0, -1, 0,
           absl::StrFormat("saved checkpoint %d is not signed by the log key %s: %s", i + 1,
                           verifier_.name, opened.status().message()));
      break;
    }
    auto cp = note::parseCheckpoint(opened->text);
    if (!cp.ok()) {
      fail(0, -1, 0, absl::StrFormat("saved checkpoint %d: %s", i + 1, cp.status().message()));
      break;
    }
    if (cp->origin != report_.origin) {
      fail(0, -1, 0,
           absl::StrFormat("saved checkpoint %d is for log %s, not %s", i + 1, quote(cp->origin),
                           report_.origin));
      break;
    }
    saved_.push_back(SavedCheckpoint{cp->size, cp->root_hash, i + 1});
  }
  std::stable_sort(saved_.begin(), saved_.end(),
                   [](const auto& a, const auto& b) { return a.size < b.size; });
  checkSavedCheckpointsAtSize();

  unsigned threads = options_.threads != 0 ? options_.threads : std::thread::hardware_concurrency();
  threads = std::max(1u, threads);
  SignaturePool pool(threads - 1);
  // Two batches: one being read and checked in order here, the other's signatures being
  // checked by the pool meanwhile.
  const std::size_t batch_entries =
      options_.batch_entries != 0 ? options_.batch_entries : kDefaultBatchEntries;
  std::array<Batch, 2> batches;
  Batch* reading = &batches[0];
  Batch* checking = nullptr;
  reading->reset(0);
  const auto settle = [&](Batch* batch) {
    pool.finish(batch);
    collect(*batch);
  };
  const auto handOff = [&] {
    if (checking != nullptr) settle(checking);
    pool.publish(reading);
    checking = reading;
    reading = reading == &batches[0] ? &batches[1] : &batches[0];
    reading->reset(frontier_.size());
  };

  bool reached_end = false;  // read to the end of the file without a problem
  std::optional<std::uint64_t> end_count;
  std::uint64_t end_line = 0;
  while (problem_.position == kNoProblem) {
    std::string_view line;
    WARDEN_ASSIGN_OR_RETURN(LineReader::Result r, reader.next(&line));
    const std::uint64_t line_no = reader.lineNumber();
    if (r == LineReader::Result::kEof) {
      reached_end = true;
      break;
    }
    if (r == LineReader::Result::kTooLong) {
      failGap(line_no,
              absl::StrFormat("line %d is longer than %d bytes", line_no, kAuditExportMaxLine));
      break;
    }
    if (r == LineReader::Result::kUnterminated) {
      failGap(line_no,
              absl::StrFormat("line %d is cut off (no newline): the file is truncated", line_no));
      break;
    }
    if (end_count.has_value()) {
      failGap(line_no, absl::StrFormat("line %d follows the 'end' line", line_no));
      break;
    }
    if (auto b64 = afterPrefix(line, "entry ")) {
      if (!entryLine(*b64, line_no, *reading)) break;
      if (reading->entries.size() == batch_entries) handOff();
    } else if (auto cp = afterPrefix(line, "checkpoint ")) {
      if (!checkpointLine(*cp, line_no)) break;
    } else if (auto n = afterPrefix(line, "end ")) {
      auto value = parseDecimal(*n);
      if (!value) {
        failGap(line_no, absl::StrFormat("line %d: malformed 'end' line %s", line_no, quote(line)));
        break;
      }
      end_count = *value;
      end_line = line_no;
    } else {
      failGap(line_no, absl::StrFormat("line %d: not an entry, checkpoint or end line: %s", line_no,
                                       quote(line)));
      break;
    }
  }
  if (checking != nullptr) settle(checking);
  pool.publish(reading);
  settle(reading);

  const std::uint64_t n = frontier_.size();
  if (reached_end) {
    if (!end_count.has_value()) {
      failGap(reader.lineNumber(),
              absl::StrFormat("the file ends after line %d without an 'end' line: it is "
                              "truncated",
                              reader.lineNumber()));
    } else if (*end_count != n) {
      failGap(end_line, absl::StrFormat("the 'end' line says %d entries, but the file holds %d",
                                        *end_count, n));
    }
    if (!have_checkpoint_) {
      failGap(0, "the export holds no checkpoint: nothing vouches for its entries");
    } else if (covered_ != n) {
      failGap(0, absl::StrFormat("entries %d..%d come after the last checkpoint: no checkpoint "
                                 "covers them",
                                 covered_, n - 1));
    }
    for (std::size_t i = next_saved_; i < saved_.size(); ++i) {
      ++report_.previous_checkpoints_checked;
      failGap(0, absl::StrFormat("saved checkpoint %d has size %d, but the log holds only %d "
                                 "entries: it was rolled back or truncated",
                                 saved_[i].ordinal, saved_[i].size, n));
    }
  }

  report_.tree_size = n;
  report_.root_hex = crypto::hex(frontier_.root());
  report_.ok = problem_.position == kNoProblem;
  if (!report_.ok) {
    report_.bad_index = problem_.index;
    report_.bad_line = problem_.line;
    report_.error = problem_.message;
  }
  return report_;
}

}  // namespace

absl::StatusOr<AuditReport> verifyAuditExport(const std::string& path,
                                              const AuditVerifyOptions& options) {
  ExportVerifier verifier(options);
  return verifier.run(path);
}

}  // namespace warden
