// The standard action log that the audit verifier's tests (common/audit/export_writer.h,
// common/audit/export_verifier.h) export, verify and tamper with: real keys (the controller's
// genesis keys, an admin, a responder and an auditor, two hosts enrolled before the log, one of
// them re-enrolled), request -> dispatch -> receipt chains with the allow lists and addresses
// normalized as the controller does, a fleet-wide block and the controller sending it to the
// re-enrolled host, a refusal, events, several signed checkpoints. LogBuilder fills a log the
// way the controller does, so a test can also build one as a dishonest controller would.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/audit/export_verifier.h"
#include "common/audit/export_writer.h"
#include "common/audit/key_record.h"
#include "common/audit/log_entry.h"
#include "common/audit/request.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/merkle.h"
#include "common/note.h"
#include "tests/support/temp_dir.h"

namespace warden::testing {

inline constexpr char kOrigin[] = "warden/ctl.example.test";

inline crypto::Ed25519Key newKey() {
  auto k = crypto::Ed25519Key::generate();
  EXPECT_TRUE(k.ok()) << k.status();
  return *k;
}

inline std::string mustSign(const crypto::Ed25519Key& key, std::string_view message) {
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

inline LogEntry makeEntry(std::string type, std::string actor, std::string host_id = "",
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

inline KeyRecord makeKey(std::string purpose, std::string subject, std::string role,
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
inline const std::vector<std::string> kRequestAllow = {"10.0.0.5:22", "[2001:DB8:0::53]:53",
                                                       "10.20.0.0/16"};
inline const std::vector<std::string> kCommandAllow = {"10.0.0.5:22", "[2001:db8::53]:53",
                                                       "10.20.0.0/16"};
inline const std::vector<std::string> kRequestAddresses = {"203.0.113.7/32", "198.51.100.0/24",
                                                           "2001:DB8::BAD", "203.0.113.7"};
inline const std::vector<std::string> kCommandAddresses = {"203.0.113.7", "198.51.100.0/24",
                                                           "2001:db8::bad"};
inline constexpr char kReason[] = "INC-4711: beaconing to a known C2 address from this host";
inline constexpr char kPreLogEnrollment[] = "enrolled before the action log existed";

inline const Keys& keys() {
  static const Keys* k = new Keys();
  return *k;
}

inline std::string signCheckpoint(const note::Signer& signer, std::uint64_t size,
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
    c.incident = "";  // the reason stays on the controller (version 2 commands carry none)
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
inline void genesis(LogBuilder& b) {
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
inline constexpr std::uint64_t kAliceRequest = 8;
inline constexpr std::uint64_t kAliceDispatch = 9;
inline constexpr std::uint64_t kAliceReceipt = 10;

// The standard log: requests whose allow lists and addresses the controller normalized in its
// commands, a fleet-wide block (--all) and the controller sending it to a re-enrolled host, an
// auditor's request refused.
inline void standardLog(LogBuilder& b) {
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

inline std::vector<std::string> readLines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc | std::ios::binary);
  out << text;
}

inline void writeLines(const std::string& path, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  writeText(path, text);
}

// Line numbers (0-based) of the entry lines and checkpoint lines.
inline std::vector<std::size_t> linesOf(const std::vector<std::string>& lines,
                                        std::string_view kind) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind(kind, 0) == 0) out.push_back(i);
  }
  return out;
}

inline std::string entryLine(const std::string& bytes) { return "entry " + crypto::base64(bytes); }
inline std::string checkpointLine(const std::string& note) {
  return "checkpoint " + crypto::base64(note);
}

inline AuditReport verify(const std::string& path, AuditVerifyOptions options = {}) {
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

// A rule case: entries a dishonest controller appends to the standard log, and the error (the
// empty string: the log verifies).
struct RuleCase {
  std::string name;
  std::function<void(LogBuilder&)> extra;
  std::string error;
};

// Runs every case through `run` (AuditVerifyTest::verifyBuilt, usually): the log verifies, or
// fails at an appended entry with the case's error.
inline void checkCases(
    const std::vector<RuleCase>& cases,
    const std::function<AuditReport(const std::function<void(LogBuilder&)>&)>& run) {
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const AuditReport r = run(c.extra);
    if (c.error.empty()) {
      EXPECT_TRUE(r.ok) << r.error;
    } else {
      EXPECT_FALSE(r.ok);
      EXPECT_GE(r.bad_index, 28);
      EXPECT_THAT(r.error, ::testing::HasSubstr(c.error));
    }
  }
}

}  // namespace warden::testing
