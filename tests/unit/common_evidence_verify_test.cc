// Offline evidence checks (common/audit/evidence_verifier.h) on hand-made items: the log index fed
// synthetic enrollment and receipt entries, a manifest signed with a fresh agent key, content
// raw or as zstd frames. Each way an item can be wrong fails its own check and only that one.
#include <gtest/gtest.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_format.h"
#include "common/audit/evidence_verifier.h"
#include "common/audit/key_record.h"
#include "common/audit/log_entry.h"
#include "common/command.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::warden::testing::TempDir;

constexpr char kAction[] = "a-0123456789abcdef";
constexpr char kId[] = "a-0123456789abcdef-1";

struct Item {
  std::string content = std::string(300000, 'x') + "tail";
  std::string manifest;  // signed bytes
  std::string signature;
};

class EvidenceVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = crypto::Ed25519Key::generate();
    ASSERT_TRUE(k.ok());
    key_ = std::make_unique<crypto::Ed25519Key>(*k);
    item_.manifest = absl::StrFormat(
        "{\"schema\": \"warden-evidence-manifest/1\", \"evidence_id\": \"%s\", \"action_id\": "
        "\"%s\", \"host_id\": \"host-42\", \"source\": {\"size_bytes\": %d}, \"sha256\": \"%s\"}",
        kId, kAction, item_.content.size(), crypto::hex(crypto::sha256(item_.content)));
    item_.signature = *key_->sign(item_.manifest);
  }

  // Writes the item's files as the store names them; `zstd`: ID.img.zst of two frames.
  void write(bool zstd, const std::string& content) {
    const std::string base = dir_.path() + "/" + kId;
    std::ofstream(base + ".manifest", std::ios::binary)
        << item_.manifest << "\nsignature " << crypto::base64(item_.signature) << "\n";
    if (!zstd) {
      std::ofstream(base + ".img", std::ios::binary) << content;
      return;
    }
    std::string out;
    for (std::size_t at = 0; at < content.size(); at += 200000) {
      const std::string part = content.substr(at, 200000);
      std::string frame(ZSTD_compressBound(part.size()), '\0');
      frame.resize(ZSTD_compress(frame.data(), frame.size(), part.data(), part.size(), 1));
      out += frame;
    }
    std::ofstream(base + ".img.zst", std::ios::binary) << out;
  }

  // An index that saw host-42 enroll with `key` and the agent's receipt of the action.
  EvidenceLogIndex index(const crypto::Ed25519Key& key, const std::string& content_sha,
                         const std::string& receipt_host = "host-42") {
    EvidenceLogIndex log({kAction});
    KeyRecord k;
    k.purpose = "agent";
    k.subject = "host-42";
    k.public_key = key.publicKey();
    LogEntry enroll;
    enroll.type = entry_type::kEnrollment;
    enroll.host_id = "host-42";
    enroll.body = encodeKeyRecord(k);
    log.observe(3, enroll);
    Receipt r;
    r.command_id = kAction;
    r.host_id = "host-42";
    r.details[std::string(kId) + ".sha256"] = content_sha;
    r.details[std::string(kId) + ".controller_sha256"] = content_sha;
    r.details[std::string(kId) + ".manifest_sha256"] = crypto::hex(crypto::sha256(item_.manifest));
    LogEntry receipt;
    receipt.type = entry_type::kReceipt;
    receipt.host_id = receipt_host;
    receipt.ref = kAction;
    receipt.body = encodeReceipt(r);
    log.observe(9, receipt);
    return log;
  }

  std::string failed(const EvidenceVerdict& v) {
    std::string names;
    for (const auto& c : v.checks) {
      if (!c.ok) names += c.name + " ";
    }
    return names;
  }

  TempDir dir_;
  std::unique_ptr<crypto::Ed25519Key> key_;
  Item item_;
};

