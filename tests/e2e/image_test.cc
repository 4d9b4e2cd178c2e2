// End to end (issue 5): `warden image host-42 /dev/loopN` reads a read-only loop device full of
// known random data on the test host and stores it in the controller's evidence store
// (image_deployment.h). Both hashes equal sha256sum of the device, the stored file is 0444 (and
// immutable where supported), `evidence verify` passes and catches a changed byte, `evidence
// get` gives the device's bytes back, zstd storage restores exactly, and an auditor verifies
// copies of the evidence offline against the log.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/crypto/hash.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/e2e/image_deployment.h"
#include "tests/support/fleet.h"
#include "tests/support/warden_deployment.h"

namespace warden::testing {
namespace {

TEST_F(ImageTest, LoopDeviceIsStoredReadOnlyVerifiedAndACorruptCopyFails) {
  ASSERT_NO_FATAL_FAILURE(attach(24 << 20, 42));
  const std::string id = image({loop_.device});
  ASSERT_FALSE(id.empty()) << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".sha256"), loop_.sha256) << last_out_;
  EXPECT_EQ(jsonString(last_out_, id + ".controller_sha256"), loop_.sha256) << last_out_;

  // The manifest and the custody record agree with the device.
  RunResult show = cli({"evidence", "show", id, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.out << show.err;
  EXPECT_EQ(jsonString(show.out, "state"), "complete");
  EXPECT_EQ(jsonString(show.out, "sha256"), loop_.sha256);
  EXPECT_EQ(jsonString(show.out, "host_id"), "host-42");
  EXPECT_EQ(jsonString(show.out, "operator"), "admin");
  EXPECT_EQ(jsonString(show.out, "compression"), "none");
  const std::string stored = d_->dataDir() + "/evidence/" + jsonString(show.out, "stored_name");
  struct stat st {};
  ASSERT_EQ(::stat(stored.c_str(), &st), 0) << stored;
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_EQ(sha256sum(stored), loop_.sha256);
  const bool immutable = jsonNumber(show.out, "immutable") == "true";
  if (immutable) {
    auto attrs = run({"lsattr", stored});
    ASSERT_TRUE(attrs.ok());
    EXPECT_EQ(attrs->out.substr(0, attrs->out.find(' ')).find('i') != std::string::npos, true)
        << attrs->out;
  }
  auto manifest = d_->controllerHost().readFile(d_->dataDir() + "/evidence/" + id + ".manifest");
  ASSERT_TRUE(manifest.ok());
  EXPECT_NE(manifest->find("\"sha256\": \"" + loop_.sha256 + "\""), std::string::npos);
  EXPECT_NE(manifest->find("\nsignature "), std::string::npos);

  RunResult list = cli({"evidence", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("\"id\": \"" + id + "\""), std::string::npos) << list.out;

  RunResult verify = cli({"evidence", "verify", id});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_EQ(verify.out.find("FAILED"), std::string::npos) << verify.out;
  EXPECT_NE(verify.out.find("RECEIPT entry"), std::string::npos) << verify.out;

  // `evidence get` gives the device's bytes back, checked; it never overwrites a file.
  const std::string copy = d_->controllerHost().dir() + "/copy.img";
  RunResult get = cli({"evidence", "get", id, "--out", copy});
  EXPECT_EQ(get.exit_code, 0) << get.out << get.err;
  EXPECT_EQ(sha256sum(copy), loop_.sha256);
  EXPECT_EQ(cli({"evidence", "get", id, "--out", copy}).exit_code, 2);

  // Someone lifts the attribute and changes one byte: verify fails and says where.
  if (immutable) {
    ASSERT_EQ(run({"chattr", "-i", stored})->exit_code, 0);
  }
  ASSERT_EQ(::chmod(stored.c_str(), 0644), 0);
  {
    std::fstream f(stored, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(4096);
    const char c = static_cast<char>(f.get());
    f.seekp(4096);
    f.put(static_cast<char>(c ^ 0x01));
  }
  RunResult bad = cli({"evidence", "verify", id});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("FAILED content"), std::string::npos) << bad.out;
  EXPECT_NE(bad.err.find("does NOT verify"), std::string::npos) << bad.err;
  // And `get` refuses to hand out bytes that no longer match.
  EXPECT_EQ(cli({"evidence", "get", id, "--out", copy + ".2"}).exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(copy + ".2"));
}

TEST_F(ImageTest, ZstdStorageRestoresTheExactImage) {
  ASSERT_NO_FATAL_FAILURE(attach(12 << 20, 9));
  const std::string id = image({loop_.device, "--compress", "zstd"});
  ASSERT_FALSE(id.empty()) << last_out_;
  RunResult show = cli({"evidence", "show", id, "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(jsonString(show.out, "compression"), "zstd");
  const std::string stored = d_->dataDir() + "/evidence/" + jsonString(show.out, "stored_name");
  EXPECT_TRUE(stored.ends_with(".img.zst")) << stored;
  // The stored file is a plain zstd stream: the standard tool restores the device's bytes.
  auto restored = run({"sh", "-c", "zstd -dc " + stored + " | sha256sum"});
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->out.substr(0, 64), loop_.sha256);
  EXPECT_EQ(sha256sum(stored), jsonString(show.out, "stored_sha256"));
  RunResult verify = cli({"evidence", "verify", id});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  const std::string copy = d_->controllerHost().dir() + "/copy.img";
  EXPECT_EQ(cli({"evidence", "get", id, "--out", copy}).exit_code, 0);
  EXPECT_EQ(sha256sum(copy), loop_.sha256);
}

// An auditor with copies of the store's files and an export of the log checks the evidence
// offline (`warden audit verify EXPORT --vkey log.vkey --evidence FILE`): raw and zstd items
// verify; a changed byte of the content, a manifest whose signed bytes were edited, or an item
// whose receipt is not in the log each fail, naming the check.
TEST_F(ImageTest, AnAuditorVerifiesCopiedEvidenceOfflineAgainstTheLog) {
  ASSERT_NO_FATAL_FAILURE(attach(6 << 20, 13));
  const std::string raw = image({loop_.device});
  ASSERT_FALSE(raw.empty()) << last_out_;
  const std::string packed = image({loop_.device, "--compress", "zstd"});
  ASSERT_FALSE(packed.empty()) << last_out_;
  const std::string early = d_->controllerHost().dir() + "/early.export";
  ASSERT_EQ(cli({"audit", "export", "--out", early}).exit_code, 0);

  // The auditor's copies (writable, so the test can tamper with them below).
  const std::string store = d_->dataDir() + "/evidence/";
  const std::string copies = d_->controllerHost().dir() + "/auditor";
  std::filesystem::create_directories(copies);
  for (const std::string& name :
       {raw + ".img", raw + ".manifest", packed + ".img.zst", packed + ".manifest"}) {
    std::filesystem::copy_file(store + name, copies + "/" + name);
    std::filesystem::permissions(copies + "/" + name, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
  }
  const std::string exported = d_->controllerHost().dir() + "/audit.export";
  ASSERT_EQ(cli({"audit", "export", "--out", exported}).exit_code, 0);
  const std::string vkey = d_->dataDir() + "/log.vkey";
  auto verify = [&](const std::string& log, const std::vector<std::string>& items) {
    std::vector<std::string> argv = {"audit", "verify", log, "--vkey", vkey};
    for (const auto& i : items) {
      argv.push_back("--evidence");
      argv.push_back(copies + "/" + i);
    }
    return cli(argv);
  };

  RunResult good = verify(exported, {raw + ".img", packed + ".manifest"});
  std::printf("%s", good.out.c_str());
  EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("evidence " + raw + ": verified"), std::string::npos) << good.out;
  EXPECT_NE(good.out.find("evidence " + packed + ": verified"), std::string::npos) << good.out;
  EXPECT_NE(good.out.find(loop_.sha256), std::string::npos) << good.out;
  EXPECT_NE(good.out.find("decompressed"), std::string::npos) << good.out;

  // An item imaged after the export: that log has no receipt for it, so cannot vouch for it.
  const std::string late = image({loop_.device});
  ASSERT_FALSE(late.empty());
  for (const std::string& name : {late + ".img", late + ".manifest"}) {
    std::filesystem::copy_file(store + name, copies + "/" + name);
  }
  RunResult unlogged = verify(early, {late + ".img"});
  EXPECT_EQ(unlogged.exit_code, 1) << unlogged.out << unlogged.err;
  EXPECT_NE(unlogged.out.find("the log has no receipt of action"), std::string::npos)
      << unlogged.out;

  // One changed byte of the content.
  {
    std::fstream f(copies + "/" + raw + ".img", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12345);
    f.put('\x5a');
  }
  RunResult changed = verify(exported, {raw + ".img"});
  EXPECT_EQ(changed.exit_code, 1) << changed.out << changed.err;
  EXPECT_NE(changed.out.find("content   FAIL"), std::string::npos) << changed.out;

  // The manifest's signed bytes edited (its size claim), signature line kept.
  const std::string manifest_path = copies + "/" + packed + ".manifest";
  auto manifest = readFile(manifest_path);
  ASSERT_TRUE(manifest.ok());
  std::string edited = *manifest;
  const std::size_t at = edited.find("\"size_bytes\": ");
  ASSERT_NE(at, std::string::npos);
  edited.insert(at + 14, "1");
  ASSERT_TRUE(writeFileAtomic(manifest_path, edited, 0644).ok());
  RunResult forged = verify(exported, {packed + ".img.zst"});
  EXPECT_EQ(forged.exit_code, 1) << forged.out << forged.err;
  EXPECT_NE(forged.out.find("signature FAIL"), std::string::npos) << forged.out;
  EXPECT_NE(forged.out.find("receipt   FAIL"), std::string::npos) << forged.out;

  // A name the store never uses is bad input, before anything is read; so is evidence without
  // a pinned log key (a log checked against its own key could be forged to match).
  EXPECT_EQ(verify(exported, {"../audit.export"}).exit_code, 2);
  EXPECT_EQ(cli({"audit", "verify", exported, "--evidence", copies + "/" + raw + ".img"}).exit_code,
            2);
}
}  // namespace
}  // namespace warden::testing
