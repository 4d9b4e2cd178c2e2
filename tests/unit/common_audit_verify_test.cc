// common/audit_export.h and common/audit_verify.h: a realistic action log with real keys (the
// controller's genesis keys, an admin, a responder and an auditor, two hosts enrolled before
// the log, one of them re-enrolled, request -> dispatch -> receipt chains with the allow lists
// and addresses normalized as the controller does, a fleet-wide block and the controller
// sending it to the re-enrolled host, a refusal, events, several signed checkpoints) is
// exported and verified; then
// every kind of tampering an auditor must catch is applied, to the file (as an attacker
// without the log key would) or to the log before signing (as a dishonest controller would),
// and the first bad entry and the reason are checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/audit.h"
#include "common/audit_export.h"
#include "common/audit_verify.h"
#include "common/command.h"
#include "common/crypto.h"
#include "common/merkle.h"
#include "common/note.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::testing::HasSubstr;
using ::warden::testing::TempDir;

constexpr char kOrigin[] = "warden/ctl.example.test";

crypto::Ed25519Key newKey() {
  auto k = crypto::Ed25519Key::generate();
  EXPECT_TRUE(k.ok()) << k.status();
  return *k;
}

std::string mustSign(const crypto::Ed25519Key& key, std::string_view message) {
  auto s = key.sign(message);
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

struct Keys {
  crypto::Ed25519Key log = newKey();
  crypto::Ed25519Key command = newKey();
  crypto::Ed25519Key alice = newKey();  // admin
  crypto::Ed25519Key bob = newKey();    // responder
  crypto::Ed25519Key carol = newKey();  // auditor
  crypto::Ed25519Key host1 = newKey();
  crypto::Ed25519Key host1_renewed = newKey();
  crypto::Ed25519Key host2 = newKey();
  crypto::Ed25519Key stranger = newKey();
  note::Signer signer = *note::makeSigner(kOrigin, log);
  note::Signer stranger_signer = *note::makeSigner(kOrigin, stranger);  // same name, other key
  std::string vkey = *note::formatVerifierKey(kOrigin, log.publicKey());
};

LogEntry makeEntry(std::string type, std::string actor, std::string host_id = "",
                   std::string ref = "", std::string body = "", std::string signature = "",
                   std::string detail = "") {
  LogEntry e;
  e.type = std::move(type);
  e.actor = std::move(actor);
  e.host_id = std::move(host_id);
  e.ref = std::move(ref);
  e.body = std::move(body);
  e.signature = std::move(signature);
  e.detail = std::move(detail);
  return e;
}

KeyRecord makeKey(std::string purpose, std::string subject, std::string role,
                  std::string public_key) {
  KeyRecord r;
  r.purpose = std::move(purpose);
  r.subject = std::move(subject);
  r.role = std::move(role);
  r.public_key = std::move(public_key);
  return r;
}

// What requests ask for, typed as an operator might (the controller normalizes them), and the
// same in the canonical form the controller's commands carry.
const std::vector<std::string> kRequestAllow = {"10.0.0.5:22", "[2001:DB8:0::53]:53",
                                                "10.20.0.0/16"};
const std::vector<std::string> kCommandAllow = {"10.0.0.5:22", "[2001:db8::53]:53", "10.20.0.0/16"};
const std::vector<std::string> kRequestAddresses = {"203.0.113.7/32", "198.51.100.0/24",
                                                    "2001:DB8::BAD", "203.0.113.7"};
const std::vector<std::string> kCommandAddresses = {"203.0.113.7", "198.51.100.0/24",
                                                    "2001:db8::bad"};
constexpr char kReason[] = "INC-4711: beaconing to a known C2 address from this host";
constexpr char kFleetReason[] = "fleet-wide blocks in force";
constexpr char kPreLogEnrollment[] = "enrolled before the action log existed";

const Keys& keys() {
  static const Keys* k = new Keys();
  return *k;
}

std::string signCheckpoint(const note::Signer& signer, std::uint64_t size,
                           const std::string& root) {
  auto text = note::formatCheckpoint({kOrigin, size, root, {}});
  EXPECT_TRUE(text.ok()) << text.status();
  auto signed_note = note::signNote(*text, {signer});
  EXPECT_TRUE(signed_note.ok()) << signed_note.status();
  return *signed_note;
}

// Builds a log the way the controller fills it: canonical entries, and checkpoints signed by
// the log key over whatever entries it holds (so a log built with a bad entry in it is signed
// as a dishonest controller would sign it).
class LogBuilder {
 public:
  explicit LogBuilder(const Keys& k) : k_(k) {}

  std::uint64_t size() const { return entries.size(); }

  std::uint64_t add(LogEntry e) {
    if (e.logged_unix_ms == 0) e.logged_unix_ms = (now_ += 250);
    entries.push_back(encodeLogEntry(e));
    tree_.append(entries.back());
    return entries.size() - 1;
  }

  std::string checkpoint(const note::Signer* signer = nullptr) {
    checkpoints.push_back(signCheckpoint(signer ? *signer : k_.signer, size(), tree_.root()));
    return checkpoints.back();
  }

  std::uint64_t key(std::string purpose, std::string public_key) {
    return add(makeEntry(entry_type::kKey, "controller", "", "",
                         encodeKeyRecord(makeKey(purpose, "controller", "", public_key))));
  }

  // The controller's genesis record of an operator, or an admin's signed change: adding one
  // (role admin/responder/auditor) or revoking one (role "revoked").
  std::uint64_t op(const std::string& name, const std::string& role, const crypto::Ed25519Key& key,
                   const std::string& actor) {
    if (actor == "controller") {
      KeyRecord r = makeKey("operator", name, role, key.publicKey());
      r.cert_fingerprint = std::string(64, 'f');
      return add(makeEntry(entry_type::kOperator, actor, "", "", encodeKeyRecord(r)));
    }
    const std::string admin = actor.substr(actor.find(':') + 1);
    Request q;
    q.id = absl::StrFormat("r-%016x", 0xc0de0000u + ++changes_);
    q.operator_name = admin;
    q.kind = role == "revoked" ? kRevokeOperatorKind : kAddOperatorKind;
    q.args = operatorChangeArgs(
        OperatorChange{role == "revoked", name, role == "revoked" ? "" : role, key.publicKey()});
    q.issued_unix_ms = 1700000000000;
    const std::string body = encodeRequest(q);
    const crypto::Ed25519Key& signer = admin == "alice"   ? k_.alice
                                       : admin == "bob"   ? k_.bob
                                       : admin == "carol" ? k_.carol
                                                          : k_.stranger;
    return add(makeEntry(entry_type::kOperator, actor, "", q.id, body, *signer.sign(body)));
  }

  // An enrollment with a join token, or (no token) one of a host enrolled before the log.
  std::uint64_t enroll(const std::string& host, const crypto::Ed25519Key& key,
                       const std::string& token = "") {
    return add(makeEntry(entry_type::kEnrollment, "agent:" + host, host, token,
                         encodeKeyRecord(makeKey("agent", host, "", key.publicKey())), "",
                         token.empty() ? kPreLogEnrollment : "enrolled with join token " + token));
  }

  // A request with what its kind takes: an allow list to isolate, addresses to block or
  // unblock, arguments to kill sessions.
  static Request makeRequest(const std::string& name, const std::string& id,
                             const std::string& kind, std::vector<std::string> hosts,
                             bool all_hosts = false) {
    Request q;
    q.id = id;
    q.operator_name = name;
    q.kind = kind;
    q.hosts = std::move(hosts);
    q.all_hosts = all_hosts;
    if (kind == "isolate") q.allow = kRequestAllow;
    if (kind == "block" || kind == "unblock") q.addresses = kRequestAddresses;
    if (kind == "kill-sessions") q.args = {"user=mallory"};
    q.reason = kReason;
    return q;
  }

  std::uint64_t request(const crypto::Ed25519Key& key, Request q) {
    q.issued_unix_ms = now_;
    const std::string body = encodeRequest(q);
    return add(makeEntry(entry_type::kRequest, "operator:" + q.operator_name, "", q.id, body,
                         mustSign(key, body)));
  }

  std::uint64_t request(const std::string& name, const crypto::Ed25519Key& key,
                        const std::string& id, const std::string& kind,
                        std::vector<std::string> hosts, bool all_hosts = false) {
    return request(key, makeRequest(name, id, kind, std::move(hosts), all_hosts));
  }

  // The command the controller makes of makeRequest's request; the controller's own
  // (requested_by "controller") carries the fleet-wide blocks.
  Command command(const std::string& id, const std::string& host, const std::string& kind,
                  const std::string& requested_by) {
    Command c;
    c.id = id;
    c.host_id = host;
    c.kind = kind;
    c.issued_unix_ms = now_;
    c.expires_unix_ms = now_ + 60000;
    c.requested_by = requested_by;
    c.reason = requested_by == "controller" ? kFleetReason : kReason;
    if (kind == "isolate") c.allow = kCommandAllow;
    if (kind == "block" || kind == "unblock") c.addresses = kCommandAddresses;
    if (kind == "kill-sessions") c.args = {"user=mallory"};
    return c;
  }

  std::uint64_t dispatch(const Command& c, const std::string& request_id,
                         const crypto::Ed25519Key* key = nullptr) {
    const std::string body = encodeCommand(c);
    return add(makeEntry(entry_type::kDispatch, "controller", c.host_id, request_id, body,
                         mustSign(key ? *key : k_.command, body)));
  }

  std::uint64_t receipt(const std::string& command_id, const std::string& host,
                        const std::string& kind, const crypto::Ed25519Key& key) {
    Receipt r;
    r.command_id = command_id;
    r.host_id = host;
    r.kind = kind;
    r.status = ReceiptStatus::kSucceeded;
    r.message = "applied and verified";
    r.started_unix_ms = now_;
    r.finished_unix_ms = now_ + 2;
    r.details = {{"apply_us", "1712"}, {"rules", "4"}};
    const std::string body = encodeReceipt(r);
    return add(makeEntry(entry_type::kReceipt, "agent:" + host, host, command_id, body,
                         mustSign(key, body)));
  }

  std::uint64_t refusal(const std::string& actor, const std::string& detail,
                        const std::string& ref = "") {
    return add(makeEntry(entry_type::kRefusal, actor, "", ref, "", "", detail));
  }
  std::uint64_t event(const std::string& host, const std::string& detail) {
    return add(makeEntry(entry_type::kEvent, "controller", host, "", "", "", detail));
  }

  absl::Status write(const std::string& path) const {
    return writeAuditExport(path, kOrigin, k_.vkey, entries, checkpoints);
  }

  std::vector<std::string> entries;
  std::vector<std::string> checkpoints;
  std::int64_t now_ = 1'763'700'000'000;

 private:
  const Keys& k_;
  int changes_ = 0;  // operator changes made, for their request ids
  merkle::MerkleTree tree_;
};

// The genesis of the standard log (entries 0..6): the controller's keys, the operators it
// had, the hosts enrolled before the log existed.
void genesis(LogBuilder& b) {
  b.checkpoint();  // size 0
  b.key("log", keys().vkey);
  b.key("command", keys().command.publicKey());
  b.op("alice", "admin", keys().alice, "controller");
  b.op("bob", "responder", keys().bob, "operator:alice");
  b.op("carol", "auditor", keys().carol, "operator:alice");
  b.enroll("host-1", keys().host1);
  b.enroll("host-2", keys().host2);
}

// Entry indices of the standard log, for the tests that name them.
constexpr std::uint64_t kAliceRequest = 8;
constexpr std::uint64_t kAliceDispatch = 9;
constexpr std::uint64_t kAliceReceipt = 10;

// The standard log: requests whose allow lists and addresses the controller normalized in its
// commands, a fleet-wide block (--all) and the controller sending it to a re-enrolled host, an
// auditor's request refused.
void standardLog(LogBuilder& b) {
  const Keys& k = keys();
  genesis(b);
  b.checkpoint();                                                            // size 7
  b.event("host-1", "agent connected");                                      // 7
  b.request("alice", k.alice, "r-1a2b3c4d5e6f7081", "isolate", {"host-1"});  // 8
  b.dispatch(b.command("a-0000000000000001", "host-1", "isolate", "alice"),  // 9
             "r-1a2b3c4d5e6f7081");
  b.receipt("a-0000000000000001", "host-1", "isolate", k.host1);         // 10
  b.request("bob", k.bob, "r-2b3c4d5e6f708192", "block", {}, true);      // 11
  b.dispatch(b.command("a-0000000000000002", "host-2", "block", "bob"),  // 12
             "r-2b3c4d5e6f708192");
  b.dispatch(b.command("a-0000000000000003", "host-1", "block", "bob"),  // 13
             "r-2b3c4d5e6f708192");
  b.receipt("a-0000000000000003", "host-1", "block", k.host1);  // 14
  b.receipt("a-0000000000000002", "host-2", "block", k.host2);  // 15
  b.checkpoint();                                               // size 16
  b.checkpoint();  // an idle re-sign: byte-identical, written once
  b.enroll("host-1", k.host1_renewed, "t-0123456789abcdef");                         // 16
  b.dispatch(b.command("a-0000000000000004", "host-1", "block", "controller"), "");  // 17
  b.receipt("a-0000000000000004", "host-1", "block", k.host1_renewed);               // 18
  b.request("carol", k.carol, "r-3c4d5e6f708192a3", "isolate", {"host-2"});          // 19
  b.refusal("operator:carol", "request r-3c4d5e6f708192a3 (isolate) refused: carol is an auditor",
            "r-3c4d5e6f708192a3");                                                     // 20
  b.event("host-1", "agent re-enrolled after reinstall");                              // 21
  b.checkpoint();                                                                      // size 22
  b.request("alice", k.alice, "r-4d5e6f708192a3b4", "isolate", {"host-1", "host-2"});  // 22
  b.dispatch(b.command("a-0000000000000005", "host-1", "isolate", "alice"),            // 23
             "r-4d5e6f708192a3b4");
  b.dispatch(b.command("a-0000000000000006", "host-2", "isolate", "alice"),  // 24
             "r-4d5e6f708192a3b4");
  b.receipt("a-0000000000000005", "host-1", "isolate", k.host1_renewed);  // 25
  b.receipt("a-0000000000000006", "host-2", "isolate", k.host2);          // 26
  b.op("dave", "responder", keys().stranger, "operator:alice");           // 27
}

std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
}

