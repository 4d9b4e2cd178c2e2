// controller/data_dir.h against a real temporary directory: the note verifier key it publishes
// (checked against Go's sumdb vector and an independent OpenSSL computation), and `init`, which
// creates the documented files and refuses to touch an existing or half-made data directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/crypto/x509.h"
#include "common/files.h"
#include "common/profile.h"
#include "controller/data_dir.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::warden::testing::modeOf;
using ::warden::testing::TempDir;

using ::testing::HasSubstr;
using ::testing::IsSupersetOf;
using ::testing::StartsWith;

// Independent of the code under test: OpenSSL's one-shot SHA256 and base64.
std::string expectedVerifierKey(const std::string& name, const std::string& pub) {
  std::string hashed = name + "\n" + '\x01' + pub;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(hashed.data()), hashed.size(), digest);
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
  const std::string key = std::string(1, '\x01') + pub;
  std::string b64(4 * ((key.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                reinterpret_cast<const unsigned char*>(key.data()),
                                static_cast<int>(key.size()));
  b64.resize(n);
  return name + "+" + hex + "+" + b64;
}

TEST(NoteVerifierKey, MatchesTheSignedNoteVectorFromGoSumdb) {
  // golang.org/x/mod/sumdb/note documentation: PeterNeumann's verifier key.
  const std::string vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
  auto raw = crypto::unbase64("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 33u);
  ASSERT_EQ((*raw)[0], '\x01');
  EXPECT_EQ(noteVerifierKey("PeterNeumann", raw->substr(1)), vkey);
  EXPECT_EQ(expectedVerifierKey("PeterNeumann", raw->substr(1)), vkey);
}

TEST(NoteVerifierKey, FormatAndKeyHash) {
  for (int i = 0; i < 4; ++i) {
    auto key = crypto::Ed25519Key::generate();
    ASSERT_TRUE(key.ok());
    const std::string name = i % 2 == 0 ? "warden/198.18.0.1" : "log.example.org/warden";
    const std::string vkey = noteVerifierKey(name, key->publicKey());
    EXPECT_EQ(vkey, expectedVerifierKey(name, key->publicKey()));
    // <name>+<8 lower-case hex>+<base64 of 33 bytes = 44 chars>
    ASSERT_EQ(vkey.size(), name.size() + 1 + 8 + 1 + 44) << vkey;
    EXPECT_THAT(vkey, StartsWith(name + "+"));
    const std::string hash = vkey.substr(name.size() + 1, 8);
    EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos) << hash;
    EXPECT_EQ(vkey[name.size() + 9], '+');
    auto decoded = crypto::unbase64(vkey.substr(name.size() + 10));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, std::string(1, '\x01') + key->publicKey());
  }
  // The name is part of the hash.
  auto key = crypto::Ed25519Key::generate();
  ASSERT_TRUE(key.ok());
  EXPECT_NE(noteVerifierKey("a", key->publicKey()).substr(2, 8),
            noteVerifierKey("b", key->publicKey()).substr(2, 8));
}

struct FileSnapshot {
  std::string content;
  unsigned mode = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileSnapshot&) const = default;
};

std::map<std::string, FileSnapshot> snapshot(const std::string& dir) {
  std::map<std::string, FileSnapshot> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    struct stat st {};
    ::stat(e.path().c_str(), &st);
    auto content = readFile(e.path().string());
    out[e.path().filename().string()] = FileSnapshot{
        content.ok() ? *content : "<unreadable>", st.st_mode & 07777u,
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  }
  return out;
}