TEST_F(EvidenceVerifyTest, NamesAndLocation) {
  EXPECT_EQ(evidenceIdOfFile("/x/a-1-2.img.zst"), "a-1-2");
  EXPECT_EQ(evidenceIdOfFile("a-1-2.tar.zst"), "a-1-2");
  EXPECT_EQ(evidenceIdOfFile("a-1-2.manifest"), "a-1-2");
  EXPECT_EQ(evidenceIdOfFile("sda.raw"), "");
  EXPECT_EQ(evidenceActionId("a-0123456789abcdef-12"), "a-0123456789abcdef");
  write(true, item_.content);
  auto f = locateEvidenceFiles(dir_.path() + "/" + kId + ".manifest");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->content_path, dir_.path() + "/" + kId + ".img.zst");
  EXPECT_TRUE(f->compressed_image);
  EXPECT_EQ(locateEvidenceFiles(dir_.path() + "/sda.raw").status().code(),
            absl::StatusCode::kInvalidArgument);
  std::filesystem::remove(dir_.path() + "/" + kId + ".manifest");
  EXPECT_EQ(locateEvidenceFiles(dir_.path() + "/" + kId + ".img.zst").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(EvidenceVerifyTest, AGoodItemVerifiesRawAndCompressed) {
  const std::string sha = crypto::hex(crypto::sha256(item_.content));
  for (bool zstd : {false, true}) {
    write(zstd, item_.content);
    auto f = locateEvidenceFiles(dir_.path() + "/" + kId + ".manifest");
    ASSERT_TRUE(f.ok()) << f.status();
    auto v = verifyEvidenceFiles(*f, index(*key_, sha));
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_TRUE(v->ok) << failed(*v);
    EXPECT_EQ(v->sha256, sha);
    EXPECT_EQ(v->size, item_.content.size());
    EXPECT_EQ(v->receipt_index, 9);
    std::filesystem::remove(f->content_path);
  }
}

TEST_F(EvidenceVerifyTest, EachFaultFailsItsCheck) {
  const std::string sha = crypto::hex(crypto::sha256(item_.content));
  const std::string content = dir_.path() + "/" + kId + ".img.zst";
  // Content changed.
  std::string changed = item_.content;
  changed[1000] ^= 1;
  write(true, changed);
  auto v = verifyEvidenceFiles(*locateEvidenceFiles(content), index(*key_, sha));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(failed(*v), "content ");
  // The last frame cut short.
  write(true, item_.content);
  std::filesystem::resize_file(content, std::filesystem::file_size(content) - 7);
  v = verifyEvidenceFiles(*locateEvidenceFiles(content), index(*key_, sha));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(failed(*v), "content ");
  EXPECT_NE(v->checks.back().detail.find("cut short"), std::string::npos)
      << v->checks.back().detail;
  // Signed by some other key than the one the log holds for host-42.
  write(true, item_.content);
  auto other = crypto::Ed25519Key::generate();
  ASSERT_TRUE(other.ok());
  v = verifyEvidenceFiles(*locateEvidenceFiles(content), index(*other, sha));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(failed(*v), "signature ");
  // A log whose receipt names other content.
  v = verifyEvidenceFiles(*locateEvidenceFiles(content), index(*key_, std::string(64, '0')));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(failed(*v), "receipt ");
  // The receipt of that action, but from another host than the manifest's.
  v = verifyEvidenceFiles(*locateEvidenceFiles(content), index(*key_, sha, "host-43"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(failed(*v).substr(0, 8), "receipt ") << failed(*v);
  // No receipt at all.
  v = verifyEvidenceFiles(*locateEvidenceFiles(content), EvidenceLogIndex({}));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(failed(*v), "receipt signature ");
  // The manifest of another item under this one's name.
  std::string renamed = item_.manifest;
  renamed.replace(renamed.find(kId), std::string(kId).size(), "a-0123456789abcdef-2");
  item_.manifest = renamed;
  item_.signature = *key_->sign(renamed);
  write(true, item_.content);
  v = verifyEvidenceFiles(*locateEvidenceFiles(content), index(*key_, sha));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(failed(*v).substr(0, 9), "manifest ");
}

}  // namespace
}  // namespace warden