void writeLines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  writeText(path, text);
}

// Line numbers (0-based) of the entry lines and checkpoint lines.
std::vector<std::size_t> linesOf(const std::vector<std::string>& lines, std::string_view kind) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind(kind, 0) == 0) out.push_back(i);
  }
  return out;
}

std::string entryLine(const std::string& bytes) { return "entry " + crypto::base64(bytes); }
std::string checkpointLine(const std::string& note) { return "checkpoint " + crypto::base64(note); }

AuditReport verify(const std::string& path, AuditVerifyOptions options = {}) {
  auto report = verifyAuditExport(path, options);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *report : AuditReport{};
}

class AuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    standardLog(log_);
    log_.checkpoint();  // size 28: covers everything
    ASSERT_TRUE(log_.write(path_).ok());
    lines_ = readLines(path_);
  }

  // Verifies a variant of the export, written from `lines`.
  AuditReport verifyLines(const std::vector<std::string>& lines, AuditVerifyOptions options = {}) {
    writeLines(variant_, lines);
    return verify(variant_, std::move(options));
  }

  // A log built by a dishonest controller: the standard log, then `extra`, all checkpointed.
  template <typename F>
  AuditReport verifyBuilt(F extra) {
    LogBuilder b(keys());
    standardLog(b);
    extra(b);
    b.checkpoint();
    EXPECT_TRUE(b.write(variant_).ok());
    return verify(variant_);
  }

  TempDir dir_;
  std::string path_ = dir_.file("log.export");
  std::string variant_ = dir_.file("variant.export");
  LogBuilder log_{keys()};
  std::vector<std::string> lines_;
};

