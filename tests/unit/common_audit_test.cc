// common/audit/ (log_entry.h, request.h, key_record.h, dispatch_proof.h): the canonical log entry,
// request and key record encodings, and the agent's "log before act" check of a dispatched
// command's checkpoint and inclusion proof.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/audit/dispatch_proof.h"
#include "common/audit/key_record.h"
#include "common/audit/log_entry.h"
#include "common/audit/request.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/merkle.h"
#include "common/note.h"

namespace warden {
namespace {

using ::testing::HasSubstr;

TEST(LogEntryEncoding, RoundTripsAndIsStrict) {
  LogEntry e;
  e.type = entry_type::kReceipt;
  e.logged_unix_ms = 1700000000123;
  e.actor = "agent:host-42";
  e.host_id = "host-42";
  e.ref = "a-0011223344556677";
  e.body = std::string("\0\1binary\n", 9);
  e.signature = std::string(64, 'S');
  e.detail = "detail";
  const std::string bytes = encodeLogEntry(e);
  EXPECT_EQ(bytes.rfind("warden/log-entry\n", 0), 0u);
  auto back = decodeLogEntry(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(encodeLogEntry(*back), bytes);
  EXPECT_EQ(back->body, e.body);
  EXPECT_EQ(back->logged_unix_ms, e.logged_unix_ms);
  EXPECT_FALSE(decodeLogEntry(bytes + "x").ok()) << "trailing bytes";
  EXPECT_FALSE(decodeLogEntry(bytes.substr(0, bytes.size() - 1)).ok()) << "truncated";
  LogEntry v2 = e;
  v2.version = 2;
  EXPECT_THAT(std::string(decodeLogEntry(encodeLogEntry(v2)).status().message()),
              HasSubstr("version"));
}

TEST(RequestEncoding, RoundTripsEveryField) {
  Request r;
  r.id = "r-0123456789abcdef";
  r.operator_name = "alice";
  r.kind = "block";
  r.hosts = {"host-1", "host-2"};
  r.all_hosts = true;
  r.allow = {"198.18.0.0/15:22"};
  r.addresses = {"2001:db8::/32"};
  r.args = {"user=mallory"};
  r.reason = "INC-7";
  r.issued_unix_ms = 42;
  auto back = decodeRequest(encodeRequest(r));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->id, r.id);
  EXPECT_EQ(back->operator_name, r.operator_name);
  EXPECT_EQ(back->hosts, r.hosts);
  EXPECT_TRUE(back->all_hosts);
  EXPECT_EQ(back->allow, r.allow);
  EXPECT_EQ(back->addresses, r.addresses);
  EXPECT_EQ(back->args, r.args);
  EXPECT_EQ(back->reason, r.reason);
  EXPECT_EQ(back->issued_unix_ms, 42);
  EXPECT_FALSE(decodeRequest(encodeLogEntry(LogEntry{})).ok()) << "wrong tag";
}

TEST(KeyRecordEncoding, RoundTrips) {
  KeyRecord k{kKeyRecordVersion, "operator", "alice", "responder", std::string(32, 'k'), "fp"};
  auto back = decodeKeyRecord(encodeKeyRecord(k));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->purpose, "operator");
  EXPECT_EQ(back->role, "responder");
  EXPECT_EQ(back->public_key, k.public_key);
}

// A small log: a few entries, then the dispatch of one command, then more entries; a
// checkpoint over all of it signed with the log key.
class DispatchProofTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto lk = crypto::Ed25519Key::generate();
    auto ck = crypto::Ed25519Key::generate();
    ASSERT_TRUE(lk.ok() && ck.ok());
    log_key_ = std::make_unique<crypto::Ed25519Key>(*lk);
    auto vkey = note::formatVerifierKey(kOrigin, log_key_->publicKey());
    ASSERT_TRUE(vkey.ok());
    vkey_ = *vkey;
    Command c;
    c.id = "a-00000000000000aa";
    c.host_id = "host-42";
    c.kind = "isolate";
    command_ = encodeCommand(c);
    auto sig = ck->sign(command_);
    ASSERT_TRUE(sig.ok());
    signature_ = *sig;
    for (int i = 0; i < 3; ++i) tree_.append(filler(i));
    LogEntry d;
    d.type = entry_type::kDispatch;
    d.actor = "controller";
    d.host_id = "host-42";
    d.body = command_;
    d.signature = signature_;
    proof_.entry = encodeLogEntry(d);
    proof_.index = tree_.append(proof_.entry);
    for (int i = 3; i < 7; ++i) tree_.append(filler(i));
    proof_.checkpoint = checkpoint(*log_key_, kOrigin, tree_.size());
    auto p = tree_.inclusionProof(proof_.index, tree_.size());
    ASSERT_TRUE(p.ok());
    proof_.proof = *p;
  }

  static std::string filler(int i) {
    LogEntry e;
    e.type = entry_type::kEvent;
    e.actor = "controller";
    e.detail = "event " + std::to_string(i);
    return encodeLogEntry(e);
  }

  std::string checkpoint(const crypto::Ed25519Key& key, const std::string& origin,
                         std::uint64_t size) {
    auto root = tree_.rootAt(size);
    EXPECT_TRUE(root.ok());
    auto text = note::formatCheckpoint(note::Checkpoint{origin, size, *root, {}});
    EXPECT_TRUE(text.ok());
    auto signed_note = note::signNote(*text, origin, key);
    EXPECT_TRUE(signed_note.ok());
    return *signed_note;
  }

  absl::Status verify(const DispatchProof& p) {
    return verifyDispatchProof(vkey_, command_, signature_, p);
  }

  static constexpr char kOrigin[] = "warden/controller.test";
  std::unique_ptr<crypto::Ed25519Key> log_key_;
  std::string vkey_;
  std::string command_;
  std::string signature_;
  merkle::MerkleTree tree_;
  DispatchProof proof_;
};

