// scripts/bench-log: verifying a whole action log export (common/audit/export_verifier.h).
//
//   bench_audit [--entries N] [--threads T] [--generate-only] OUT
//   bench_audit --verify-only [--threads T] OUT
//
// Writes an export of N (default 1,000,000) entries to OUT and its verifier key to OUT.vkey:
// the controller's genesis, 12 operators, 1,000 enrolled hosts, then request -> dispatch ->
// receipt triples with real Ed25519 signatures (operator, command key, agent), ~300-700-byte
// entries, a signed checkpoint every 8,192 entries and one at the end. Generation signs on
// every core. Then (unless --generate-only) times verifyAuditExport in this process. Results
// are printed as "key=value" lines for the script, after a human summary.
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/audit/export_verifier.h"
#include "common/audit/export_writer.h"
#include "common/audit/key_record.h"
#include "common/audit/log_entry.h"
#include "common/audit/merkle_frontier.h"
#include "common/audit/request.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/files.h"
#include "common/note.h"

namespace warden {
namespace {

constexpr char kOrigin[] = "warden/controller.bench.example";
constexpr std::size_t kHosts = 1000;
constexpr std::uint64_t kCheckpointEvery = 8192;
constexpr std::int64_t kStartMs = 1'763'700'000'000;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_audit: %s\n", what.c_str());
  std::exit(2);
}

template <typename T>
T must(absl::StatusOr<T> v, const char* what) {
  if (!v.ok()) die(absl::StrFormat("%s: %s", what, v.status().ToString()));
  return std::move(*v);
}

void must(const absl::Status& s, const char* what) {
  if (!s.ok()) die(absl::StrFormat("%s: %s", what, s.ToString()));
}

double seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

long maxRssKib() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

struct Operator {
  std::string name;
  std::string role;
  crypto::Ed25519Key key;
};

struct Fleet {
  crypto::Ed25519Key log_key = must(crypto::Ed25519Key::generate(), "log key");
  crypto::Ed25519Key command_key = must(crypto::Ed25519Key::generate(), "command key");
  std::vector<Operator> operators;
  std::vector<std::string> hosts;
  std::vector<crypto::Ed25519Key> host_keys;
};

// Reasons of realistic lengths, as responders type them.
constexpr std::array<const char*, 6> kReasons = {
    "INC-4711: beaconing to 203.0.113.77 every 60 s from the build agent",
    "suspicious login from an unknown ASN, user account flagged by the IdP risk engine; "
    "containing until the on-call confirms with the user",
    "EDR alert: credential dumping tool on disk",
    "ransomware note found in /srv/share on a neighbouring host; isolating the whole subnet "
    "segment while forensics images the file server",
    "CISO request, ticket SEC-2291",
    "crypto-miner process spawned by the web service user, outbound stratum traffic to pool",
};

LogEntry entryOf(std::string type, std::string actor, std::int64_t ms) {
  LogEntry e;
  e.type = std::move(type);
  e.actor = std::move(actor);
  e.logged_unix_ms = ms;
  return e;
}

std::string keyEntry(const std::string& type, const std::string& actor, const KeyRecord& k,
                     std::int64_t ms, const std::string& host = "") {
  LogEntry e = entryOf(type, actor, ms);
  e.host_id = host;
  e.body = encodeKeyRecord(k);
  return encodeLogEntry(e);
}

// The three entries of triple `t`, whose first entry has index `first`.
std::array<std::string, 3> triple(const Fleet& fleet, std::uint64_t t, std::uint64_t first) {
  // Operators 0..9 act (admins and responders); 10..11 are auditors.
  const Operator& op = fleet.operators[t % 10];
  const std::size_t host_index = (t * 7919) % fleet.hosts.size();
  const std::string& host = fleet.hosts[host_index];
  static constexpr std::array<const char*, 4> kKinds = {"isolate", "block", "release",
                                                        "kill-sessions"};
  const std::string kind = kKinds[t % kKinds.size()];
  const std::int64_t ms = kStartMs + static_cast<std::int64_t>(first) * 7;

  Request q;
  q.id = absl::StrFormat("r-%016x", t * 0x9E3779B97F4A7C15ull);
  q.operator_name = op.name;
  q.kind = kind;
  q.hosts = {host};
  if (kind == "isolate") q.allow = {"10.20.0.5:22", "10.20.0.53:53", "10.20.0.9:443"};
  if (kind == "block") q.addresses = {"203.0.113.77", "198.51.100.0/24"};
  if (kind == "kill-sessions") q.args = {"user=mallory"};
  q.reason = kReasons[t % kReasons.size()];
  q.issued_unix_ms = ms - 40;
  const std::string request_body = encodeRequest(q);

  Command c;
  c.id = absl::StrFormat("a-%016x", (t + 1) * 0xC2B2AE3D27D4EB4Full);
  c.host_id = host;
  c.kind = kind;
  c.issued_unix_ms = ms + 7;
  c.expires_unix_ms = ms + 7 + 60'000;
  c.requested_by = op.name;
  c.reason = q.reason;
  c.allow = q.allow;
  c.addresses = q.addresses;
  c.args = q.args;
  const std::string command_body = encodeCommand(c);

  Receipt r;
  r.command_id = c.id;
  r.host_id = host;
  r.kind = kind;
  r.status = ReceiptStatus::kSucceeded;
  r.message = kind + " applied and verified";
  r.started_unix_ms = ms + 8;
  r.finished_unix_ms = ms + 10;
  r.details = {
      {"apply_us", absl::StrFormat("%d", 1500 + t % 900)}, {"rules", "4"}, {"verified", "true"}};
  const std::string receipt_body = encodeReceipt(r);

  LogEntry request = entryOf(entry_type::kRequest, "operator:" + op.name, ms);
  request.ref = q.id;
  request.body = request_body;
  request.signature = must(op.key.sign(request_body), "sign request");
  LogEntry dispatch = entryOf(entry_type::kDispatch, "controller", ms + 7);
  dispatch.host_id = host;
  dispatch.ref = q.id;
  dispatch.body = command_body;
  dispatch.signature = must(fleet.command_key.sign(command_body), "sign command");
  LogEntry receipt = entryOf(entry_type::kReceipt, "agent:" + host, ms + 14);
  receipt.host_id = host;
  receipt.ref = c.id;
  receipt.body = receipt_body;
  receipt.signature = must(fleet.host_keys[host_index].sign(receipt_body), "sign receipt");
  return {encodeLogEntry(request), encodeLogEntry(dispatch), encodeLogEntry(receipt)};
}

// Adds entries to the writer, signing a checkpoint every kCheckpointEvery entries.
class Exporter {
 public:
  Exporter(AuditExportWriter& writer, const note::Signer& signer)
      : writer_(writer), signer_(signer) {}