TEST_F(AuditVerifyTest, TheStandardLogVerifies) {
  const AuditReport r = verify(path_);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_EQ(r.error, "");
  EXPECT_EQ(r.tree_size, 28u);
  merkle::MerkleTree tree;
  for (const auto& e : log_.entries) tree.append(e);
  EXPECT_EQ(r.root_hex, crypto::hex(tree.root()));
  EXPECT_FALSE(r.vkey_pinned);
  EXPECT_EQ(r.vkey, keys().vkey);
  EXPECT_EQ(r.origin, kOrigin);
  // Sizes 0, 7, 16 (the idle duplicate skipped), 22, 28.
  EXPECT_EQ(r.checkpoints, 5u);
  EXPECT_EQ(r.latest_checkpoint, log_.checkpoints.back());
  // Requests, dispatches, receipts, and the admin's signed operator changes.
  EXPECT_EQ(r.signatures_verified, 4u + 6u + 6u + 3u);
  EXPECT_EQ(r.entries_by_type, (std::map<std::string, std::uint64_t>{{"dispatch", 6},
                                                                     {"enrollment", 3},
                                                                     {"event", 2},
                                                                     {"key", 2},
                                                                     {"operator", 4},
                                                                     {"receipt", 6},
                                                                     {"refusal", 1},
                                                                     {"request", 4}}));
  EXPECT_EQ(linesOf(lines_, "checkpoint").size(), 5u);
  EXPECT_EQ(lines_.front(), "warden-audit-export 1");
  EXPECT_EQ(lines_.back(), "end 28");

  AuditVerifyOptions pinned;
  pinned.pinned_vkey = keys().vkey;
  pinned.threads = 1;
  const AuditReport p = verify(path_, pinned);
  EXPECT_TRUE(p.ok) << p.error;
  EXPECT_TRUE(p.vkey_pinned);
}

TEST_F(AuditVerifyTest, StreamingWriterAndWholeExportWriteTheSameFile) {
  // Checkpoints in any order, with duplicates.
  std::vector<std::string> shuffled = log_.checkpoints;
  std::reverse(shuffled.begin(), shuffled.end());
  shuffled.push_back(log_.checkpoints[2]);
  const std::string other = dir_.file("other.export");
  ASSERT_TRUE(writeAuditExport(other, kOrigin, keys().vkey, log_.entries, shuffled).ok());
  EXPECT_EQ(readLines(other), lines_);

  const std::string streamed = dir_.file("streamed.export");
  auto w = AuditExportWriter::open(streamed, kOrigin, keys().vkey);
  ASSERT_TRUE(w.ok()) << w.status();
  std::size_t next_cp = 0;
  for (std::size_t i = 0; i <= log_.entries.size(); ++i) {
    while (next_cp < log_.checkpoints.size() && *checkpointSize(log_.checkpoints[next_cp]) == i) {
      ASSERT_TRUE((*w)->addCheckpoint(log_.checkpoints[next_cp++]).ok());
    }
    if (i < log_.entries.size()) {
      ASSERT_TRUE((*w)->addEntry(log_.entries[i]).ok());
    }
  }
  EXPECT_FALSE(std::filesystem::exists(streamed)) << "visible before finish()";
  auto n = (*w)->finish();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 28u);
  EXPECT_EQ(readLines(streamed), lines_);
  // Nothing but the three exports in the directory: no temporary file left behind.
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 3u);
}

