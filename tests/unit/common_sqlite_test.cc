// common/sqlite.h, common/files.h and common/profile.h against a real temporary directory.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "common/crypto/ed25519.h"
#include "common/crypto/x509.h"
#include "common/files.h"
#include "common/profile.h"
#include "common/sqlite.h"
#include "tests/support/temp_dir.h"

namespace warden {
namespace {

using ::warden::testing::modeOf;
using ::warden::testing::TempDir;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> listDir(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- sqlite --------------------------------------------------------------------------------

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::open(dir_.file("test.db"));
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->exec("CREATE TABLE t(k TEXT PRIMARY KEY, b BLOB, n INTEGER)").ok());
  }
  TempDir dir_;
  std::unique_ptr<Database> db_;
};

TEST_F(SqliteTest, InsertAndSelectRoundTrip) {
  const std::string blob("a\0b\0\0c\xff", 7);
  {
    auto st = db_->prepare("INSERT INTO t(k, b, n) VALUES(?, ?, ?)");
    ASSERT_TRUE(st.ok()) << st.status();
    auto s = st->bind(1, std::string("key")).bindBlob(2, blob).bind(3, std::int64_t{-42}).run();
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(db_->changes(), 1);
  }
  auto st = db_->prepare("SELECT k, b, n, length(b), typeof(b) FROM t WHERE k = ?");
  ASSERT_TRUE(st.ok()) << st.status();
  st->bind(1, std::string("key"));
  auto row = st->step();
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_TRUE(*row);
  EXPECT_EQ(st->text(0), "key");
  EXPECT_EQ(st->text(1), blob) << "NUL bytes survive";
  EXPECT_EQ(st->text(1).size(), 7u);
  EXPECT_EQ(st->integer(2), -42);
  EXPECT_EQ(st->integer(3), 7);
  EXPECT_EQ(st->text(4), "blob");
  EXPECT_FALSE(st->isNull(1));
  auto done = st->step();
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(*done);
}

TEST_F(SqliteTest, TextWithNulBytesAndIntegerExtremes) {
  const std::string text("x\0y", 3);
  const std::int64_t lo = std::numeric_limits<std::int64_t>::min();
  const std::int64_t hi = std::numeric_limits<std::int64_t>::max();
  auto ins = db_->prepare("INSERT INTO t(k, b, n) VALUES(?, ?, ?)");
  ASSERT_TRUE(ins.ok());
  ASSERT_TRUE(ins->bind(1, text).bind(2, std::string("")).bind(3, lo).run().ok());
  auto ins2 = db_->prepare("INSERT INTO t(k, n) VALUES('hi', ?)");
  ASSERT_TRUE(ins2.ok());
  ASSERT_TRUE(ins2->bind(1, hi).run().ok());

  auto st = db_->prepare("SELECT k, b, n FROM t ORDER BY n");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->step());
  EXPECT_EQ(st->text(0), text);
  EXPECT_EQ(st->text(1), "");
  EXPECT_EQ(st->integer(2), lo);
  ASSERT_TRUE(*st->step());
  EXPECT_EQ(st->text(0), "hi");
  EXPECT_EQ(st->integer(2), hi);
  EXPECT_TRUE(st->isNull(1));
  EXPECT_EQ(st->text(1), "");
  EXPECT_FALSE(*st->step());
}

TEST_F(SqliteTest, BindNull) {
  auto ins = db_->prepare("INSERT INTO t(k, b) VALUES('k', ?)");
  ASSERT_TRUE(ins.ok());
  ASSERT_TRUE(ins->bindNull(1).run().ok());
  auto st = db_->prepare("SELECT b IS NULL FROM t");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->step());
  EXPECT_EQ(st->integer(0), 1);
}

TEST_F(SqliteTest, ChangesCountsRows) {
  ASSERT_TRUE(db_->exec("INSERT INTO t(k, n) VALUES('a', 1), ('b', 1), ('c', 2)").ok());
  auto up = db_->prepare("UPDATE t SET n = 5 WHERE n = ?");
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE(up->bind(1, std::int64_t{1}).run().ok());
  EXPECT_EQ(db_->changes(), 2);
}

TEST_F(SqliteTest, BadSqlIsAnError) {
  auto s = db_->exec("SELEC nonsense");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("syntax error"));

  auto st = db_->prepare("SELECT * FROM no_such_table");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.status().message(), HasSubstr("no such table"));
  EXPECT_THAT(st.status().message(), HasSubstr("SELECT * FROM no_such_table"));
}

TEST_F(SqliteTest, ConstraintViolationIsAnErrorAtRun) {
  ASSERT_TRUE(db_->exec("INSERT INTO t(k) VALUES('dup')").ok());
  auto st = db_->prepare("INSERT INTO t(k) VALUES(?)");
  ASSERT_TRUE(st.ok());
  auto s = st->bind(1, std::string("dup")).run();
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("UNIQUE constraint failed"));
}