  void add(const std::string& entry) {
    must(writer_.addEntry(entry), "add entry");
    frontier_.append(entry);
    bytes_ += entry.size();
    if (frontier_.size() % kCheckpointEvery == 0) checkpoint();
  }

  void checkpoint() {
    const std::string text =
        must(note::formatCheckpoint({kOrigin, frontier_.size(), frontier_.root(), {}}),
             "format checkpoint");
    must(writer_.addCheckpoint(must(note::signNote(text, {signer_}), "sign checkpoint")),
         "add checkpoint");
    ++checkpoints_;
  }

  std::uint64_t size() const { return frontier_.size(); }
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t checkpoints() const { return checkpoints_; }

 private:
  AuditExportWriter& writer_;
  const note::Signer& signer_;
  MerkleFrontier frontier_;
  std::uint64_t bytes_ = 0;
  std::uint64_t checkpoints_ = 0;
};

// Single-thread cost of one Ed25519 verification through common/crypto/ed25519.h, for context: the
// fastest of 8 rounds, so that other work on a shared machine inflates it as little as possible.
double ed25519VerifyMicros() {
  auto key = must(crypto::Ed25519Key::generate(), "key");
  const std::string msg(400, 'm');
  const std::string sig = must(key.sign(msg), "sign");
  const std::string pub = key.publicKey();
  constexpr int kRounds = 8, kPerRound = 300;
  double best = 1e9;
  for (int r = 0; r < kRounds; ++r) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kPerRound; ++i) must(crypto::ed25519Verify(pub, msg, sig), "verify");
    best = std::min(best, seconds(start) * 1e6 / kPerRound);
  }
  return best;
}