TEST_F(AuditVerifyTest, WriterRefusesExportsThatCannotVerify) {
  const std::string path = dir_.file("refused.export");
  {
    auto w = AuditExportWriter::open(path, kOrigin, keys().vkey);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->addEntry(log_.entries[0]).ok());
    // The size-7 checkpoint after one entry, one by another key, one over another root.
    EXPECT_EQ((*w)->addCheckpoint(log_.checkpoints[1]).code(),
              absl::StatusCode::kFailedPrecondition);
    merkle::MerkleTree one;
    one.append(log_.entries[0]);
    EXPECT_FALSE((*w)->addCheckpoint(signCheckpoint(keys().stranger_signer, 1, one.root())).ok());
    EXPECT_FALSE((*w)->addCheckpoint(signCheckpoint(keys().signer, 1, merkle::emptyRoot())).ok());
    ASSERT_TRUE((*w)->addEntry(log_.entries[1]).ok());
    // No checkpoint covers the entries: finish fails and nothing appears.
    EXPECT_EQ((*w)->finish().status().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  {
    // Abandoned half-way: nothing appears either.
    auto w = AuditExportWriter::open(path, kOrigin, keys().vkey);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->addCheckpoint(log_.checkpoints[0]).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);  // log.export only
  // A checkpoint beyond the exported entries, and no checkpoint covering them all.
  EXPECT_EQ(writeAuditExport(path, kOrigin, keys().vkey,
                             std::span<const std::string>(log_.entries).first(20), log_.checkpoints)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      writeAuditExport(path, kOrigin, keys().vkey,
                       std::span<const std::string>(log_.entries).first(7), {log_.checkpoints[0]})
          .code(),
      absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(AuditExportWriter::open(path, "another/origin", keys().vkey).ok());
}

// First checkpoint size strictly greater than `index` (every entry has one: the last covers
// all).
std::uint64_t nextCheckpointAfter(const LogBuilder& b, std::uint64_t index) {
  std::uint64_t best = UINT64_MAX;
  for (const auto& cp : b.checkpoints) {
    const std::uint64_t s = *checkpointSize(cp);
    if (s > index) best = std::min(best, s);
  }
  return best;
}

TEST_F(AuditVerifyTest, EveryFlippedByteIsCaughtNoEarlierThanItsEntry) {
  const auto entry_lines = linesOf(lines_, "entry ");
  ASSERT_EQ(entry_lines.size(), log_.entries.size());
  int exact = 0, later = 0, by_checkpoint = 0;
  for (std::uint64_t i = 0; i < log_.entries.size(); ++i) {
    const std::string& bytes = log_.entries[i];
    const std::uint64_t next_cp = nextCheckpointAfter(log_, i);
    // Every fourth byte of the first 64 (tag, version, type, time, actor), then a sample.
    std::vector<std::size_t> positions;
    for (std::size_t p = 0; p < bytes.size(); p += (p < 64 ? 4 : bytes.size() / 10 + 1)) {
      positions.push_back(p);
    }
    positions.push_back(bytes.size() - 1);
    for (std::size_t p : positions) {
      std::string flipped = bytes;
      flipped[p] = static_cast<char>(flipped[p] ^ (1 << (p % 8)));
      std::vector<std::string> lines = lines_;
      lines[entry_lines[i]] = entryLine(flipped);
      const AuditReport r = verifyLines(lines);
      SCOPED_TRACE(absl::StrFormat("entry %d byte %d: %s", i, p, r.error));
      ASSERT_FALSE(r.ok);
      if (r.bad_index >= 0) {
        // The entry itself, or one whose check depends on it (a key it recorded, its time),
        // before the next checkpoint.
        EXPECT_GE(r.bad_index, static_cast<std::int64_t>(i));
        EXPECT_LT(r.bad_index, static_cast<std::int64_t>(next_cp));
        (r.bad_index == static_cast<std::int64_t>(i) ? exact : later)++;
        EXPECT_THAT(r.error, HasSubstr(absl::StrFormat("entry %d", r.bad_index)));
      } else {
        // Unsigned fields: the next checkpoint's root no longer matches.
        EXPECT_THAT(r.error, HasSubstr(absl::StrFormat("(after %d entries)", next_cp)));
        EXPECT_THAT(r.error, HasSubstr("is not what the log signed"));
        ++by_checkpoint;
      }
    }
  }
  EXPECT_GT(exact, 10 * later);
  EXPECT_GT(by_checkpoint, 0);
}

TEST_F(AuditVerifyTest, FlippedSignatureOrBodyNamesTheEntry) {
  const auto entry_lines = linesOf(lines_, "entry ");
  int checked = 0;
  for (std::uint64_t i = 0; i < log_.entries.size(); ++i) {
    auto e = decodeLogEntry(log_.entries[i]);
    ASSERT_TRUE(e.ok());
    if (e->signature.empty()) continue;
    for (int field = 0; field < 2; ++field) {
      LogEntry bad = *e;
      std::string& target = field == 0 ? bad.signature : bad.body;
      target[target.size() / 2] ^= 0x10;
      std::vector<std::string> lines = lines_;
      lines[entry_lines[i]] = entryLine(encodeLogEntry(bad));
      const AuditReport r = verifyLines(lines);
      SCOPED_TRACE(r.error);
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(r.bad_index, static_cast<std::int64_t>(i));
      EXPECT_EQ(r.bad_line, entry_lines[i] + 1);
      if (field == 0) {
        EXPECT_THAT(r.error, HasSubstr("signature does not verify under"));
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2 * 19);
}

TEST_F(AuditVerifyTest, ReceiptSignedByAnotherAgentsKey) {
  const auto entry_lines = linesOf(lines_, "entry ");
  auto e = decodeLogEntry(log_.entries[kAliceReceipt]);
  ASSERT_TRUE(e.ok());
  e->signature = mustSign(keys().host2, e->body);
  std::vector<std::string> lines = lines_;
  lines[entry_lines[kAliceReceipt]] = entryLine(encodeLogEntry(*e));
  const AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 10);
  EXPECT_EQ(r.error,
            "entry 10 (receipt by agent:host-1, command a-0000000000000001): signature does not "
            "verify under host-1's enrolled key");

  // The same forgery in a log the controller signed: still the receipt's signature.
  const AuditReport built = verifyBuilt([](LogBuilder& b) {
    b.request("alice", keys().alice, "r-5e6f708192a3b4c5", "release", {"host-1"});
    b.dispatch(b.command("a-0000000000000007", "host-1", "release", "alice"), "r-5e6f708192a3b4c5");
    b.receipt("a-0000000000000007", "host-1", "release", keys().host1);  // the replaced key
  });
  EXPECT_EQ(built.bad_index, 30);
  EXPECT_EQ(built.error,
            "entry 30 (receipt by agent:host-1, command a-0000000000000007): signature does not "
            "verify under host-1's enrolled key");
}

TEST_F(AuditVerifyTest, DroppedEntry) {
  // A dispatch dropped: its receipt becomes an orphan.
  std::vector<std::string> lines = lines_;
  lines.erase(lines.begin() + linesOf(lines_, "entry ")[kAliceDispatch]);
  AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 9);
  EXPECT_THAT(r.error, HasSubstr("entry 9 (receipt by agent:host-1, command a-0000000000000001)"));
  EXPECT_THAT(r.error, HasSubstr("orphan"));

  // A receipt dropped: no rule breaks, but the next checkpoint is out of place.
  lines = lines_;
  lines.erase(lines.begin() + linesOf(lines_, "entry ")[kAliceReceipt]);
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("(after 15 entries): has size 16"));

  // The last entry dropped along with the checkpoint line after it: the end count catches it.
  // (A controller that re-signs checkpoints after dropping entries is caught by the auditor's
  // saved checkpoints: see SavedCheckpoints.)
  lines = lines_;
  const auto cps = linesOf(lines_, "checkpoint ");
  lines.erase(lines.begin() + cps.back());
  lines.erase(lines.begin() + linesOf(lines_, "entry ").back());
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("the 'end' line says 28 entries, but the file holds 27"));
}

TEST_F(AuditVerifyTest, ReorderedEntries) {
  // A dispatch moved before its request.
  const auto entry_lines = linesOf(lines_, "entry ");
  std::vector<std::string> lines = lines_;
  std::swap(lines[entry_lines[kAliceRequest]], lines[entry_lines[kAliceDispatch]]);
  AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 8);
  EXPECT_THAT(r.error, HasSubstr("request r-1a2b3c4d5e6f7081 is not logged before it"));

  // Two receipts swapped (15 and 14's order does not matter to the rules): the timestamps do.
  lines = lines_;
  std::swap(lines[entry_lines[14]], lines[entry_lines[15]]);
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 15);
  EXPECT_THAT(r.error, HasSubstr("time went backwards"));

  // Two entries with the same time and no dependency: only the checkpoint root shows it.
  LogBuilder b(keys());
  standardLog(b);
  b.checkpoint();
  b.event("host-1", "first");
  b.event("host-2", "second");
  b.checkpoint();
  ASSERT_TRUE(b.write(variant_).ok());
  lines = readLines(variant_);
  const auto el = linesOf(lines, "entry ");
  auto e28 = decodeLogEntry(b.entries[28]);
  auto e29 = decodeLogEntry(b.entries[29]);
  e28->logged_unix_ms = e29->logged_unix_ms;
  lines[el[28]] = entryLine(encodeLogEntry(*e29));
  lines[el[29]] = entryLine(encodeLogEntry(*e28));
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("one of entries 28..29 is not what the log signed"));
}