TEST_F(SqliteTest, BindErrorSurfacesAtStep) {
  auto st = db_->prepare("SELECT ? ");
  ASSERT_TRUE(st.ok());
  st->bind(7, std::string("out of range"));
  auto row = st->step();
  ASSERT_FALSE(row.ok());
  EXPECT_THAT(row.status().message(), HasSubstr("bind"));
}

TEST_F(SqliteTest, DataPersistsAcrossReopen) {
  ASSERT_TRUE(db_->exec("INSERT INTO t(k, n) VALUES('kept', 9)").ok());
  db_.reset();
  auto db = Database::open(dir_.file("test.db"));
  ASSERT_TRUE(db.ok()) << db.status();
  auto st = (*db)->prepare("SELECT n FROM t WHERE k = 'kept'");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->step());
  EXPECT_EQ(st->integer(0), 9);
}

TEST(Sqlite, OpenInAMissingDirectoryFails) {
  TempDir dir;
  auto db = Database::open(dir.file("missing/sub/test.db"));
  ASSERT_FALSE(db.ok());
  EXPECT_THAT(db.status().message(), HasSubstr("missing/sub/test.db"));
}

// ---- files ---------------------------------------------------------------------------------

TEST(Files, WriteFileAtomicHonoursModeAndReplacesContent) {
  TempDir dir;
  const std::string path = dir.file("secret.key");
  const ::mode_t old_umask = ::umask(0077);  // the mode must not depend on the umask
  auto s = writeFileAtomic(path, "first", 0644);
  ::umask(old_umask);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(modeOf(path), 0644u);
  EXPECT_EQ(*readFile(path), "first");

  ASSERT_TRUE(writeFileAtomic(path, std::string("second\0x", 8), 0600).ok());
  EXPECT_EQ(modeOf(path), 0600u);
  EXPECT_EQ(*readFile(path), std::string("second\0x", 8));

  ASSERT_TRUE(writeFileAtomic(path, "", 0640).ok());
  EXPECT_EQ(modeOf(path), 0640u);
  EXPECT_EQ(*readFile(path), "");

  EXPECT_THAT(listDir(dir.path()), ElementsAre("secret.key")) << "no .tmp left behind";
  EXPECT_FALSE(pathExists(path + ".tmp"));
}

TEST(Files, WriteFileAtomicReplacesAStaleTmp) {
  TempDir dir;
  const std::string path = dir.file("f");
  ASSERT_TRUE(writeFileAtomic(path + ".tmp", "stale stale stale", 0600).ok());
  ASSERT_TRUE(writeFileAtomic(path, "new", 0600).ok());
  EXPECT_EQ(*readFile(path), "new");
  EXPECT_THAT(listDir(dir.path()), ElementsAre("f"));
}

TEST(Files, WriteFileAtomicIntoAMissingDirectoryFails) {
  TempDir dir;
  auto s = writeFileAtomic(dir.file("nope/f"), "x", 0600);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("nope/f"));
}

TEST(Files, ReadFileLargeContentAndMaxSize) {
  TempDir dir;
  const std::string path = dir.file("big");
  std::string data(200'000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(writeFileAtomic(path, data, 0600).ok());
  auto all = readFile(path);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, data);
  EXPECT_TRUE(readFile(path, data.size()).ok()) << "exactly the limit is fine";
  auto too_big = readFile(path, data.size() - 1);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(too_big.status().message(), HasSubstr(path));
  EXPECT_THAT(too_big.status().message(), HasSubstr("larger than"));
  EXPECT_FALSE(readFile(path, 10).ok());
}