int generate(const std::string& out, std::uint64_t entries, unsigned threads) {
  // Measured first, while the machine is not yet busy with the generation.
  const double verify_us = ed25519VerifyMicros();
  const auto start = std::chrono::steady_clock::now();
  Fleet fleet;
  const char* names[] = {"alice", "bob",   "carol", "dave", "erin", "frank",
                         "grace", "heidi", "ivan",  "judy", "mike", "niaj"};
  for (int i = 0; i < 12; ++i) {
    fleet.operators.push_back(Operator{names[i],
                                       i < 3    ? "admin"
                                       : i < 10 ? "responder"
                                                : "auditor",
                                       must(crypto::Ed25519Key::generate(), "operator key")});
  }
  for (std::size_t i = 0; i < kHosts; ++i) {
    fleet.hosts.push_back(absl::StrFormat("web-%04d.prod.example", i));
    fleet.host_keys.push_back(must(crypto::Ed25519Key::generate(), "host key"));
  }
  const note::Signer signer = must(note::makeSigner(kOrigin, fleet.log_key), "signer");
  const std::string vkey =
      must(note::formatVerifierKey(kOrigin, fleet.log_key.publicKey()), "vkey");
  must(writeFileAtomic(out + ".vkey", vkey + "\n", 0644), "write vkey");

  auto writer = must(AuditExportWriter::open(out, kOrigin, vkey), "open export");
  Exporter ex(*writer, signer);
  ex.checkpoint();  // size 0

  // Genesis: the controller's keys, the operators (the first admin added by the controller,
  // the rest by her), the hosts' enrollments.
  std::int64_t ms = kStartMs - 1'000'000;
  KeyRecord log_key{.purpose = "log",
                    .subject = "controller",
                    .role = "",
                    .public_key = vkey,
                    .cert_fingerprint = ""};
  ex.add(keyEntry(entry_type::kKey, "controller", log_key, ms));
  KeyRecord command_key{.purpose = "command",
                        .subject = "controller",
                        .role = "",
                        .public_key = fleet.command_key.publicKey(),
                        .cert_fingerprint = ""};
  ex.add(keyEntry(entry_type::kKey, "controller", command_key, ms));
  for (std::size_t i = 0; i < fleet.operators.size(); ++i) {
    const Operator& op = fleet.operators[i];
    KeyRecord k{.purpose = "operator",
                .subject = op.name,
                .role = op.role,
                .public_key = op.key.publicKey(),
                .cert_fingerprint = std::string(64, 'c')};
    // The genesis lists the operators the controller already had, as the controller's entries
    // (an admin's later additions are signed requests, not key records).
    ex.add(keyEntry(entry_type::kOperator, "controller", k, ++ms));
  }
  for (std::size_t i = 0; i < kHosts; ++i) {
    KeyRecord k{.purpose = "agent",
                .subject = fleet.hosts[i],
                .role = "",
                .public_key = fleet.host_keys[i].publicKey(),
                .cert_fingerprint = ""};
    ex.add(keyEntry(entry_type::kEnrollment, "agent:" + fleet.hosts[i], k, ++ms, fleet.hosts[i]));
  }
  if (ex.size() > entries) die("too few entries for the genesis");

  // Triples, made in parallel in blocks and written in order.
  const std::uint64_t triples = (entries - ex.size()) / 3;
  const std::uint64_t first_triple_entry = ex.size();
  constexpr std::uint64_t kBlock = 16384;
  std::vector<std::array<std::string, 3>> block;
  for (std::uint64_t b = 0; b < triples; b += kBlock) {
    const std::uint64_t n = std::min(kBlock, triples - b);
    block.assign(n, {});
    std::vector<std::thread> workers;
    for (unsigned w = 0; w < threads; ++w) {
      workers.emplace_back([&, w] {
        for (std::uint64_t i = w; i < n; i += threads) {
          block[i] = triple(fleet, b + i, first_triple_entry + 3 * (b + i));
        }
      });
    }
    for (auto& t : workers) t.join();
    for (const auto& tr : block) {
      for (const auto& e : tr) ex.add(e);
    }
    std::fprintf(stderr, "\r%llu / %llu entries", static_cast<unsigned long long>(ex.size()),
                 static_cast<unsigned long long>(entries));
  }
  std::fprintf(stderr, "\n");
  // Agent events fill up to exactly `entries`.
  ms = kStartMs + static_cast<std::int64_t>(ex.size()) * 7;
  while (ex.size() < entries) {
    LogEntry e = entryOf(entry_type::kEvent, "controller", ms);
    e.host_id = fleet.hosts[0];
    e.detail = "agent reconnected after 41 s offline (network partition)";
    ex.add(encodeLogEntry(e));
  }
  if (ex.size() % kCheckpointEvery != 0) ex.checkpoint();
  const std::uint64_t written = must(writer->finish(), "finish export");
  struct stat st {};
  ::stat(out.c_str(), &st);
  const double secs = seconds(start);
  std::printf("export: %s\nvkey: %s.vkey\n", out.c_str(), out.c_str());
  std::printf(
      "generated %llu entries (average %.0f bytes, %.1f MiB file) in %.1f s on %u threads\n",
      static_cast<unsigned long long>(written),
      static_cast<double>(ex.bytes()) / static_cast<double>(written),
      static_cast<double>(st.st_size) / (1 << 20), secs, threads);
  std::printf(
      "export_path=%s\nvkey_path=%s.vkey\nentries=%llu\navg_entry_bytes=%.0f\n"
      "export_bytes=%lld\ngenerate_seconds=%.2f\nsigned_entries=%llu\n"
      "checkpoints=%llu\ned25519_verify_us=%.1f\n",
      out.c_str(), out.c_str(), static_cast<unsigned long long>(written),
      static_cast<double>(ex.bytes()) / static_cast<double>(written),
      static_cast<long long>(st.st_size), secs, static_cast<unsigned long long>(3 * triples),
      static_cast<unsigned long long>(ex.checkpoints()), verify_us);
  return 0;
}