TEST_F(AuditVerifyTest, OlderCheckpointPlacedAsTheNewest) {
  std::vector<std::string> lines = lines_;
  lines[linesOf(lines_, "checkpoint ").back()] = checkpointLine(log_.checkpoints[4]);
  const AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("(after 28 entries): has size 22"));
  // Simply missing: the last entries are not covered.
  lines = lines_;
  lines.erase(lines.begin() + linesOf(lines_, "checkpoint ").back());
  const AuditReport m = verifyLines(lines);
  EXPECT_FALSE(m.ok);
  EXPECT_THAT(m.error, HasSubstr("entries 22..27 come after the last checkpoint"));
}

TEST_F(AuditVerifyTest, TruncatedFile) {
  std::vector<std::string> lines = lines_;
  lines.pop_back();  // "end 28"
  AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("without an 'end' line: it is truncated"));

  // Cut inside an entry line.
  std::string text;
  for (const auto& l : lines_) text += l + "\n";
  writeText(variant_, text.substr(0, text.size() / 2));
  r = verify(variant_);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("cut off (no newline): the file is truncated"));

  // Cut inside the header, and an empty file.
  writeText(variant_, "warden-audit-export 1\norigin ");
  EXPECT_FALSE(verify(variant_).ok);
  writeText(variant_, "");
  EXPECT_FALSE(verify(variant_).ok);
}

TEST_F(AuditVerifyTest, OrphanReceipt) {
  const AuditReport r = verifyBuilt([](LogBuilder& b) {
    b.receipt("a-00000000000000ff", "host-2", "isolate", keys().host2);  // 28
  });
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 28);
  EXPECT_EQ(r.error,
            "entry 28 (receipt by agent:host-2, command a-00000000000000ff): command "
            "a-00000000000000ff was not dispatched before it (orphan receipt)");
}

TEST_F(AuditVerifyTest, ErrorsCarryNoTerminalEscapes) {
  const AuditReport r = verifyBuilt([](LogBuilder& b) {
    b.receipt("a-\x1b[2J\x1b]0;pwned\x07", "host-2", "isolate", keys().host2);
  });
  EXPECT_EQ(r.bad_index, 28);
  EXPECT_EQ(r.error.find('\x1b'), std::string::npos) << r.error;
  EXPECT_THAT(r.error, HasSubstr("command a-\\x1b[2J\\x1b]0;pwned\\x07)"));
}

TEST_F(AuditVerifyTest, DispatchWithoutRequest) {
  const AuditReport r = verifyBuilt([](LogBuilder& b) {
    b.dispatch(b.command("a-0000000000000010", "host-2", "isolate", "alice"), "r-ffffffffffffffff");
  });
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 28);
  EXPECT_EQ(r.error,
            "entry 28 (dispatch by controller, command a-0000000000000010, for request "
            "r-ffffffffffffffff): request r-ffffffffffffffff is not logged before it");
}

TEST_F(AuditVerifyTest, ChainRules) {
  struct Case {
    std::string name;
    std::function<void(LogBuilder&)> extra;
    std::string error;
  };
  const Keys& k = keys();
  const std::vector<Case> cases = {
      {"auditor's request dispatched",
       [&](LogBuilder& b) {
         b.request("carol", k.carol, "r-00000000000000c1", "isolate", {"host-2"});
         b.dispatch(b.command("a-0000000000000011", "host-2", "isolate", "carol"),
                    "r-00000000000000c1");
       },
       "operator carol (role auditor) may not have commands dispatched"},
      {"host not in the request",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000012", "host-2", "isolate", "alice"),
                    "r-1a2b3c4d5e6f7081");
       },
       "request r-1a2b3c4d5e6f7081 does not name host host-2"},
      {"kind differs from the request",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000013", "host-1", "release", "alice"),
                    "r-1a2b3c4d5e6f7081");
       },
       "command kind 'release', but request r-1a2b3c4d5e6f7081 asked for 'isolate'"},
      {"command id reused",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000001", "host-1", "isolate", "alice"),
                    "r-1a2b3c4d5e6f7081");
       },
       "command id a-0000000000000001 was already dispatched"},
      {"second receipt",
       [&](LogBuilder& b) { b.receipt("a-0000000000000002", "host-2", "block", k.host2); },
       "command a-0000000000000002 already has a receipt"},
      {"receipt from the wrong host",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000014", "host-1", "block", "controller"), "");
         b.receipt("a-0000000000000014", "host-2", "block", k.host2);
       },
       "command a-0000000000000014 was dispatched to host-1, not host-2"},
      {"request id reused",
       [&](LogBuilder& b) { b.request("bob", k.bob, "r-1a2b3c4d5e6f7081", "isolate", {"host-1"}); },
       "request id r-1a2b3c4d5e6f7081 was already used"},
      {"request by an unknown operator",
       [&](LogBuilder& b) { b.request("eve", k.stranger, "r-6e", "isolate", {"host-1"}); },
       "'eve' is not a logged operator"},
      {"request signed by someone else",
       [&](LogBuilder& b) { b.request("bob", k.alice, "r-7f", "isolate", {"host-1"}); },
       "signature does not verify under operator bob's key"},
      {"dispatch not signed by the command key",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000015", "host-1", "block", "controller"), "", &k.log);
       },
       "signature does not verify under the controller's command key"},
      {"operator added by a responder",
       [&](LogBuilder& b) { b.op("mallory", "admin", k.stranger, "operator:bob"); },
       "'bob' is not a logged admin, so may not add operators"},
      {"controller command to a host that never enrolled",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-0000000000000016", "host-9", "block", "controller"), "");
       },
       "host host-9 has not enrolled"},
      {"refusal without a reason", [&](LogBuilder& b) { b.refusal("operator:bob", ""); },
       "a refusal entry must say what happened (empty detail)"},
      {"unknown type",
       [&](LogBuilder& b) { b.add(makeEntry("note", "controller", "", "", "", "", "x")); },
       "unknown entry type 'note'"},
      {"another log key",
       [&](LogBuilder& b) {
         b.key("log", *note::formatVerifierKey(kOrigin, k.stranger.publicKey()));
       },
       "but the log is signed with"},
      {"time going backwards",
       [&](LogBuilder& b) {
         LogEntry e = makeEntry(entry_type::kEvent, "controller", "", "", "", "", "clock back");
         e.logged_unix_ms = b.now_ - 1;
         b.add(e);
       },
       "time went backwards"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const AuditReport r = verifyBuilt(c.extra);
    EXPECT_FALSE(r.ok);
    EXPECT_GE(r.bad_index, 28);
    EXPECT_THAT(r.error, HasSubstr(c.error));
  }
}

// A rule case: entries a dishonest controller appends to the standard log, and the error (the
// empty string: the log verifies).
struct RuleCase {
  std::string name;
  std::function<void(LogBuilder&)> extra;
  std::string error;
};

void checkCases(const std::vector<RuleCase>& cases,
                const std::function<AuditReport(const std::function<void(LogBuilder&)>&)>& run) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const AuditReport r = run(c.extra);
    if (c.error.empty()) {
      EXPECT_TRUE(r.ok) << r.error;
    } else {
      EXPECT_FALSE(r.ok);
      EXPECT_GE(r.bad_index, 28);
      EXPECT_THAT(r.error, HasSubstr(c.error));
    }
  }
}