TEST(DataDir, InitCreatesTheDocumentedFiles) {
  TempDir tmp;
  const std::string dir = tmp.file("controller");
  InitOptions o;
  o.data_dir = dir;
  o.listen = "[::]:7443";
  o.advertise = "198.18.0.1:7443";
  auto s = initDataDir(o);
  ASSERT_TRUE(s.ok()) << s;

  EXPECT_EQ(modeOf(dir), 0700u);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  EXPECT_THAT(names, IsSupersetOf({"ca.pem", "ca.key", "server.pem", "server.key", "command.key",
                                   "log.key", "log.vkey", "admin.profile", "warden.db"}));
  for (const auto& n : names) EXPECT_EQ(n.find(".tmp"), std::string::npos) << n;
  for (const char* secret : {"ca.key", "server.key", "command.key", "log.key", "admin.profile"}) {
    EXPECT_EQ(modeOf(dir + "/" + secret), 0600u) << secret;
  }
  for (const char* pub : {"ca.pem", "server.pem", "log.vkey"}) {
    EXPECT_EQ(modeOf(dir + "/" + pub) & 0077u, 0044u) << pub << " is public";
  }

  auto keys = loadDataDir(dir);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->advertise, "198.18.0.1:7443");
  EXPECT_EQ(keys->listen, "[::]:7443");
  auto vkey_file = readFile(dir + "/log.vkey");
  ASSERT_TRUE(vkey_file.ok());
  EXPECT_EQ(*vkey_file, keys->log_vkey + "\n");
  EXPECT_EQ(keys->log_vkey, expectedVerifierKey("warden/198.18.0.1", keys->log_key.publicKey()));
  EXPECT_NE(keys->log_key.publicKey(), keys->command_key.publicKey());
  EXPECT_TRUE(crypto::verifyCertIssuedBy(keys->server_cert_pem, keys->ca.cert_pem).ok());
  auto fp = crypto::certFingerprint(keys->ca.cert_pem);
  ASSERT_TRUE(fp.ok());
  EXPECT_EQ(keys->ca_fingerprint, *fp);

  auto profile = loadProfile(dir + "/admin.profile");
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->controller, "198.18.0.1:7443");
  EXPECT_EQ(profile->name, "admin");
  EXPECT_EQ(profile->role, "admin");
  EXPECT_EQ(profile->ca_pem, keys->ca.cert_pem);
  EXPECT_TRUE(crypto::verifyCertIssuedBy(profile->cert_pem, profile->ca_pem).ok());
  auto admin = keys->registry->findOperator("admin");
  ASSERT_TRUE(admin.ok()) << admin.status();
  EXPECT_EQ(admin->role, "admin");
  EXPECT_EQ(admin->cert_fingerprint, *crypto::certFingerprint(profile->cert_pem));
  auto signing = crypto::Ed25519Key::fromPem(profile->signing_key_pem);
  ASSERT_TRUE(signing.ok());
  EXPECT_EQ(admin->signing_public_key, signing->publicKey());
}

TEST(DataDir, SecondInitFailsWithoutTouchingAnything) {
  TempDir tmp;
  const std::string dir = tmp.file("controller");
  InitOptions o;
  o.data_dir = dir;
  o.advertise = "198.18.0.1:7443";
  ASSERT_TRUE(initDataDir(o).ok());
  const auto before = snapshot(dir);
  ASSERT_FALSE(before.empty());

  auto again = initDataDir(o);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.message(), HasSubstr(dir));
  o.advertise = "198.18.0.2:7443";
  EXPECT_EQ(initDataDir(o).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(snapshot(dir), before);
}

TEST(DataDir, InitRefusesADirectoryWithOnlyACaKey) {
  TempDir tmp;
  ASSERT_TRUE(writeFileAtomic(tmp.file("ca.key"), "precious", 0600).ok());
  InitOptions o;
  o.data_dir = tmp.path();
  o.advertise = "198.18.0.1:7443";
  EXPECT_EQ(initDataDir(o).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*readFile(tmp.file("ca.key")), "precious");
  EXPECT_FALSE(pathExists(tmp.file("warden.db")));
}

TEST(DataDir, InitRejectsBadOptions) {
  TempDir tmp;
  InitOptions o;
  EXPECT_EQ(initDataDir(o).code(), absl::StatusCode::kInvalidArgument);
  o.data_dir = tmp.file("c");
  o.listen = "not an address";
  EXPECT_EQ(initDataDir(o).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(pathExists(tmp.file("c"))) << "nothing created for bad input";
  EXPECT_EQ(loadDataDir(tmp.file("c")).status().code(), absl::StatusCode::kNotFound);
}
}  // namespace
}  // namespace warden