TEST(Files, ReadMissingFileIsNotFound) {
  TempDir dir;
  auto r = readFile(dir.file("absent"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("absent"));
  EXPECT_FALSE(pathExists(dir.file("absent")));
}

TEST(Files, MakeDirectoryCreatesParentsWithMode) {
  TempDir dir;
  const std::string path = dir.file("a/b/c");
  ASSERT_TRUE(makeDirectory(path, 0700).ok());
  EXPECT_TRUE(std::filesystem::is_directory(path));
  EXPECT_EQ(modeOf(path), 0700u);
  // Again: an existing directory is fine and gets the mode.
  ASSERT_TRUE(::chmod(path.c_str(), 0755) == 0);
  ASSERT_TRUE(makeDirectory(path, 0700).ok());
  EXPECT_EQ(modeOf(path), 0700u);
}

// ---- profile -------------------------------------------------------------------------------

OperatorProfile sampleProfile() {
  OperatorProfile p;
  p.controller = "[2001:db8::1]:7443";
  p.name = "alice";
  p.role = "responder";
  auto ca = crypto::createCa("Test CA", absl::Hours(1));
  EXPECT_TRUE(ca.ok()) << ca.status();
  p.ca_pem = ca.ok() ? ca->cert_pem : "";
  auto key = crypto::generateEcKeyPem();
  EXPECT_TRUE(key.ok());
  p.key_pem = key.ok() ? *key : "";
  crypto::CertProfile prof;
  prof.common_name = "operator:alice";
  prof.client = true;
  auto cert = ca.ok() && key.ok() ? crypto::issueCertificate(*ca, *key, prof)
                                  : absl::StatusOr<std::string>(absl::InternalError("no ca"));
  EXPECT_TRUE(cert.ok()) << cert.status();
  p.cert_pem = cert.ok() ? *cert : "";
  auto signing = crypto::Ed25519Key::generate();
  EXPECT_TRUE(signing.ok());
  p.signing_key_pem = signing.ok() ? signing->toPem() : "";
  return p;
}

void expectSameProfile(const OperatorProfile& a, const OperatorProfile& b) {
  EXPECT_EQ(a.controller, b.controller);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.role, b.role);
  EXPECT_EQ(a.ca_pem, b.ca_pem);
  EXPECT_EQ(a.cert_pem, b.cert_pem);
  EXPECT_EQ(a.key_pem, b.key_pem);
  EXPECT_EQ(a.signing_key_pem, b.signing_key_pem);
}

TEST(Profile, SaveLoadRoundTrip) {
  TempDir dir;
  const OperatorProfile p = sampleProfile();
  ASSERT_FALSE(p.ca_pem.empty());
  const std::string path = dir.file("alice.profile");
  ASSERT_TRUE(saveProfile(path, p).ok());
  EXPECT_EQ(modeOf(path), 0600u) << "a profile holds private keys";
  // PEMs stay readable literal blocks.
  auto text = readFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("ca_cert: |\n  -----BEGIN CERTIFICATE-----\n"));
  EXPECT_THAT(*text, HasSubstr("signing_key: |\n  -----BEGIN PRIVATE KEY-----\n"));
  auto back = loadProfile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  expectSameProfile(*back, p);
  // The keys still work after the round trip.
  EXPECT_TRUE(crypto::Ed25519Key::fromPem(back->signing_key_pem).ok());
  EXPECT_TRUE(crypto::verifyCertIssuedBy(back->cert_pem, back->ca_pem).ok());
}

TEST(Profile, RoundTripOfAwkwardScalars) {
  TempDir dir;
  OperatorProfile p;
  p.controller = "198.18.0.1:7443";
  p.name = "o'brien: #1";
  p.role = "admin";
  p.ca_pem = "no trailing newline";
  p.cert_pem = "line one\nline two\n";
  p.key_pem = "- starts like a list\n";
  p.signing_key_pem = "  leading spaces\n";
  const std::string path = dir.file("p");
  ASSERT_TRUE(saveProfile(path, p).ok());
  auto back = loadProfile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  expectSameProfile(*back, p);

  p.ca_pem = "";
  p.cert_pem = "crlf\r\nline\r\n";
  p.key_pem = "two trailing newlines\n\n";
  p.signing_key_pem = "\nleading newline\ttab \x01\n";
  ASSERT_TRUE(saveProfile(path, p).ok());
  back = loadProfile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  expectSameProfile(*back, p);
}

TEST(Profile, MissingFieldIsAClearError) {
  TempDir dir;
  const std::string path = dir.file("p");
  ASSERT_TRUE(writeFileAtomic(path,
                              "controller: 198.18.0.1:7443\n"
                              "operator: alice\n"
                              "ca_cert: x\nclient_cert: x\nclient_key: x\nsigning_key: x\n",
                              0600)
                  .ok());
  auto p = loadProfile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(p.status().message(), HasSubstr("missing field 'role'"));
  EXPECT_THAT(p.status().message(), HasSubstr(path));
}

TEST(Profile, NonScalarFieldIsRefused) {
  TempDir dir;
  const std::string path = dir.file("p");
  ASSERT_TRUE(writeFileAtomic(path,
                              "controller: [a, b]\noperator: alice\nrole: admin\n"
                              "ca_cert: x\nclient_cert: x\nclient_key: x\nsigning_key: x\n",
                              0600)
                  .ok());
  auto p = loadProfile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("'controller'"));
}

TEST(Profile, GarbageAndMissingFiles) {
  TempDir dir;
  const std::string path = dir.file("p");
  ASSERT_TRUE(writeFileAtomic(path, "controller: [unclosed\n", 0600).ok());
  auto p = loadProfile(path);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);

  auto missing = loadProfile(dir.file("absent"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace warden