// A dispatch carries exactly what its request asked for, as the controller normalizes it.
TEST_F(AuditVerifyTest, DispatchCarriesWhatItsRequestAskedFor) {
  const Keys& k = keys();
  constexpr char kId[] = "r-00000000000000d1";
  // Alice's request with `edit` applied, then its dispatch to host-2 with `forge` applied.
  const auto requestAndDispatch = [&](const std::string& kind, std::function<void(Request&)> edit,
                                      std::function<void(Command&)> forge) {
    return [=](LogBuilder& b) {
      Request q = LogBuilder::makeRequest("alice", kId, kind, {"host-2"});
      edit(q);
      b.request(k.alice, q);
      Command c = b.command("a-00000000000000d1", "host-2", kind, "alice");
      forge(c);
      b.dispatch(c, kId);
    };
  };
  const auto same = [](auto&) {};
  const std::vector<RuleCase> cases = {
      {"normalized as the controller does",
       requestAndDispatch(
           "block",
           [](Request& q) {
             q.addresses = {"192.0.2.0/24", "2001:0DB8::1/128", "192.0.2.0/24", "2001:db8::1"};
           },
           [](Command& c) {
             c.addresses = {"192.0.2.0/24", "2001:db8::1"};
           }),
       ""},
      {"arguments", requestAndDispatch("kill-sessions", same, same), ""},
      {"no allow list",
       requestAndDispatch(
           "isolate", [](Request& q) { q.allow.clear(); }, [](Command& c) { c.allow.clear(); }),
       ""},
      {"reason rewritten",
       requestAndDispatch("isolate", same, [](Command& c) { c.reason = "routine maintenance"; }),
       "command reason differs from request r-00000000000000d1's"},
      {"arguments rewritten",
       requestAndDispatch("kill-sessions", same, [](Command& c) { c.args = {"user=root"}; }),
       "command argument list differs from request r-00000000000000d1's"},
      {"allow list widened",
       requestAndDispatch("isolate", same, [](Command& c) { c.allow.push_back("0.0.0.0/0"); }),
       "command allow list differs from request r-00000000000000d1's"},
      {"allow list dropped",
       requestAndDispatch("isolate", same, [](Command& c) { c.allow.clear(); }),
       "command allow list differs from request r-00000000000000d1's"},
      {"allow list as typed, not normalized",
       requestAndDispatch("isolate", same, [](Command& c) { c.allow = kRequestAllow; }),
       "command allow list differs from request r-00000000000000d1's"},
      {"address added",
       requestAndDispatch("block", same, [](Command& c) { c.addresses.push_back("0.0.0.0/0"); }),
       "command address list differs from request r-00000000000000d1's"},
      {"duplicate address kept",
       requestAndDispatch("block", same,
                          [](Command& c) { c.addresses.push_back(c.addresses.front()); }),
       "command address list differs from request r-00000000000000d1's"},
      {"addresses reordered",
       requestAndDispatch("block", same,
                          [](Command& c) { std::swap(c.addresses[0], c.addresses[1]); }),
       "command address list differs from request r-00000000000000d1's"},
      {"allow entry the controller refuses",
       requestAndDispatch(
           "isolate",
           [](Request& q) {
             q.allow = {"10.0.0.5:22", "tcp:10.0.0.5:22"};
           },
           [](Command& c) {
             c.allow = {"10.0.0.5:22", "tcp:10.0.0.5:22"};
           }),
       "request r-00000000000000d1 has allow entry 'tcp:10.0.0.5:22', which does not parse: the "
       "controller refuses it, so nothing may be dispatched for it"},
      {"address the controller refuses",
       requestAndDispatch(
           "block", [](Request& q) { q.addresses = {"10.0.0.1/8"}; },
           [](Command& c) { c.addresses = {"10.0.0.1/8"}; }),
       "request r-00000000000000d1 has address '10.0.0.1/8', which does not parse"},
  };
  checkCases(cases, [&](const auto& extra) { return verifyBuilt(extra); });

  // The whole message names the entry and the request.
  const AuditReport r = verifyBuilt(
      requestAndDispatch("isolate", same, [](Command& c) { c.allow.push_back("0.0.0.0/0"); }));
  EXPECT_EQ(r.bad_index, 29);
  EXPECT_EQ(r.error,
            "entry 29 (dispatch by controller, command a-00000000000000d1, for request "
            "r-00000000000000d1): command allow list differs from request r-00000000000000d1's");
}

// The controller's own commands: fleet-wide blocks in force, to enrolled hosts. The standard
// log's bob put kCommandAddresses in force (entry 11).
TEST_F(AuditVerifyTest, ControllerDispatchesOnlyFleetWideBlocksInForce) {
  const Keys& k = keys();
  const auto fleetBlock = [](LogBuilder& b, const std::string& id, const std::string& host,
                             std::vector<std::string> addresses) {
    Command c = b.command(id, host, "block", "controller");
    c.addresses = std::move(addresses);
    b.dispatch(c, "");
  };
  const auto fleetRequest = [&](LogBuilder& b, const std::string& id, const std::string& kind,
                                std::vector<std::string> addresses,
                                const std::string& name = "alice") {
    Request q = LogBuilder::makeRequest(name, id, kind, {}, true);
    q.addresses = std::move(addresses);
    b.request(name == "alice" ? k.alice : name == "bob" ? k.bob : k.carol, q);
  };
  const std::vector<RuleCase> cases = {
      {"some of the blocks in force",
       [&](LogBuilder& b) { fleetBlock(b, "a-00000000000000e1", "host-2", {"2001:db8::bad"}); },
       ""},
      {"an --all block with no host enrolled yet, then a host enrolls",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"});
         b.enroll("host-3", k.stranger, "t-00000000000000e1");
         fleetBlock(b, "a-00000000000000e1", "host-3", {"203.0.113.7", "192.0.2.66"});
       },
       ""},
      {"refused after its first dispatch: the block stays",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"});
         Command c = b.command("a-00000000000000e1", "host-1", "block", "alice");
         c.addresses = {"192.0.2.66"};
         b.dispatch(c, "r-00000000000000e1");
         b.refusal("operator:alice", "request r-00000000000000e1 (block) refused: disk full",
                   "r-00000000000000e1");
         fleetBlock(b, "a-00000000000000e2", "host-2", {"192.0.2.66"});
       },
       ""},
      {"an agent's refusal naming the request does not refuse it",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"});
         b.add(makeEntry(entry_type::kRefusal, "agent:host-1", "host-1", "r-00000000000000e1", "",
                         "", "refusal: whatever the agent says"));
         fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"});
       },
       ""},
      {"a refused --all unblock leaves the blocks in force",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "unblock", kRequestAddresses);
         b.refusal("operator:alice", "request r-00000000000000e1 (unblock) refused",
                   "r-00000000000000e1");
         fleetBlock(b, "a-00000000000000e1", "host-2", kCommandAddresses);
       },
       ""},
      {"an address never blocked fleet-wide",
       [&](LogBuilder& b) { fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"}); },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"an address blocked on named hosts only",
       [&](LogBuilder& b) {
         Request q = LogBuilder::makeRequest("alice", "r-00000000000000e1", "block", {"host-1"});
         q.addresses = {"192.0.2.66"};
         b.request(k.alice, q);
         Command c = b.command("a-00000000000000e1", "host-1", "block", "alice");
         c.addresses = {"192.0.2.66"};
         b.dispatch(c, "r-00000000000000e1");
         fleetBlock(b, "a-00000000000000e2", "host-2", {"192.0.2.66"});
       },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"after an --all unblock",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "unblock", {"2001:db8::bad"});
         fleetBlock(b, "a-00000000000000e1", "host-2", kCommandAddresses);
       },
       "address '2001:db8::bad' is not blocked fleet-wide at this point"},
      {"an --all block refused before any dispatch",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"});
         b.refusal("operator:alice",
                   "request r-00000000000000e1 (block) refused: it covers the controller",
                   "r-00000000000000e1");
         fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"});
       },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"an auditor's --all block",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66"}, "carol");
         fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"});
       },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"an --all block the controller refuses (address does not parse)",
       [&](LogBuilder& b) {
         fleetRequest(b, "r-00000000000000e1", "block", {"192.0.2.66", "192.0.2.0/8"});
         fleetBlock(b, "a-00000000000000e1", "host-2", {"192.0.2.66"});
       },
       "address '192.0.2.66' is not blocked fleet-wide at this point"},
      {"not a block",
       [&](LogBuilder& b) {
         b.dispatch(b.command("a-00000000000000e1", "host-2", "isolate", "controller"), "");
       },
       "the controller's own commands are fleet-wide blocks, not 'isolate'"},
      {"a block with an allow list",
       [&](LogBuilder& b) {
         Command c = b.command("a-00000000000000e1", "host-2", "block", "controller");
         c.allow = {"0.0.0.0/0"};
         b.dispatch(c, "");
       },
       "a fleet-wide block carries no allow list or arguments"},
      {"a block without addresses",
       [&](LogBuilder& b) { fleetBlock(b, "a-00000000000000e1", "host-2", {}); },
       "a fleet-wide block without addresses"},
      {"a refused request dispatched anyway",
       [&](LogBuilder& b) {
         b.request("bob", k.bob, "r-00000000000000e1", "isolate", {"host-2"});
         b.refusal("operator:bob", "request r-00000000000000e1 (isolate) refused",
                   "r-00000000000000e1");
         b.dispatch(b.command("a-00000000000000e1", "host-2", "isolate", "bob"),
                    "r-00000000000000e1");
       },
       "request r-00000000000000e1 was refused before it"},
  };
  checkCases(cases, [&](const auto& extra) { return verifyBuilt(extra); });
}