TEST_F(DispatchProofTest, AValidProofVerifies) { EXPECT_TRUE(verify(proof_).ok()); }

TEST_F(DispatchProofTest, MissingProofIsRefused) {
  EXPECT_THAT(std::string(verify(DispatchProof{}).message()), HasSubstr("no log checkpoint"));
  DispatchProof no_path = proof_;
  no_path.proof.clear();
  EXPECT_THAT(std::string(verify(no_path).message()), HasSubstr("inclusion proof"));
}

TEST_F(DispatchProofTest, AnyFlippedProofByteIsRefused) {
  for (std::size_t h = 0; h < proof_.proof.size(); ++h) {
    for (std::size_t at : {std::size_t{0}, std::size_t{17}, std::size_t{31}}) {
      DispatchProof bad = proof_;
      bad.proof[h][at] ^= 0x01;
      EXPECT_FALSE(verify(bad).ok()) << "hash " << h << " byte " << at;
    }
  }
}

TEST_F(DispatchProofTest, WrongIndexIsRefused) {
  for (std::uint64_t i : {proof_.index - 1, proof_.index + 1, tree_.size(), ~std::uint64_t{0}}) {
    DispatchProof bad = proof_;
    bad.index = i;
    EXPECT_FALSE(verify(bad).ok()) << i;
  }
}

TEST_F(DispatchProofTest, CheckpointByAnotherKeyIsRefused) {
  auto other = crypto::Ed25519Key::generate();
  ASSERT_TRUE(other.ok());
  DispatchProof bad = proof_;
  bad.checkpoint = checkpoint(*other, kOrigin, tree_.size());
  EXPECT_THAT(std::string(verify(bad).message()), HasSubstr("not signed by the pinned log key"));
}

TEST_F(DispatchProofTest, CheckpointOfAnotherTreeSizeIsRefused) {
  DispatchProof bad = proof_;
  bad.checkpoint = checkpoint(*log_key_, kOrigin, tree_.size() - 1);
  EXPECT_FALSE(verify(bad).ok());
  bad.checkpoint = checkpoint(*log_key_, kOrigin, proof_.index);  // before the dispatch
  EXPECT_THAT(std::string(verify(bad).message()), HasSubstr("outside the checkpoint"));
}

TEST_F(DispatchProofTest, EntryOfAnotherCommandIsRefused) {
  // A genuine, provable entry — but not this command's dispatch.
  DispatchProof bad = proof_;
  bad.index = 0;
  bad.entry = filler(0);
  auto p = tree_.inclusionProof(0, tree_.size());
  ASSERT_TRUE(p.ok());
  bad.proof = *p;
  EXPECT_THAT(std::string(verify(bad).message()), HasSubstr("not this command's dispatch"));
  // The right entry, but the command was altered after logging.
  Command other;
  other.id = "a-00000000000000bb";
  other.host_id = "host-42";
  other.kind = "release";
  EXPECT_FALSE(verifyDispatchProof(vkey_, encodeCommand(other), signature_, proof_).ok());
}

TEST_F(DispatchProofTest, UnusablePinnedKeyIsRefused) {
  EXPECT_FALSE(verifyDispatchProof("", command_, signature_, proof_).ok());
  EXPECT_FALSE(verifyDispatchProof("not-a-key", command_, signature_, proof_).ok());
}

}  // namespace
}  // namespace warden