int verify(const std::string& path, unsigned threads) {
  AuditVerifyOptions options;
  options.threads = threads;
  auto vkey = must(readFile(path + ".vkey"), "read vkey");
  while (!vkey.empty() && (vkey.back() == '\n' || vkey.back() == '\r')) vkey.pop_back();
  options.pinned_vkey = vkey;
  const auto start = std::chrono::steady_clock::now();
  const AuditReport report = must(verifyAuditExport(path, options), "verify");
  const double secs = seconds(start);
  if (!report.ok) die(absl::StrFormat("the export does not verify: %s", report.error));
  const unsigned used = threads != 0 ? threads : std::thread::hardware_concurrency();
  const double us = ed25519VerifyMicros();
  std::printf(
      "verified %llu entries (%llu signatures, %llu checkpoints) in %.2f s on %u threads: "
      "%.0f entries/s, max RSS %.0f MiB\n",
      static_cast<unsigned long long>(report.tree_size),
      static_cast<unsigned long long>(report.signatures_verified),
      static_cast<unsigned long long>(report.checkpoints), secs, used,
      static_cast<double>(report.tree_size) / secs, static_cast<double>(maxRssKib()) / 1024);
  std::printf("one Ed25519 verification: %.1f us (single thread)\n", us);
  std::printf(
      "verify_seconds=%.2f\nverify_entries=%llu\nverify_signatures=%llu\n"
      "verify_checkpoints=%llu\nentries_per_second=%.0f\nverify_threads=%u\n"
      "max_rss_kib=%ld\ned25519_verify_us=%.1f\nroot=%s\n",
      secs, static_cast<unsigned long long>(report.tree_size),
      static_cast<unsigned long long>(report.signatures_verified),
      static_cast<unsigned long long>(report.checkpoints),
      static_cast<double>(report.tree_size) / secs, used, maxRssKib(), us, report.root_hex.c_str());
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_audit [--entries N] [--threads T] [--generate-only] OUT\n"
               "       bench_audit --verify-only [--threads T] OUT\n");
  return 2;
}

}  // namespace
}  // namespace warden

int main(int argc, char** argv) {
  std::uint64_t entries = 1'000'000;
  unsigned threads = 0;
  bool generate_only = false, verify_only = false;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--entries" && i + 1 < argc) {
      entries = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--threads" && i + 1 < argc) {
      threads = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
    } else if (a == "--generate-only") {
      generate_only = true;
    } else if (a == "--verify-only") {
      verify_only = true;
    } else if (!a.empty() && a[0] != '-' && out.empty()) {
      out = a;
    } else {
      return warden::usage();
    }
  }
  if (out.empty() || (generate_only && verify_only)) return warden::usage();
  if (!verify_only) {
    const unsigned gen_threads = threads != 0 ? threads : std::thread::hardware_concurrency();
    if (int rc = warden::generate(out, entries, std::max(1u, gen_threads)); rc != 0) return rc;
  }
  if (generate_only) return 0;
  std::fflush(stdout);
  return warden::verify(out, threads);
}