// Operators: the controller logs those it has in the genesis; later only admins add them, each
// name once. Hosts enrolled before the log are in the genesis too, without a join token.
TEST_F(AuditVerifyTest, OperatorsAndEnrollmentsAfterTheGenesis) {
  const Keys& k = keys();
  const std::vector<RuleCase> cases = {
      {"an admin adds an operator",
       [&](LogBuilder& b) { b.op("erin", "auditor", k.stranger, "operator:alice"); }, ""},
      {"a host enrolls with a token",
       [&](LogBuilder& b) { b.enroll("host-3", k.stranger, "t-00000000000000f1"); }, ""},
      {"the controller adds an operator after the genesis",
       [&](LogBuilder& b) { b.op("mallory", "admin", k.stranger, "controller"); },
       "the controller adds operators only in the log's genesis"},
      {"an operator added again",
       [&](LogBuilder& b) { b.op("bob", "admin", k.stranger, "operator:alice"); },
       "operator bob is already logged"},
      {"an operator added by one who is not",
       [&](LogBuilder& b) { b.op("mallory", "admin", k.stranger, "operator:mallory"); },
       "'mallory' is not a logged admin, so may not add operators"},
      {"a host 'enrolled before the log' after the genesis",
       [&](LogBuilder& b) { b.enroll("host-3", k.stranger); },
       "an enrollment after the log's genesis must name its join token (ref)"},
      {"an admin revokes an operator",
       [&](LogBuilder& b) { b.op("bob", "revoked", k.bob, "operator:alice"); }, ""},
      {"an operator revoked twice",
       [&](LogBuilder& b) {
         b.op("bob", "revoked", k.bob, "operator:alice");
         b.op("bob", "revoked", k.bob, "operator:alice");
       },
       "operator bob is already revoked"},
      {"a revocation by one who is not an admin",
       [&](LogBuilder& b) { b.op("bob", "revoked", k.bob, "operator:bob"); },
       "is not a logged admin"},
      {"a request after its operator was revoked",
       [&](LogBuilder& b) {
         b.op("bob", "revoked", k.bob, "operator:alice");
         b.request("bob", k.bob, "r-00000000000000e1", "isolate", {"host-2"});
       },
       "operator bob was revoked before this request"},
  };
  checkCases(cases, [&](const auto& extra) { return verifyBuilt(extra); });

  // The genesis is the leading run of key, operator and enrollment entries: operators the
  // controller logs after hosts enrolled before the log are still in it, a second entry for
  // one name is not.
  const auto genesisOnly = [&](const std::function<void(LogBuilder&)>& extra) {
    LogBuilder b(keys());
    b.key("log", keys().vkey);
    b.key("command", keys().command.publicKey());
    b.enroll("host-1", keys().host1);
    b.op("alice", "admin", keys().alice, "controller");
    b.enroll("host-2", keys().host2);
    b.op("bob", "responder", keys().bob, "controller");
    extra(b);
    b.request("bob", keys().bob, "r-00000000000000f1", "isolate", {"host-2"});
    b.dispatch(b.command("a-00000000000000f1", "host-2", "isolate", "bob"), "r-00000000000000f1");
    b.receipt("a-00000000000000f1", "host-2", "isolate", keys().host2);
    b.checkpoint();
    EXPECT_TRUE(b.write(variant_).ok());
    return verify(variant_);
  };
  AuditReport r = genesisOnly([](LogBuilder&) {});
  EXPECT_TRUE(r.ok) << r.error;
  r = genesisOnly([](LogBuilder& b) { b.op("alice", "admin", keys().stranger, "controller"); });
  EXPECT_EQ(r.bad_index, 6);
  EXPECT_THAT(r.error, HasSubstr("operator alice is already logged"));
  r = genesisOnly([](LogBuilder& b) {
    b.event("host-1", "agent connected");
    b.op("carol", "auditor", keys().carol, "controller");
  });
  EXPECT_EQ(r.bad_index, 7);
  EXPECT_THAT(r.error, HasSubstr("the controller adds operators only in the log's genesis"));
}

TEST_F(AuditVerifyTest, LogMustStartWithItsKey) {
  LogBuilder b(keys());
  b.op("alice", "admin", keys().alice, "controller");
  b.checkpoint();
  ASSERT_TRUE(b.write(variant_).ok());
  const AuditReport r = verify(variant_);
  EXPECT_EQ(r.bad_index, 0);
  EXPECT_THAT(r.error, HasSubstr("must start with the controller's log key"));
}

TEST_F(AuditVerifyTest, CheckpointSignedByAnotherKey) {
  std::vector<std::string> lines = lines_;
  merkle::MerkleTree tree;
  for (int i = 0; i < 16; ++i) tree.append(log_.entries[i]);
  lines[linesOf(lines_, "checkpoint ")[2]] =
      checkpointLine(signCheckpoint(keys().stranger_signer, 16, tree.root()));
  const AuditReport r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("(after 16 entries): not signed by the log key"));
}

TEST_F(AuditVerifyTest, PinnedKey) {
  AuditVerifyOptions options;
  options.pinned_vkey = *note::formatVerifierKey(kOrigin, keys().stranger.publicKey());
  AuditReport r = verify(path_, options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_TRUE(r.vkey_pinned);
  EXPECT_THAT(r.error, HasSubstr("not the pinned key"));

  // The entries re-checkpointed with another key, its vkey in the file: the pinned key
  // rejects the file, and without a pin the log's own first entry does (it records the real
  // log key).
  std::vector<std::string> lines = lines_;
  lines[2] = "vkey " + *note::formatVerifierKey(kOrigin, keys().stranger.publicKey());
  lines.erase(std::remove_if(lines.begin(), lines.end(),
                             [](const std::string& l) { return l.rfind("checkpoint ", 0) == 0; }),
              lines.end());
  merkle::MerkleTree tree;
  for (const auto& e : log_.entries) tree.append(e);
  lines.insert(lines.end() - 1,
               checkpointLine(signCheckpoint(keys().stranger_signer, 28, tree.root())));
  options.pinned_vkey = keys().vkey;
  r = verifyLines(lines, options);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("not the pinned key"));
  r = verifyLines(lines);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, 0);
  EXPECT_THAT(r.error, HasSubstr("but the log is signed with"));

  options.pinned_vkey = "not a key";
  EXPECT_EQ(verifyAuditExport(path_, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditVerifyTest, SavedCheckpoints) {
  // Every checkpoint of this log, saved earlier, is consistent with it.
  AuditVerifyOptions options;
  options.previous_checkpoints = log_.checkpoints;
  AuditReport r = verify(path_, options);
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.previous_checkpoints_checked, log_.checkpoints.size());

  // Rolled back: the auditor saw 28 entries, the export has 22.
  ASSERT_TRUE(
      writeAuditExport(
          variant_, kOrigin, keys().vkey, std::span<const std::string>(log_.entries).first(22),
          {log_.checkpoints[0], log_.checkpoints[1], log_.checkpoints[2], log_.checkpoints[4]})
          .ok());
  options.previous_checkpoints = {log_.checkpoints.back()};
  r = verify(variant_, options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("saved checkpoint 1 has size 28, but the log holds only 22 "
                                 "entries: it was rolled back or truncated"));

  // Forked: same size, another history (one event's detail differs), both signed by the key.
  LogBuilder fork(keys());
  standardLog(fork);
  fork.entries[21] = encodeLogEntry(
      makeEntry(entry_type::kEvent, "controller", "host-1", "", "", "", "rewritten"));
  merkle::MerkleTree tree;
  for (const auto& e : fork.entries) tree.append(e);
  options.previous_checkpoints = {log_.checkpoints[1],
                                  signCheckpoint(keys().signer, 28, tree.root())};
  r = verify(path_, options);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.bad_index, -1);
  EXPECT_THAT(r.error, HasSubstr("saved checkpoint 2 (size 28)"));
  EXPECT_THAT(r.error, HasSubstr("the log has forked from the one you saw"));

  // A saved checkpoint by another key fails; one that is not a note is unusable input.
  options.previous_checkpoints = {signCheckpoint(keys().stranger_signer, 7, tree.root())};
  r = verify(path_, options);
  EXPECT_FALSE(r.ok);
  EXPECT_THAT(r.error, HasSubstr("saved checkpoint 1 is not signed by the log key"));
  options.previous_checkpoints = {"hello\n"};
  EXPECT_EQ(verifyAuditExport(path_, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(AuditVerifyTest, MalformedFiles) {
  EXPECT_EQ(verifyAuditExport(dir_.file("missing")).status().code(), absl::StatusCode::kNotFound);
  std::vector<std::string> lines = lines_;
  lines[0] = "warden-audit-export 2";
  EXPECT_THAT(verifyLines(lines).error, HasSubstr("not a Warden audit export"));
  lines = lines_;
  lines.insert(lines.begin() + 10, "entyr AAAA");
  AuditReport r = verifyLines(lines);
  EXPECT_EQ(r.bad_line, 11u);
  EXPECT_THAT(r.error, HasSubstr("line 11: not an entry, checkpoint or end line"));
  lines = lines_;
  lines[linesOf(lines_, "entry ")[3]] += "!";
  r = verifyLines(lines);
  EXPECT_EQ(r.bad_index, 3);
  EXPECT_THAT(r.error, HasSubstr("not valid base64"));
  lines = lines_;
  lines.push_back("entry AAAA");
  EXPECT_THAT(verifyLines(lines).error, HasSubstr("follows the 'end' line"));
}

// Several verification batches (small ones, to stay fast): the first bad entry is still the one
// reported when a later batch also holds problems, whatever thread finds them.
TEST(AuditVerifyBatchTest, FirstProblemAcrossBatches) {
  TempDir dir;
  LogBuilder b(keys());
  genesis(b);
  for (int i = 0; b.size() < 1'000; ++i) {
    const std::string rid = absl::StrFormat("r-%016x", i);
    const std::string cid = absl::StrFormat("a-%016x", i);
    const std::string host = i % 2 ? "host-1" : "host-2";
    b.request("bob", keys().bob, rid, "isolate", {host});
    b.dispatch(b.command(cid, host, "isolate", "bob"), rid);
    b.receipt(cid, host, "isolate", i % 2 ? keys().host1 : keys().host2);
    if (i % 50 == 0) b.checkpoint();
  }
  b.checkpoint();
  const std::string path = dir.file("big.export");
  ASSERT_TRUE(b.write(path).ok());
  AuditVerifyOptions options;
  options.batch_entries = 100;
  const AuditReport ok = verify(path, options);
  EXPECT_TRUE(ok.ok) << ok.error;
  EXPECT_EQ(ok.tree_size, b.size());
  EXPECT_EQ(ok.signatures_verified, b.size() - 5);  // all but the genesis' unsigned five

  const auto lines = readLines(path);
  const auto entry_lines = linesOf(lines, "entry ");
  const auto badSignature = [&](std::vector<std::string>& l, std::uint64_t index) {
    auto e = decodeLogEntry(b.entries[index]);
    e->signature[5] ^= 1;
    l[entry_lines[index]] = entryLine(encodeLogEntry(*e));
  };
  const auto badTime = [&](std::vector<std::string>& l, std::uint64_t index) {
    auto e = decodeLogEntry(b.entries[index]);
    e->logged_unix_ms = 0;
    l[entry_lines[index]] = entryLine(encodeLogEntry(*e));
  };
  struct Case {
    std::vector<std::uint64_t> bad_signatures;
    std::vector<std::uint64_t> bad_times;
    std::int64_t first;
  };
  const std::vector<Case> cases = {
      {{459}, {900}, 459},    // signature in an early batch, rule break in a later one
      {{801}, {803}, 801},    // one batch, the signature first
      {{804}, {803}, 803},    // one batch, the rule break first
      {{450, 410}, {}, 410},  // two signatures in one batch
      {{650, 420}, {}, 420},  // two signatures in two batches
      {{999}, {}, 999},       // the very last entry
  };
  for (unsigned threads : {1u, 3u}) {
    options.threads = threads;
    for (const auto& c : cases) {
      std::vector<std::string> l = lines;
      for (auto i : c.bad_signatures) badSignature(l, i);
      for (auto i : c.bad_times) badTime(l, i);
      writeLines(dir.file("v"), l);
      const AuditReport r = verify(dir.file("v"), options);
      EXPECT_EQ(r.bad_index, c.first) << "threads " << threads << ": " << r.error;
    }
  }
}

}  // namespace
}  // namespace warden
