// authorized_keys, sshd_config and KRL handling without privileges: key lines as sshd reads
// them (options, quotes, type names, every field of every key blob, CRLF), bad lines reported
// and kept, byte-exact edits, canonical fingerprints, sshd_config's first-value-wins, Include
// and Match rules, AuthorizedKeysFile expansion, and the KRL format. OpenSSH's own ssh-keygen
// is the peer: it must print our fingerprints, refuse what we refuse, and read our KRLs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "agent/actions/authorized_keys.h"
#include "common/crypto/encoding.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace warden {
namespace {

// ---- SSH wire format ----------------------------------------------------------------------

std::string u32(std::uint32_t n) {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

std::string u64(std::uint64_t n) { return u32(n >> 32) + u32(static_cast<std::uint32_t>(n)); }

// SSH wire string (RFC 4251 §5).
std::string sshString(std::string_view bytes) {
  return u32(static_cast<std::uint32_t>(bytes.size())) + std::string(bytes);
}

// A minimal mpint of a non-negative magnitude given big-endian without leading zeros.
std::string mpint(std::string_view magnitude) {
  const bool high = !magnitude.empty() && (static_cast<unsigned char>(magnitude[0]) & 0x80);
  return sshString((high ? std::string(1, '\0') : std::string()) + std::string(magnitude));
}

// Deterministic filler bytes.
std::string bytesOf(char seed, std::size_t n) {
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<char>(seed * 31 + i * 7);
  return out;
}

// `scalar` times the curve's generator, uncompressed (0x04 || X || Y): a valid public point.
std::string ecPoint(int bits, unsigned scalar, bool compressed = false) {
  const int nid = bits == 256 ? NID_X9_62_prime256v1 : bits == 384 ? NID_secp384r1 : NID_secp521r1;
  EC_GROUP* group = EC_GROUP_new_by_curve_name(nid);
  EC_POINT* point = EC_POINT_new(group);
  BIGNUM* k = BN_new();
  BN_set_word(k, scalar);
  EC_POINT_mul(group, point, k, nullptr, nullptr, nullptr);
  const auto form = compressed ? POINT_CONVERSION_COMPRESSED : POINT_CONVERSION_UNCOMPRESSED;
  const std::size_t n = EC_POINT_point2oct(group, point, form, nullptr, 0, nullptr);
  std::string out(n, '\0');
  EC_POINT_point2oct(group, point, form, reinterpret_cast<unsigned char*>(out.data()), n, nullptr);
  BN_free(k);
  EC_POINT_free(point);
  EC_GROUP_free(group);
  return out;
}

int curveOf(std::string_view type) {
  for (int bits : {256, 384, 521}) {
    if (type.find("nistp" + std::to_string(bits)) != std::string_view::npos) return bits;
  }
  return 0;
}

const std::string kExponent("\x01\x00\x01", 3);  // 65537

// The fields of a valid plain key of `type` after its type string, from `seed`.
std::string keyFields(std::string_view type, char seed) {
  const std::string app = sshString("ssh:");
  if (type == "ssh-ed25519") return sshString(bytesOf(seed, 32));
  if (type == "sk-ssh-ed25519@openssh.com") return sshString(bytesOf(seed, 32)) + app;
  if (type == "ssh-mldsa44-ed25519@openssh.com") return sshString(bytesOf(seed, 1344));
  if (type.starts_with("ecdsa-sha2-")) {
    const int bits = curveOf(type);
    return sshString("nistp" + std::to_string(bits)) + sshString(ecPoint(bits, seed));
  }
  if (type.find("sk-ecdsa-sha2-nistp256@") != std::string_view::npos) {
    return sshString("nistp256") + sshString(ecPoint(256, seed)) + app;
  }
  if (type == "ssh-rsa" || type == "rsa-sha2-256" || type == "rsa-sha2-512") {
    return mpint(kExponent) + mpint("\xc1" + bytesOf(seed, 255));  // 2048 bits
  }
  if (type == "ssh-dss") {
    return mpint("\xd1" + bytesOf(seed, 127)) + mpint("\x91" + bytesOf(seed, 19)) +
           mpint(bytesOf(seed, 128)) + mpint(bytesOf(seed + 1, 128));
  }
  ADD_FAILURE() << "no fields for " << type;
  return "";
}

std::string plainBlob(std::string_view type, char seed = 'k') {
  return sshString(type) + keyFields(type, seed);
}

// The plain type a certificate type certifies, and the name sshd writes for a key's type.
std::string plainTypeOf(std::string_view type) {
  std::string t(type);
  if (const std::size_t at = t.find("-cert-v01"); at != std::string::npos) {
    t.erase(at, 9);
    if (t.ends_with("@openssh.com") && !t.starts_with("sk-") && !t.starts_with("webauthn-") &&
        !t.starts_with("ssh-mldsa44")) {
      t.erase(t.size() - 12);
    }
  }
  return t;
}

std::string canonicalTypeOf(std::string_view type) {
  const std::string plain = plainTypeOf(type);
  if (plain.starts_with("rsa-sha2-")) return "ssh-rsa";
  if (plain.starts_with("webauthn-")) return "sk-ecdsa-sha2-nistp256@openssh.com";
  return plain;
}

// A certificate: structurally what cert_parse() takes, signed by nobody (not verified here).
struct CertSpec {
  std::uint32_t cert_type = 1;
  std::string key_id = "key id";
  std::string principals = sshString("alice") + sshString("bob");
  std::string critical = sshString("force-command") + sshString(sshString("/bin/true"));
  std::string extensions = sshString("permit-pty") + sshString("");
  std::string ca = plainBlob("ssh-ed25519", 'C');
  std::string trailer;  // after the signature
};

std::string certBlob(std::string_view type, char seed = 'k', const CertSpec& spec = {}) {
  return sshString(type) + sshString(bytesOf('n', 32)) + keyFields(plainTypeOf(type), seed) +
         u64(42) + u32(spec.cert_type) + sshString(spec.key_id) + sshString(spec.principals) +
         u64(0) + u64(~0ull) + sshString(spec.critical) + sshString(spec.extensions) +
         sshString("") + sshString(spec.ca) +
         sshString(sshString("ssh-ed25519") + sshString(bytesOf('s', 64))) + spec.trailer;
}

bool isCert(std::string_view type) { return type.find("-cert-v01@") != std::string_view::npos; }

std::string blobOf(std::string_view type, char seed = 'k') {
  return isCert(type) ? certBlob(type, seed) : plainBlob(type, seed);
}

std::string keyLine(std::string_view type, char seed = 'k') {
  return std::string(type) + " " + crypto::base64(blobOf(type, seed));
}

// What sshd fingerprints for a key line built by keyLine(type, seed).
std::string fingerprintOf(std::string_view type, char seed = 'k') {
  const std::string canonical = canonicalTypeOf(type);
  return sha256Fingerprint(sshString(canonical) + keyFields(canonical, seed));
}

constexpr const char* kEveryType[] = {
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-mldsa44-ed25519@openssh.com",
    "ssh-mldsa44-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ssh-rsa",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-dss-cert-v01@openssh.com",
};

// ssh-ed25519 with the public key 00 01 .. 1f, and its fingerprint from hashlib and from
// `ssh-keygen -lf` (OpenSSH 9.2), which agree.
constexpr char kEd25519Line[] =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f";
constexpr char kEd25519Fingerprint[] = "SHA256:ZkAslGjFiUHdGf/WUL8rQvkib4PTvQatUV0OUQSncCA";

SshdIncludeReader noIncludes() {
  return [](std::string_view) -> absl::StatusOr<std::vector<std::string>> {
    return std::vector<std::string>{};
  };
}

SshdIncludeReader includesFrom(std::map<std::string, std::vector<std::string>> files) {
  return [files](std::string_view pattern) -> absl::StatusOr<std::vector<std::string>> {
    auto it = files.find(std::string(pattern));
    if (it == files.end()) return std::vector<std::string>{};
    return it->second;
  };
}

// ---- ssh-keygen, the peer -----------------------------------------------------------------

struct ToolResult {
  int exit_code = -1;  // -1: did not start or did not exit normally
  std::string output;  // stdout and stderr
};

// argv run to completion (posix_spawnp, no shell), stdin from /dev/null.
ToolResult runTool(const std::vector<std::string>& argv) {
  ToolResult result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) result.output.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  if (spawned == 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  return result;
}

bool haveSshKeygen() {
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/bin:/bin";
  while (!dirs.empty()) {
    const std::string dir(dirs.substr(0, dirs.find(':')));
    dirs.remove_prefix(std::min(dirs.size(), dir.size() + 1));
    if (!dir.empty() && ::access((dir + "/ssh-keygen").c_str(), X_OK) == 0) return true;
  }
  return false;
}

bool requirePrivileged() {
  const char* v = std::getenv("WARDEN_REQUIRE_PRIVILEGED");
  return v != nullptr && std::string(v) == "1";
}

// CI (WARDEN_REQUIRE_PRIVILEGED=1) installs OpenSSH's client: a skip there would hide a failure.
#define REQUIRE_SSH_KEYGEN()                                                                   \
  do {                                                                                         \
    if (!haveSshKeygen()) {                                                                    \
      if (requirePrivileged()) FAIL() << "ssh-keygen not found (WARDEN_REQUIRE_PRIVILEGED=1)"; \
      GTEST_SKIP() << "ssh-keygen is not installed";                                           \
    }                                                                                          \
  } while (false)

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void writeFile(const std::string& path, std::string_view content) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
}

// `ssh-keygen -l -f FILE`'s fingerprint of a one-key file ("256 SHA256:... comment (TYPE)"),
// or "refused: OUTPUT" when it takes no key from the file.
std::string keygenFingerprint(const std::string& file) {
  const ToolResult r = runTool({"ssh-keygen", "-l", "-f", file});
  if (r.exit_code != 0) return "refused: " + r.output;
  const std::size_t from = r.output.find(' ') + 1;
  return r.output.substr(from, r.output.find(' ', from) - from);
}

// A key pair made by ssh-keygen: PATH and PATH.pub; false if ssh-keygen would not make one.
bool makeKey(const std::string& path, const std::vector<std::string>& type_args) {
  std::vector<std::string> argv = {"ssh-keygen", "-q", "-N", "", "-C", "made by test", "-f", path};
  argv.insert(argv.end(), type_args.begin(), type_args.end());
  return runTool(argv).exit_code == 0;
}

// The SSH strings of a blob, in order.
std::vector<std::string> splitStrings(std::string_view blob) {
  std::vector<std::string> out;
  while (blob.size() >= 4) {
    const std::uint32_t n =
        (static_cast<unsigned char>(blob[0]) << 24) | (static_cast<unsigned char>(blob[1]) << 16) |
        (static_cast<unsigned char>(blob[2]) << 8) | static_cast<unsigned char>(blob[3]);
    out.emplace_back(blob.substr(4, n));
    blob.remove_prefix(std::min<std::size_t>(blob.size(), 4 + n));
  }
  return out;
}

// ---- authorized_keys ----------------------------------------------------------------------

TEST(AuthorizedKeysFileTest, ParsesKeysOptionsAndComments) {
  const std::string content =
      "# keys for alice\n"
      "\n"
      "  \t\n" +
      std::string(kEd25519Line) + " alice@laptop\n" +
      "from=\"198.18.0.0/15\",command=\"echo \\\"hi there\\\"\",no-pty " + keyLine("ssh-rsa", 'r') +
      "\tbackup key  \t\n" + "   \t# indented comment\n" + "  " +
      keyLine("ecdsa-sha2-nistp256", 'e') + "\n" + "cert-authority " +
      keyLine("ssh-ed25519-cert-v01@openssh.com", 'c') + " ca";
  auto file = AuthorizedKeysFile::parse(content, "/home/alice/.ssh/authorized_keys");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->bad_lines().empty()) << file->bad_lines().front().why;
  const auto& keys = file->keys();
  ASSERT_EQ(keys.size(), 4u);

  EXPECT_EQ(keys[0].line, 4);
  EXPECT_EQ(keys[0].options, "");
  EXPECT_EQ(keys[0].type, "ssh-ed25519");
  EXPECT_EQ(keys[0].comment, "alice@laptop");
  EXPECT_EQ(keys[0].fingerprint, kEd25519Fingerprint);
  EXPECT_EQ(keys[0].publicKey(), kEd25519Line);

  EXPECT_EQ(keys[1].line, 5);
  EXPECT_EQ(keys[1].options, "from=\"198.18.0.0/15\",command=\"echo \\\"hi there\\\"\",no-pty");
  EXPECT_EQ(keys[1].type, "ssh-rsa");
  EXPECT_EQ(keys[1].blob, plainBlob("ssh-rsa", 'r'));
  EXPECT_EQ(keys[1].comment, "backup key");
  EXPECT_EQ(keys[1].fingerprint, sha256Fingerprint(plainBlob("ssh-rsa", 'r')));

  EXPECT_EQ(keys[2].line, 7);
  EXPECT_EQ(keys[2].type, "ecdsa-sha2-nistp256");
  EXPECT_EQ(keys[2].comment, "");

  EXPECT_EQ(keys[3].line, 8);
  EXPECT_EQ(keys[3].options, "cert-authority");
  EXPECT_EQ(keys[3].type, "ssh-ed25519-cert-v01@openssh.com");
  EXPECT_EQ(keys[3].comment, "ca");
  EXPECT_EQ(keys[3].fingerprint, sha256Fingerprint(plainBlob("ssh-ed25519", 'c')));
  for (const AuthorizedKey& k : keys) EXPECT_TRUE(validSshFingerprint(k.fingerprint)) << k.line;
}

TEST(AuthorizedKeysFileTest, AcceptsEmptyAndCommentOnlyFiles) {
  for (const char* ok : {"", "\n", "# nothing\n", "# no newline", "\n\n\t \n", "\r\n \t\r\n"}) {
    auto file = AuthorizedKeysFile::parse(ok, "f");
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_TRUE(file->keys().empty());
    EXPECT_TRUE(file->bad_lines().empty()) << ok;
    EXPECT_EQ(file->without({}), ok);
  }
}

// Every name of sshkey.c's keyimpls, each with a blob that is exactly a key of its kind; the
// fingerprint is that of the plain key under its canonical name.
TEST(AuthorizedKeysFileTest, AcceptsEveryKnownType) {
  for (const char* type : kEveryType) {
    EXPECT_TRUE(knownKeyType(type)) << type;
    auto file = AuthorizedKeysFile::parse(keyLine(type) + "\n", "f");
    ASSERT_TRUE(file.ok()) << type << ": " << file.status();
    ASSERT_EQ(file->keys().size(), 1u) << type << ": " << file->bad_lines().at(0).why;
    EXPECT_EQ(file->keys()[0].type, type);
    EXPECT_EQ(file->keys()[0].blob, blobOf(type));
    EXPECT_EQ(file->keys()[0].fingerprint, fingerprintOf(type)) << type;
  }
  for (const char* type : {"", "ssh-ed448", "SSH-RSA", "ssh-ed25519 ", "ssh-xmss@openssh.com",
                           "ecdsa-sha2-nistp192", "ssh-rsa-cert-v00@openssh.com"}) {
    EXPECT_FALSE(knownKeyType(type)) << type;
  }
}

// sshkey_read() compares KEY_* types (and ECDSA curves), not names: a line's name and its
// blob's may be different names of one key format.
TEST(AuthorizedKeysFileTest, LineAndBlobMayNameOneFormatDifferently) {
  const struct {
    const char* line;
    const char* blob;
  } same[] = {
      {"ssh-rsa", "rsa-sha2-256"},
      {"rsa-sha2-512", "ssh-rsa"},
      {"rsa-sha2-256", "rsa-sha2-512"},
      {"ssh-rsa-cert-v01@openssh.com", "rsa-sha2-512-cert-v01@openssh.com"},
      {"webauthn-sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"},
      {"sk-ecdsa-sha2-nistp256@openssh.com", "webauthn-sk-ecdsa-sha2-nistp256@openssh.com"},
  };
  for (const auto& c : same) {
    auto file = AuthorizedKeysFile::parse(
        std::string(c.line) + " " + crypto::base64(blobOf(c.blob)) + "\n", "f");
    ASSERT_TRUE(file.ok());
    ASSERT_EQ(file->keys().size(), 1u) << c.line << " / " << c.blob;
    EXPECT_EQ(file->keys()[0].type, c.line);
    EXPECT_EQ(file->keys()[0].fingerprint, fingerprintOf(c.blob));
  }
  const struct {
    const char* line;
    const char* blob;
  } different[] = {
      {"ssh-ed25519", "ssh-rsa"},
      {"ssh-rsa", "ssh-dss"},
      {"ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384"},
      {"ecdsa-sha2-nistp256", "sk-ecdsa-sha2-nistp256@openssh.com"},
      {"ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com"},
      {"ssh-ed25519-cert-v01@openssh.com", "ssh-ed25519"},
      {"sk-ssh-ed25519@openssh.com", "ssh-ed25519"},
  };
  for (const auto& c : different) {
    auto file = AuthorizedKeysFile::parse(
        std::string(c.line) + " " + crypto::base64(blobOf(c.blob)) + "\n", "f");
    ASSERT_TRUE(file.ok());
    EXPECT_TRUE(file->keys().empty()) << c.line << " / " << c.blob;
    ASSERT_EQ(file->bad_lines().size(), 1u);
    EXPECT_NE(file->bad_lines()[0].why.find("the key data is a"), std::string::npos)
        << file->bad_lines()[0].why;
  }
}

// What sshd takes but re-serialises differently: numbers with extra leading zero bytes, strings
// with a trailing NUL. The blob stays as written; the fingerprint is of sshd's form.
TEST(AuthorizedKeysFileTest, FingerprintsTheCanonicalForm) {
  const std::string n = "\xc1" + bytesOf('r', 255);
  const std::string canonical_rsa = sshString("ssh-rsa") + mpint(kExponent) + mpint(n);
  const std::string p256 = ecPoint(256, 5);
  const std::string canonical_sk = sshString("sk-ecdsa-sha2-nistp256@openssh.com") +
                                   sshString("nistp256") + sshString(p256) + sshString("ssh:");
  const struct {
    std::string type;
    std::string blob;
    std::string canonical;
  } cases[] = {
      {"ssh-rsa", sshString("ssh-rsa") + sshString(std::string(3, '\0') + kExponent) + mpint(n),
       canonical_rsa},
      {"ssh-rsa", sshString("ssh-rsa") + mpint(kExponent) + sshString(std::string(2, '\0') + n),
       canonical_rsa},
      {"rsa-sha2-256", sshString(std::string("rsa-sha2-256\0", 13)) + mpint(kExponent) + mpint(n),
       canonical_rsa},
      {"ssh-ed25519", sshString(std::string("ssh-ed25519\0", 12)) + sshString(bytesOf('e', 32)),
       plainBlob("ssh-ed25519", 'e')},
      {"webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
       sshString("sk-ecdsa-sha2-nistp256@openssh.com") + sshString(std::string("nistp256\0", 9)) +
           sshString(p256) + sshString(std::string("ssh:\0", 5)),
       canonical_sk},
      // A DSA number that is zero: no bytes at all, however it was written.
      {"ssh-dss",
       sshString("ssh-dss") + sshString("\x01") + sshString("\x02") + sshString("\x03") +
           sshString(std::string(4, '\0')),
       sshString("ssh-dss") + sshString("\x01") + sshString("\x02") + sshString("\x03") +
           sshString("")},
  };
  for (const auto& c : cases) {
    auto file = AuthorizedKeysFile::parse(c.type + " " + crypto::base64(c.blob) + " x\n", "f");
    ASSERT_TRUE(file.ok());
    ASSERT_EQ(file->keys().size(), 1u) << c.type << ": " << file->bad_lines().at(0).why;
    EXPECT_EQ(file->keys()[0].blob, c.blob);
    EXPECT_EQ(file->keys()[0].fingerprint, sha256Fingerprint(c.canonical)) << c.type;
    EXPECT_NE(file->keys()[0].fingerprint, sha256Fingerprint(c.blob));
  }
}

// Each line that is not a key sshd would take, between two that are: the file parses, both
// keys are found, and the line is reported with its number and why.
TEST(AuthorizedKeysFileTest, ReportsEachBadLineAndKeepsTheKeys) {
  const std::string ed = crypto::base64(plainBlob("ssh-ed25519"));
  const std::string padded = crypto::base64(plainBlob("ssh-ed25519").substr(1));  // ends "=="
  const std::string unpadded = padded.substr(0, padded.find('='));
  const std::string pk = bytesOf('p', 32);
  const std::string p256 = ecPoint(256, 3);
  std::string off_curve = p256;
  off_curve.back() ^= 1;
  const std::string e = mpint(kExponent);
  auto line = [](std::string_view type, std::string_view blob) {
    return std::string(type) + " " + crypto::base64(blob);
  };
  auto ecdsa = [](std::string_view curve, std::string_view point) {
    return sshString("ecdsa-sha2-nistp256") + sshString(curve) + sshString(point);
  };
  auto cert = [&line](const CertSpec& spec) {
    return line("ssh-ed25519-cert-v01@openssh.com",
                certBlob("ssh-ed25519-cert-v01@openssh.com", 'c', spec));
  };
  CertSpec user_type_3;
  user_type_3.cert_type = 3;
  CertSpec trailing;
  trailing.trailer = "x";
  CertSpec ca_is_cert;
  ca_is_cert.ca = certBlob("ssh-ed25519-cert-v01@openssh.com", 'C');
  CertSpec ca_too_short;
  ca_too_short.ca = sshString("ssh-ed25519") + sshString(bytesOf('C', 31));
  CertSpec too_many_principals;
  too_many_principals.principals.clear();
  for (int i = 0; i < 257; ++i) too_many_principals.principals += sshString("p");
  CertSpec odd_options;
  odd_options.critical = sshString("force-command");
  CertSpec nul_in_key_id;
  nul_in_key_id.key_id = std::string("a\0b", 3);
  CertSpec nul_in_principal;
  nul_in_principal.principals = sshString(std::string("al\0ice", 6));
  const struct {
    std::string text;
    std::string why;
  } cases[] = {
      {"ssh-ed448 " + ed, "unknown key type 'AAAA"},  // first word taken as options
      {"no-pty ssh-ed448 " + ed, "unknown key type 'ssh-ed448'"},
      {"command=\"ls " + keyLine("ssh-ed25519"), "unterminated quote"},
      {"command=\"ls\\\" " + keyLine("ssh-ed25519"), "unterminated quote"},
      {"no-pty", "no key type after the options"},
      {"ssh-ed25519", "no key data"},
      {"ssh-ed25519   ", "no key data"},
      {"ssh-ed25519 " + unpadded, "not valid base64"},
      {"ssh-ed25519 " + ed.substr(0, 10) + "*" + ed.substr(11), "not valid base64"},
      {"ssh-ed25519 ====", "not valid base64"},
      // A type the line names, with a key that is not one: not options either.
      {"ssh-ed25519 " + crypto::base64("ab") + " " + keyLine("ssh-ed25519"), "not a valid"},
      {line("ssh-ed25519", plainBlob("ssh-rsa")), "the key data is a ssh-rsa key"},
      {line("ssh-ed25519", std::string("\0\0\1\0ssh-ed25519", 15)), "no key type"},
      {line("ssh-ed25519", sshString("ssh-ed25519")), "public key is cut short"},
      {line("ssh-ed25519", sshString("ssh-ed25519") + sshString(pk.substr(1))), "not 32 bytes"},
      {line("ssh-ed25519", sshString("ssh-ed25519") + sshString(pk + "x")), "not 32 bytes"},
      {line("ssh-ed25519", plainBlob("ssh-ed25519") + "x"), "bytes follow the key"},
      {line("ssh-ed25519", plainBlob("ssh-ed25519") + sshString("")), "bytes follow the key"},
      {line("ssh-ed25519", sshString(std::string("ssh-ed\0"
                                                 "25519",
                                                 12)) +
                               sshString(pk)),
       "no key type"},
      {line("sk-ssh-ed25519@openssh.com", sshString("sk-ssh-ed25519@openssh.com") + sshString(pk)),
       "application"},
      {line("ssh-mldsa44-ed25519@openssh.com",
            sshString("ssh-mldsa44-ed25519@openssh.com") + sshString(bytesOf('m', 1343))),
       "not 1344 bytes"},
      {line("ecdsa-sha2-nistp256", ecdsa("nistp384", p256)), "curve name does not match"},
      {line("ecdsa-sha2-nistp256", ecdsa(std::string("nist\0p256", 9), p256)), "curve name"},
      {line("ecdsa-sha2-nistp256", ecdsa("nistp256", off_curve)), "not an uncompressed point"},
      {line("ecdsa-sha2-nistp256", ecdsa("nistp256", ecPoint(256, 3, true))), "uncompressed"},
      {line("ecdsa-sha2-nistp256", ecdsa("nistp256", p256.substr(0, 64))), "uncompressed"},
      {line("ecdsa-sha2-nistp256", ecdsa("nistp256", "\x04" + std::string(64, '\xff'))),
       "uncompressed"},
      {line("ecdsa-sha2-nistp256", ecdsa("nistp256", "")), "uncompressed"},
      {line("ecdsa-sha2-nistp384", plainBlob("ecdsa-sha2-nistp256")), "is a ecdsa-sha2-nistp256"},
      {line("ssh-rsa", sshString("ssh-rsa") + e + mpint("\x7f" + bytesOf('r', 127))),
       "under 1024 bits"},
      {line("ssh-rsa",
            sshString("ssh-rsa") + sshString("\x81") + mpint("\xc1" + bytesOf('r', 255))),
       "negative"},
      {line("ssh-rsa", sshString("ssh-rsa") + e +
                           sshString(std::string(2, '\0') + "\x41" + bytesOf('r', 2047))),
       "over 16384 bits"},
      {line("ssh-rsa", sshString("ssh-rsa") + e), "cut short"},
      {line("ssh-dss", sshString("ssh-dss") + mpint("\x01") + mpint("\x01") + mpint("\x01")),
       "cut short"},
      {line("ssh-ed25519-cert-v01@openssh.com", sshString("ssh-ed25519-cert-v01@openssh.com")),
       "no nonce"},
      {line("ssh-ed25519-cert-v01@openssh.com",
            sshString("ssh-ed25519-cert-v01@openssh.com") + sshString("nonce") + sshString(pk)),
       "certificate is cut short"},
      {cert(user_type_3), "unknown certificate type"},
      {cert(trailing), "bytes follow the key"},
      {cert(ca_is_cert), "CA key: a certificate cannot be a CA key"},
      {cert(ca_too_short), "CA key: the public key is not 32 bytes"},
      {cert(too_many_principals), "more than 256"},
      {cert(nul_in_principal), "principals are malformed"},
      {cert(odd_options), "options or extensions are malformed"},
      {cert(nul_in_key_id), "key ID holds a NUL"},
      {keyLine("ssh-ed25519") + " " + std::string(kMaxKeyLineBytes, 'c'), "longer than"},
  };
  for (const auto& c : cases) {
    const std::string content =
        std::string(kEd25519Line) + " first\n" + c.text + "\n" + keyLine("ssh-rsa") + " last\n";
    auto file = AuthorizedKeysFile::parse(content, "/home/eve/.ssh/authorized_keys");
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_EQ(file->keys().size(), 2u) << c.why;
    EXPECT_EQ(file->keys()[0].comment, "first");
    EXPECT_EQ(file->keys()[1].line, 3);
    ASSERT_EQ(file->bad_lines().size(), 1u) << c.why;
    const BadKeyLine& bad = file->bad_lines()[0];
    EXPECT_EQ(bad.line, 2);
    EXPECT_EQ(bad.why.rfind("/home/eve/.ssh/authorized_keys line 2: ", 0), 0u) << bad.why;
    EXPECT_NE(bad.why.find(c.why), std::string::npos) << bad.why << " for " << c.why;
    EXPECT_LT(bad.why.size(), 200u) << bad.why;
    EXPECT_EQ(file->without({}), content);
  }
}

TEST(AuthorizedKeysFileTest, FailsOnlyForSizeAndNul) {
  auto nul = AuthorizedKeysFile::parse("# a\n" + keyLine("ssh-ed25519") + std::string(" a\0b\n", 5),
                                       "/home/eve/.ssh/authorized_keys");
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(nul.status().message().find("/home/eve/.ssh/authorized_keys line 2: NUL byte"),
            absl::string_view::npos)
      << nul.status();
  auto huge = AuthorizedKeysFile::parse(std::string(kMaxKeyFileBytes + 1, '#'), "big");
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("larger than"), absl::string_view::npos);
  auto most = AuthorizedKeysFile::parse(std::string(kMaxKeyFileBytes, '\n'), "big");
  ASSERT_TRUE(most.ok());
  // Garbage of every other kind is lines, not a failure.
  auto junk = AuthorizedKeysFile::parse("\x01\x02\xff\n\x1b[2J\n=\n\"\n", "junk");
  ASSERT_TRUE(junk.ok());
  EXPECT_EQ(junk->bad_lines().size(), 4u);
}

// b64_pton() skips isspace() characters anywhere; only spaces and tabs end the key's word.
TEST(AuthorizedKeysFileTest, CrAndOtherWhitespaceAsSshdReadsThem) {
  const std::string ed = crypto::base64(plainBlob("ssh-ed25519"));
  const std::string fp = fingerprintOf("ssh-ed25519");
  for (const std::string& text : {
           "ssh-ed25519 " + ed + "\r\n",
           "ssh-ed25519 " + ed + " laptop\r\n",
           "ssh-ed25519 " + ed + "\r",
           "ssh-ed25519\t" + ed.substr(0, 8) + "\f" + ed.substr(8) + " laptop\n",
           "ssh-ed25519 " + ed.substr(0, 5) + "\v\r" + ed.substr(5) + "\n",
           "ssh-ed25519 \f" + ed + "\n",
           "no-pty ssh-ed25519 " + ed + "\r\r\n",
       }) {
    auto file = AuthorizedKeysFile::parse(text, "f");
    ASSERT_TRUE(file.ok());
    ASSERT_EQ(file->keys().size(), 1u) << absl::CHexEscape(text);
    EXPECT_EQ(file->keys()[0].fingerprint, fp);
    EXPECT_EQ(file->keys()[0].comment.find('\r'), std::string::npos);
    EXPECT_EQ(file->without({}), text);
  }
  for (const std::string& text : {
           "\fssh-ed25519 " + ed + "\n",                                  // not leading whitespace
           "ssh-ed25519\f" + ed + "\n",                                   // not a separator
           "ssh-ed25519 " + ed.substr(0, 5) + " " + ed.substr(5) + "\n",  // a space ends it
           "ssh-ed25519\r " + ed + "\n",
       }) {
    auto file = AuthorizedKeysFile::parse(text, "f");
    ASSERT_TRUE(file.ok());
    EXPECT_TRUE(file->keys().empty()) << absl::CHexEscape(text);
    EXPECT_EQ(file->bad_lines().size(), 1u);
  }
  auto crlf = AuthorizedKeysFile::parse(keyLine("ssh-rsa") + " backup\r\n", "f");
  ASSERT_TRUE(crlf.ok());
  ASSERT_EQ(crlf->keys().size(), 1u);
  EXPECT_EQ(crlf->keys()[0].comment, "backup");
}

// The reviewer's finding: a certificate's CA signature is not checked (sshd does; a forged one
// is then only a line sshd ignores, and counting it as a key revokes nothing that works).
TEST(AuthorizedKeysFileTest, TakesACertificateWithoutCheckingItsSignature) {
  auto file = AuthorizedKeysFile::parse(keyLine("ssh-rsa-cert-v01@openssh.com", 'x'), "f");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->keys().size(), 1u);
  EXPECT_EQ(file->keys()[0].fingerprint, fingerprintOf("ssh-rsa", 'x'));
}

TEST(AuthorizedKeysFileTest, ErrorsQuoteAttackerTextEscapedAndShort) {
  const std::string evil = "\x1b]0;owned\x07" + std::string(200, 'x');
  auto file =
      AuthorizedKeysFile::parse("# ok\n" + keyLine("ssh-ed25519") + "\nopt " + evil + " AAAA\n",
                                "/home/eve/.ssh/authorized_keys");
  ASSERT_TRUE(file.ok());
  ASSERT_EQ(file->bad_lines().size(), 1u);
  const std::string& message = file->bad_lines()[0].why;
  EXPECT_NE(message.find("line 3: unknown key type '\\x1b]0;owned\\x07"), std::string::npos)
      << message;
  EXPECT_EQ(message.find('\x1b'), std::string::npos);
  EXPECT_EQ(message.find('\x07'), std::string::npos);
  EXPECT_LT(message.size(), 120u);
  auto path = AuthorizedKeysFile::parse("x\n", "/home/\x1b[2J/keys");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(path->bad_lines()[0].why.find('\x1b'), std::string::npos);
}

TEST(AuthorizedKeysFileTest, WithoutRemovesOnlyTheGivenLinesByteForByte) {
  const std::string a = keyLine("ssh-ed25519", 'a');
  const std::string b = keyLine("ssh-rsa", 'b');
  const std::string c = keyLine("ecdsa-sha2-nistp384", 'c');
  auto file = AuthorizedKeysFile::parse(
      "# head\n" + a + "  one \n\n" + b + "\nbad line\r\n" + c + " last", "f");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->keys().size(), 3u);
  ASSERT_EQ(file->bad_lines().size(), 1u);
  EXPECT_EQ(file->bad_lines()[0].line, 5);
  const std::string text = file->without({});
  EXPECT_EQ(text, "# head\n" + a + "  one \n\n" + b + "\nbad line\r\n" + c + " last");
  EXPECT_EQ(file->without({2}), "# head\n\n" + b + "\nbad line\r\n" + c + " last");
  EXPECT_EQ(file->without({4, 6}), "# head\n" + a + "  one \n\nbad line\r\n");
  EXPECT_EQ(file->without({5}), "# head\n" + a + "  one \n\n" + b + "\n" + c + " last");
  EXPECT_EQ(file->without({0, -1, 7, 1000}), text);
  EXPECT_EQ(file->without({1, 2, 3, 4, 5, 6}), "");

  auto rest = AuthorizedKeysFile::parse(file->without({2, 5, 6}), "f");
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->keys().size(), 1u);
  EXPECT_TRUE(rest->bad_lines().empty());
  EXPECT_EQ(rest->keys()[0].blob, plainBlob("ssh-rsa", 'b'));
  EXPECT_EQ(rest->keys()[0].line, 3);
}

TEST(AuthorizedKeysFileTest, OneMebibyteParsesAndEditsInLinearTime) {
  std::string content;
  const std::string line = "no-pty,from=\"10.0.0.0/8\" " + keyLine("ssh-rsa") + " k\n";
  while (content.size() + line.size() <= kMaxKeyFileBytes) content += line;
  const auto start = std::chrono::steady_clock::now();
  auto file = AuthorizedKeysFile::parse(content, "f");
  ASSERT_TRUE(file.ok()) << file.status();
  std::set<int> odd;
  std::vector<std::string> fingerprints;
  for (const AuthorizedKey& k : file->keys()) {
    if (k.line % 2) odd.insert(k.line);
    fingerprints.push_back(k.fingerprint);
  }
  const std::string half = file->without(odd);
  const std::string krl = encodeKrl(fingerprints, 1, 2, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(half.size(), file->keys().size() / 2 * line.size());
  EXPECT_EQ(krl, encodeKrl({fingerprintOf("ssh-rsa")}, 1, 2, ""));  // all the same key
}

// ---- fingerprints -------------------------------------------------------------------------

TEST(FingerprintTest, MatchesKnownValueAndShape) {
  auto blob = crypto::unbase64(std::string(kEd25519Line).substr(12));
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(sha256Fingerprint(*blob), kEd25519Fingerprint);
  EXPECT_TRUE(validSshFingerprint(kEd25519Fingerprint));
  EXPECT_TRUE(validSshFingerprint(sha256Fingerprint("")));

  const std::string body = std::string(kEd25519Fingerprint).substr(7);
  EXPECT_FALSE(validSshFingerprint(body));
  EXPECT_FALSE(validSshFingerprint("sha256:" + body));
  EXPECT_FALSE(validSshFingerprint("MD5:" + body));
  EXPECT_FALSE(validSshFingerprint("SHA256:" + body + "="));
  EXPECT_FALSE(validSshFingerprint("SHA256:" + body.substr(1)));
  EXPECT_FALSE(validSshFingerprint("SHA256:" + body.substr(0, 42) + "B"));  // non-zero final bits
  EXPECT_FALSE(validSshFingerprint("SHA256:-" + body.substr(1)));
  EXPECT_FALSE(validSshFingerprint(""));
}

// ssh-keygen -l shows a certificate's fingerprint as that of the key it certifies, and a KRL
// revoking the key revokes its certificates.
TEST(FingerprintTest, CertificateHasItsKeysFingerprint) {
  const std::string cert = certBlob("sk-ssh-ed25519-cert-v01@openssh.com", 'q');
  const std::string plain = plainBlob("sk-ssh-ed25519@openssh.com", 'q');
  auto file =
      AuthorizedKeysFile::parse("sk-ssh-ed25519-cert-v01@openssh.com " + crypto::base64(cert) +
                                    "\nsk-ssh-ed25519@openssh.com " + crypto::base64(plain) + "\n",
                                "f");
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->keys().size(), 2u);
  EXPECT_EQ(file->keys()[0].blob, cert);
  EXPECT_EQ(file->keys()[0].fingerprint, sha256Fingerprint(plain));
  EXPECT_EQ(file->keys()[1].fingerprint, sha256Fingerprint(plain));
}

// The real peer: keys made by ssh-keygen, and lines built from them the way an attacker could
// write them, fingerprinted by ssh-keygen — which must print exactly our fingerprint.
TEST(FingerprintTest, MatchesSshKeygen) {
  REQUIRE_SSH_KEYGEN();
  testing::TempDir dir;
  const std::string ca = dir.file("ca");
  ASSERT_TRUE(makeKey(ca, {"-t", "ed25519"}));
  std::vector<std::string> lines;  // each checked alone
  std::string rsa_line;
  for (const std::vector<std::string>& spec :
       std::vector<std::vector<std::string>>{{"-t", "ed25519"},
                                             {"-t", "ecdsa", "-b", "256"},
                                             {"-t", "ecdsa", "-b", "384"},
                                             {"-t", "ecdsa", "-b", "521"},
                                             {"-t", "rsa", "-b", "2048"},
                                             {"-t", "dsa"}}) {
    const std::string key = dir.file("key-" + spec[1] + (spec.size() > 2 ? spec[3] : ""));
    if (!makeKey(key, spec)) {
      // OpenSSH 10 makes no DSA keys; every other type must be made.
      EXPECT_EQ(spec[1], "dsa") << "ssh-keygen could not make a key of type " << spec[1];
      continue;
    }
    const ToolResult signed_ =
        runTool({"ssh-keygen", "-q", "-s", ca, "-I", "test", "-n", "alice", key + ".pub"});
    ASSERT_EQ(signed_.exit_code, 0) << signed_.output;
    for (const std::string& pub : {key + ".pub", key + "-cert.pub"}) {
      std::string text = readFile(pub);
      ASSERT_FALSE(text.empty()) << pub;
      text.pop_back();  // the newline
      lines.push_back(text);
      if (spec[1] == "rsa" && pub.ends_with(".pub") && !pub.ends_with("-cert.pub")) {
        rsa_line = text;
      }
    }
  }
  ASSERT_FALSE(rsa_line.empty());
  // The RSA key rewritten: e and n with extra leading zero bytes, the blob's type name and the
  // line's as rsa-sha2-*.
  auto rsa_blob = crypto::unbase64(rsa_line.substr(8, rsa_line.find(' ', 8) - 8));
  ASSERT_TRUE(rsa_blob.ok());
  const std::vector<std::string> rsa = splitStrings(*rsa_blob);
  ASSERT_EQ(rsa.size(), 3u);
  const std::string e = rsa[1], n = rsa[2];
  auto b64 = [](const std::string& blob) { return crypto::base64(blob); };
  lines.push_back("ssh-rsa " +
                  b64(sshString("ssh-rsa") + sshString(std::string(5, '\0') + e) + sshString(n)) +
                  " padded e");
  lines.push_back("ssh-rsa " + b64(sshString("ssh-rsa") + sshString(std::string(2, '\0') + e) +
                                   sshString(std::string(2, '\0') + n)));
  lines.push_back("rsa-sha2-256 " + b64(*rsa_blob));
  lines.push_back("ssh-rsa " + b64(sshString("rsa-sha2-512") + sshString(e) + sshString(n)));
  lines.push_back("rsa-sha2-512 " +
                  b64(sshString(std::string("rsa-sha2-256\0", 13)) + sshString(e) + sshString(n)));
  // A modulus of exactly 1024 bits (sshd's least) and a zero exponent.
  lines.push_back("ssh-rsa " + b64(sshString("ssh-rsa") + sshString("") +
                                   mpint("\x80" + std::string(127, '\x01'))));
  // Hand-made keys of the types ssh-keygen cannot make without a security key.
  lines.push_back(keyLine("sk-ssh-ed25519@openssh.com", 'a'));
  lines.push_back(keyLine("sk-ecdsa-sha2-nistp256@openssh.com", 'b'));
  lines.push_back(keyLine("webauthn-sk-ecdsa-sha2-nistp256@openssh.com", 'b'));
  lines.push_back("ssh-ed25519 " +
                  b64(sshString(std::string("ssh-ed25519\0", 12)) + sshString(bytesOf('z', 32))));
  lines.push_back("sk-ecdsa-sha2-nistp256@openssh.com " +
                  b64(sshString("sk-ecdsa-sha2-nistp256@openssh.com") +
                      sshString(std::string("nistp256\0", 9)) + sshString(ecPoint(256, 9)) +
                      sshString(std::string("ssh:\0", 5))));
  lines.push_back(keyLine("ssh-dss", 'd'));
  // Options, CRLF and whitespace inside the base64.
  const std::string ed_line = keyLine("ssh-ed25519", 'w');
  lines.push_back("no-pty,from=\"10.0.0.0/8\" " + ed_line + " with options\r");
  lines.push_back(ed_line.substr(0, 20) + "\f" + ed_line.substr(20, 9) + "\v" + ed_line.substr(29));

  const std::string file = dir.file("one.pub");
  for (const std::string& text : lines) {
    auto parsed = AuthorizedKeysFile::parse(text + "\n", "one");
    ASSERT_TRUE(parsed.ok());
    ASSERT_EQ(parsed->keys().size(), 1u) << text << ": " << parsed->bad_lines().at(0).why;
    writeFile(file, text + "\n");
    const std::string expected = keygenFingerprint(file);
    EXPECT_EQ(parsed->keys()[0].fingerprint, expected) << text;
    EXPECT_TRUE(validSshFingerprint(expected)) << expected;
  }
  // As written by ssh-keygen: the key alone is the line without its comment.
  auto pub = AuthorizedKeysFile::parse(rsa_line + "\n", "rsa");
  ASSERT_TRUE(pub.ok() && pub->keys().size() == 1u);
  EXPECT_EQ(pub->keys()[0].comment, "made by test");
  EXPECT_EQ(pub->keys()[0].publicKey() + " made by test", rsa_line);
}

// The other half of the contract: what we report as a bad line, ssh-keygen (whose key reading
// is sshd's) does not take as a key either.
TEST(FingerprintTest, SshKeygenRefusesWhatWeReport) {
  REQUIRE_SSH_KEYGEN();
  testing::TempDir dir;
  const std::string pk = bytesOf('p', 32);
  const std::string p256 = ecPoint(256, 3);
  std::string off_curve = p256;
  off_curve.back() ^= 1;
  auto line = [](std::string_view type, std::string_view blob) {
    return std::string(type) + " " + crypto::base64(blob);
  };
  auto ecdsa = [](std::string_view curve, std::string_view point) {
    return sshString("ecdsa-sha2-nistp256") + sshString(curve) + sshString(point);
  };
  const std::string e = mpint(kExponent);
  const std::string bad[] = {
      line("ssh-ed25519", sshString("ssh-ed25519") + sshString(pk.substr(1))),
      line("ssh-ed25519", sshString("ssh-ed25519") + sshString(pk + "x")),
      line("ssh-ed25519", sshString("ssh-ed25519") + sshString(pk) + "x"),
      line("ssh-ed25519", sshString("ssh-ed25519") + sshString(pk) + sshString("")),
      line("ssh-ed25519", plainBlob("ssh-rsa")),
      line("sk-ssh-ed25519@openssh.com", sshString("sk-ssh-ed25519@openssh.com") + sshString(pk)),
      line("ecdsa-sha2-nistp256", ecdsa("nistp256", off_curve)),
      line("ecdsa-sha2-nistp256", ecdsa("nistp256", ecPoint(256, 3, true))),
      line("ecdsa-sha2-nistp256", ecdsa("nistp256", "\x04" + std::string(64, '\xff'))),
      line("ecdsa-sha2-nistp256", ecdsa("nistp384", p256)),
      line("ecdsa-sha2-nistp256", ecdsa(std::string("nist\0p256", 9), p256)),
      line("ecdsa-sha2-nistp384", plainBlob("ecdsa-sha2-nistp256")),
      line("ssh-rsa", sshString("ssh-rsa") + e + mpint("\x7f" + bytesOf('r', 127))),
      line("ssh-rsa", sshString("ssh-rsa") + sshString("\x81") + mpint("\xc1" + bytesOf('r', 255))),
      line("ssh-rsa",
           sshString("ssh-rsa") + e + mpint("\xc1" + bytesOf('r', 255)) + std::string(1, '\0')),
      "ssh-ed25519 " + crypto::base64(plainBlob("ssh-ed25519")).substr(0, 62),
  };
  const std::string file = dir.file("bad.pub");
  for (const std::string& text : bad) {
    auto parsed = AuthorizedKeysFile::parse(text + "\n", "bad");
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(parsed->keys().empty()) << text;
    EXPECT_EQ(parsed->bad_lines().size(), 1u) << text;
    writeFile(file, text + "\n");
    EXPECT_EQ(keygenFingerprint(file).rfind("refused: ", 0), 0u) << text;
  }
}

// ---- KRL ----------------------------------------------------------------------------------

std::string hashOf(const std::string& fingerprint) {
  auto raw = crypto::unbase64(fingerprint.substr(7) + "=");
  return raw.ok() ? *raw : "";
}

TEST(KrlTest, EncodesPROTOCOLkrl) {
  const std::string a = fingerprintOf("ssh-ed25519", 'a');
  const std::string b = fingerprintOf("ssh-rsa", 'b');
  const std::string c = fingerprintOf("ecdsa-sha2-nistp256", 'c');
  std::vector<std::string> hashes = {hashOf(a), hashOf(b), hashOf(c)};
  std::sort(hashes.begin(), hashes.end(), [](const std::string& x, const std::string& y) {
    return std::memcmp(x.data(), y.data(), 32) < 0;
  });
  std::string section;
  for (const std::string& h : hashes) section += sshString(h);
  const std::string header = std::string("SSHKRL\n\0", 8) + u32(1) + u64(7) + u64(1764600000) +
                             u64(0) + sshString("") + sshString("warden");
  // Unsorted, repeated and invalid fingerprints in: sorted and unique out, invalid ones skipped.
  const std::string krl =
      encodeKrl({c, a, "SHA256:nope", b, a, "MD5:x", c + "=", ""}, 7, 1764600000, "warden");
  EXPECT_EQ(krl, header + "\x05" + sshString(section));
  EXPECT_EQ(krl, encodeKrl({a, b, c}, 7, 1764600000, "warden"));
  // No fingerprints: no section (PROTOCOL.krl: a section holds at least one hash).
  const std::string empty = encodeKrl({"SHA256:nope"}, 7, 1764600000, "warden");
  EXPECT_EQ(empty, header);
  EXPECT_EQ(encodeKrl({}, 7, 1764600000, "warden"), header);
  // A NUL in the comment would make the KRL unreadable to sshd.
  EXPECT_EQ(encodeKrl({}, 1, 2, std::string("a\0b", 3)), std::string("SSHKRL\n\0", 8) + u32(1) +
                                                             u64(1) + u64(2) + u64(0) +
                                                             sshString("") + sshString("a b"));
}

// sshd's RevokedKeys reads the KRL through the same code as `ssh-keygen -Q`: a key whose
// fingerprint we wrote is REVOKED (exit 1), with its certificate and any rewriting of it;
// every other key is ok (exit 0); an empty KRL is read and revokes nothing.
TEST(KrlTest, SshKeygenReadsWhatWeWrite) {
  REQUIRE_SSH_KEYGEN();
  testing::TempDir dir;
  const std::string revoked = dir.file("revoked"), kept = dir.file("kept"), ca = dir.file("ca");
  ASSERT_TRUE(makeKey(revoked, {"-t", "rsa", "-b", "2048"}));
  ASSERT_TRUE(makeKey(kept, {"-t", "ed25519"}));
  ASSERT_TRUE(makeKey(ca, {"-t", "ed25519"}));
  ASSERT_EQ(
      runTool({"ssh-keygen", "-q", "-s", ca, "-I", "t", "-n", "x", revoked + ".pub"}).exit_code, 0);
  auto revoked_key = AuthorizedKeysFile::parse(readFile(revoked + ".pub"), "r");
  auto kept_key = AuthorizedKeysFile::parse(readFile(kept + ".pub"), "k");
  ASSERT_TRUE(revoked_key.ok() && revoked_key->keys().size() == 1u);
  ASSERT_TRUE(kept_key.ok() && kept_key->keys().size() == 1u);
  const std::string fingerprint = revoked_key->keys()[0].fingerprint;
  // The revoked RSA key as an attacker might rewrite it: e padded with zero bytes.
  const std::vector<std::string> rsa = splitStrings(revoked_key->keys()[0].blob);
  ASSERT_EQ(rsa.size(), 3u);
  const std::string padded = dir.file("padded.pub");
  writeFile(padded,
            "ssh-rsa " +
                crypto::base64(sshString("ssh-rsa") + sshString(std::string(3, '\0') + rsa[1]) +
                               sshString(rsa[2])) +
                " padded\n");
  auto padded_key = AuthorizedKeysFile::parse(readFile(padded), "p");
  ASSERT_TRUE(padded_key.ok() && padded_key->keys().size() == 1u);
  EXPECT_EQ(padded_key->keys()[0].fingerprint, fingerprint);

  const std::string krl = dir.file("krl");
  writeFile(krl, encodeKrl({fingerprint, "not a fingerprint"}, 3, 1764600000, "warden test"));
  for (const std::string& key : {revoked + ".pub", revoked + "-cert.pub", padded}) {
    const ToolResult r = runTool({"ssh-keygen", "-Q", "-f", krl, key});
    EXPECT_EQ(r.exit_code, 1) << key << ": " << r.output;
    EXPECT_NE(r.output.find(key), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(": REVOKED"), std::string::npos) << r.output;
  }
  const ToolResult ok = runTool({"ssh-keygen", "-Q", "-f", krl, kept + ".pub"});
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find(": ok"), std::string::npos) << ok.output;
  // Its listing: our header fields and the one hash (which ssh-keygen prints in hex).
  const ToolResult listing = runTool({"ssh-keygen", "-Q", "-l", "-f", krl});
  EXPECT_EQ(listing.exit_code, 0) << listing.output;
  EXPECT_NE(listing.output.find("# KRL version 3\n"), std::string::npos) << listing.output;
  EXPECT_NE(listing.output.find("# Comment: warden test\n"), std::string::npos) << listing.output;
  EXPECT_NE(listing.output.find("\nhash: SHA256:" + crypto::hex(hashOf(fingerprint)) + "\n"),
            std::string::npos)
      << listing.output;
  EXPECT_EQ(std::count(listing.output.begin(), listing.output.end(), ':'), 3) << listing.output;

  writeFile(krl, encodeKrl({}, 1, 1764600000, ""));
  for (const std::string& key : {revoked + ".pub", revoked + "-cert.pub", kept + ".pub"}) {
    const ToolResult r = runTool({"ssh-keygen", "-Q", "-f", krl, key});
    EXPECT_EQ(r.exit_code, 0) << key << ": " << r.output;
    EXPECT_NE(r.output.find(": ok"), std::string::npos) << r.output;
  }
}

// Byte for byte what `ssh-keygen -k` writes from "hash:" lines (its generated date is the
// clock's; ours is given).
TEST(KrlTest, SameBytesAsSshKeygen) {
  REQUIRE_SSH_KEYGEN();
  testing::TempDir dir;
  std::vector<std::string> fingerprints;
  std::string spec;
  for (char seed = 'a'; seed < 'a' + 12; ++seed) {
    fingerprints.push_back(fingerprintOf("ssh-ed25519", seed));
    spec += "hash: " + fingerprints.back() + "\n";
  }
  spec += "hash: " + fingerprints.front() + "\n";  // twice
  writeFile(dir.file("spec"), spec);
  const ToolResult r = runTool({"ssh-keygen", "-k", "-C", "warden test", "-z", "42", "-f",
                                dir.file("krl"), dir.file("spec")});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string theirs = readFile(dir.file("krl"));
  ASSERT_GE(theirs.size(), 28u);
  std::uint64_t generated = 0;
  for (int i = 20; i < 28; ++i)
    generated = (generated << 8) | static_cast<unsigned char>(theirs[i]);
  EXPECT_EQ(encodeKrl(fingerprints, 42, generated, "warden test"), theirs);
}

// ---- sshd_config --------------------------------------------------------------------------

TEST(SshdConfigTest, DefaultsWhenUnset) {
  auto s = parseSshdConfig("# nothing here\nPort 22\nPasswordAuthentication no\n", noIncludes());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->authorized_keys_files,
            (std::vector<std::string>{".ssh/authorized_keys", ".ssh/authorized_keys2"}));
  EXPECT_EQ(s->revoked_keys, "");
  EXPECT_FALSE(s->authorized_keys_command);
  EXPECT_FALSE(s->match_blocks);
  EXPECT_TRUE(s->match_authorized_keys_files.empty());
  EXPECT_FALSE(s->match_authorized_keys_command);
}

TEST(SshdConfigTest, FirstValueWinsKeywordsAnyCaseAndEquals) {
  auto s = parseSshdConfig(
      "  authorizedkeysfile  .ssh/authorized_keys \"/etc/ssh/keys/%u with space\" # comment\r\n"
      "AuthorizedKeysFile /ignored\n"
      "REVOKEDKEYS=/etc/ssh/revoked_keys /etc/ssh/more.krl\n"
      "RevokedKeys /ignored\n"
      "AuthorizedKeysCommand = /usr/bin/sss_ssh_authorizedkeys %u\n"
      "AuthorizedKeysCommand none\n"
      "AuthorizedKeysFile2 /not/a/keyword/we/read\n",
      noIncludes());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->authorized_keys_files,
            (std::vector<std::string>{".ssh/authorized_keys", "/etc/ssh/keys/%u with space"}));
  EXPECT_EQ(s->revoked_keys, "/etc/ssh/revoked_keys");
  EXPECT_TRUE(s->authorized_keys_command);
  EXPECT_FALSE(s->match_blocks);
}

TEST(SshdConfigTest, NoneClearsAndStaysFirst) {
  auto s = parseSshdConfig(
      "AuthorizedKeysFile none\nAuthorizedKeysFile .ssh/x\nRevokedKeys NONE\nRevokedKeys /r\n"
      "AuthorizedKeysCommand none\nAuthorizedKeysCommand /bin/keys\n",
      noIncludes());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->authorized_keys_files.empty());
  EXPECT_EQ(s->revoked_keys, "");
  EXPECT_FALSE(s->authorized_keys_command);
}

// strdelim(): the keyword may be quoted, or follow a stray delimiter; a keyword whose quote is
// left open makes sshd skip the line.
TEST(SshdConfigTest, KeywordsAsStrdelimReadsThem) {
  auto s = parseSshdConfig(
      "\"AuthorizedKeysFile\" /etc/ssh/quoted/%u\n"
      "\"RevokedKeys\"=/not/a/path/sshd/would/take\n"
      "Authorized\"KeysCommand\" /bin/half-quoted\n",
      noIncludes());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->authorized_keys_files, std::vector<std::string>{"/etc/ssh/quoted/%u"});
  EXPECT_EQ(s->revoked_keys, "=/not/a/path/sshd/would/take");  // '=' is not skipped after quotes
  EXPECT_TRUE(s->authorized_keys_command);

  auto skipped = parseSshdConfig(
      "\"AuthorizedKeysFile /never\n"
      "=AuthorizedKeysFile=/after/equals\n",
      noIncludes());
  ASSERT_TRUE(skipped.ok()) << skipped.status();
  EXPECT_EQ(skipped->authorized_keys_files, std::vector<std::string>{"/after/equals"});

  auto tabs = parseSshdConfig(" \t\rAuthorizedKeysFile\t=\t/tab/keys \t\f\n", noIncludes());
  ASSERT_TRUE(tabs.ok()) << tabs.status();
  EXPECT_EQ(tabs->authorized_keys_files, std::vector<std::string>{"/tab/keys"});
}

// A Match block holds until the next Match or the end of the file it began in; its key files
// are searched too, and its AuthorizedKeysCommand is reported. The global settings are the
// first outside any Match block.
TEST(SshdConfigTest, MatchBlocksAddTheirKeyFiles) {
  auto s = parseSshdConfig(
      "RevokedKeys /etc/ssh/revoked\n"
      "Match User alice\n"
      "  AuthorizedKeysFile /etc/ssh/alice_keys .ssh/authorized_keys\n"
      "  Include alice.conf\n"
      "  RevokedKeys /etc/ssh/alice_revoked\n"
      "Match all\n"
      "  AuthorizedKeysFile none\n"
      "  AuthorizedKeysFile /etc/ssh/alice_keys\n"
      "AuthorizedKeysCommand /bin/keys\n"
      "AuthorizedKeysFile /still/in/the/match/block\n",
      includesFrom({{"alice.conf", {"AuthorizedKeysFile %h/.ssh/alice_extra\n"}}}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->match_blocks);
  EXPECT_EQ(s->revoked_keys, "/etc/ssh/revoked");
  EXPECT_EQ(s->authorized_keys_files.size(), 2u);  // the default
  EXPECT_FALSE(s->authorized_keys_command);
  EXPECT_TRUE(s->match_authorized_keys_command);
  EXPECT_EQ(s->match_authorized_keys_files,
            (std::vector<std::string>{"/etc/ssh/alice_keys", ".ssh/authorized_keys",
                                      "%h/.ssh/alice_extra", "/still/in/the/match/block"}));
}

TEST(SshdConfigTest, MatchInAnIncludedFileEndsWithIt) {
  // Debian's layout: sshd_config.d first, so a drop-in's setting wins over the main file's; a
  // drop-in ending in a Match block does not take the rest of the main file into it.
  auto s = parseSshdConfig(
      "Include /etc/ssh/sshd_config.d/*.conf\n"
      "AuthorizedKeysFile .ssh/authorized_keys\n"
      "AuthorizedKeysCommand /bin/k\n"
      "Include extra.conf\n"
      "RevokedKeys /etc/ssh/late\n",
      includesFrom(
          {{"/etc/ssh/sshd_config.d/*.conf",
            {"# 10-match.conf\nMatch Group admins\n  AuthorizedKeysFile /etc/ssh/admin/%u\n",
             "# 20-keys.conf\nInclude \"nested one.conf\"\n"}},
           {"nested one.conf",
            {"Match User bob\nAuthorizedKeysCommand /bin/bob\n", "AuthorizedKeysFile /first/%u\n"}},
           {"extra.conf", {"RevokedKeys /etc/ssh/revoked\nMatch Address 10.0.0.0/8\n"}}}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->authorized_keys_files, std::vector<std::string>{"/first/%u"});
  EXPECT_TRUE(s->authorized_keys_command);
  EXPECT_EQ(s->revoked_keys, "/etc/ssh/revoked");
  EXPECT_TRUE(s->match_blocks);
  EXPECT_EQ(s->match_authorized_keys_files, std::vector<std::string>{"/etc/ssh/admin/%u"});
  EXPECT_TRUE(s->match_authorized_keys_command);
}

TEST(SshdConfigTest, IncludeDepthIsBoundedAsInSshd) {
  auto chain = [](int levels) {
    return [levels](std::string_view pattern) -> absl::StatusOr<std::vector<std::string>> {
      const int n = std::stoi(std::string(pattern.substr(6)));  // "level-N"
      if (n < levels) return std::vector<std::string>{"Include level-" + std::to_string(n + 1)};
      return std::vector<std::string>{"RevokedKeys /deep\n"};
    };
  };
  auto deepest = parseSshdConfig("Include level-1\n", chain(16));
  ASSERT_TRUE(deepest.ok()) << deepest.status();
  EXPECT_EQ(deepest->revoked_keys, "/deep");
  auto too_deep = parseSshdConfig("Include level-1\n", chain(17));
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_deep.status().message().find("Include nested too deeply"), absl::string_view::npos);

  const std::string loop = "Port 22\nInclude self\nInclude self\nInclude self\n";
  auto self = parseSshdConfig(loop, [&](std::string_view) {
    return absl::StatusOr<std::vector<std::string>>(std::vector<std::string>{loop, loop});
  });
  ASSERT_FALSE(self.ok());
  EXPECT_NE(self.status().message().find("Include nested too deeply"), absl::string_view::npos);
}

TEST(SshdConfigTest, IncludeReaderErrorsAreKept) {
  auto s = parseSshdConfig("\nMatch all\nInclude /etc/ssh/d/*\n", [](std::string_view) {
    return absl::StatusOr<std::vector<std::string>>(absl::PermissionDeniedError("no access"));
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("sshd_config line 3: Include '/etc/ssh/d/*': no access"),
            absl::string_view::npos)
      << s.status();
}

TEST(SshdConfigTest, RefusesBadKeySettings) {
  const struct {
    std::string content;
    std::string why;
  } cases[] = {
      {"AuthorizedKeysFile \"/etc/ssh/keys\n", "line 1: AuthorizedKeysFile: unterminated quote"},
      {"Port 22\nAuthorizedKeysFile\n", "line 2: AuthorizedKeysFile: no argument"},
      {"AuthorizedKeysFile /k/%n\n", "unknown %-token"},
      {"AuthorizedKeysFile /k/%\n", "unknown %-token"},
      {"Match all\nAuthorizedKeysFile /k/%C\n", "line 2: AuthorizedKeysFile: unknown %-token"},
      {"AuthorizedKeysFile \"\"\n", "empty argument"},
      {"AuthorizedKeysFile .ssh/a none\n", "must appear alone"},
      {"AuthorizedKeysFile none .ssh/a\n", "must appear alone"},
      {"RevokedKeys none /a\n", "must appear alone"},
      {"RevokedKeys 'a\n", "unterminated quote"},
      {"Match user x\n  AuthorizedKeysCommand \"/bin/k\n", "unterminated quote"},
      {"Include\n", "Include: no argument"},
      {std::string("Port 22\0\n", 9), "NUL byte"},
      {std::string(kMaxKeyFileBytes + 1, '#'), "larger than"},
  };
  for (const auto& c : cases) {
    auto s = parseSshdConfig(c.content, noIncludes());
    ASSERT_FALSE(s.ok()) << c.content;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find(c.why), absl::string_view::npos)
        << s.status() << " for " << c.why;
  }
  // Quotes that do not matter to key settings do not matter here either.
  EXPECT_TRUE(parseSshdConfig("Banner \"/etc/issue\n", noIncludes()).ok());
}

// ---- AuthorizedKeysFile expansion ---------------------------------------------------------

TEST(ExpandKeysPathTest, ExpandsTokensAnchorsAtHomeAndCleans) {
  auto expand = [](std::string_view pattern, std::string_view home = "/home/alice",
                   std::string_view user = "alice") {
    auto path = expandKeysPath(pattern, user, home, 1001);
    return path.ok() ? *path : "error: " + std::string(path.status().message());
  };
  EXPECT_EQ(expand(".ssh/authorized_keys"), "/home/alice/.ssh/authorized_keys");
  EXPECT_EQ(expand("%h/.ssh/authorized_keys2"), "/home/alice/.ssh/authorized_keys2");
  EXPECT_EQ(expand("/etc/ssh/keys/%u"), "/etc/ssh/keys/alice");
  EXPECT_EQ(expand("/etc/ssh/keys/%U.%%"), "/etc/ssh/keys/1001.%");
  EXPECT_EQ(expand("keys/%u", "/"), "/keys/alice");
  EXPECT_EQ(expand("keys", "/home/alice/"), "/home/alice/keys");
  // What the kernel resolves the same way: "//", "/./", a trailing '/'.
  EXPECT_EQ(expand("%h//.ssh//authorized_keys"), "/home/alice/.ssh/authorized_keys");
  EXPECT_EQ(expand("%h/.ssh/k", "/"), "/.ssh/k");
  EXPECT_EQ(expand("/etc//keys"), "/etc/keys");
  EXPECT_EQ(expand("/etc/keys/"), "/etc/keys");
  EXPECT_EQ(expand("/etc/./keys/."), "/etc/keys");
  EXPECT_EQ(expand("%h/"), "/home/alice");
  EXPECT_EQ(expand("%h", "/"), "/");
  EXPECT_EQ(expand("./k", "/home/./alice//"), "/home/alice/k");
  EXPECT_EQ(expand("/keys/%u", "/home/x", ""), "/keys");

  for (const char* bad : {"/etc/ssh/../shadow", "%h/../bob/.ssh/authorized_keys", "/k/%n", "/k/%",
                          "~/.ssh/authorized_keys", "~alice/keys", "", "/a/.."}) {
    EXPECT_EQ(expand(bad).rfind("error: ", 0), 0u) << bad << " -> " << expand(bad);
  }
  EXPECT_NE(expand("/keys/%u", "/home/x", "../root").find("'..'"), std::string::npos);
  EXPECT_NE(expand(".ssh/k", "relative/home").find("not an absolute path"), std::string::npos);
  EXPECT_NE(expand("/%h", std::string(5000, 'a')).find("longer than 4096"), std::string::npos);
  // The bound is on the path sshd would open, before cleaning.
  EXPECT_NE(expand("/" + std::string(4096, '/') + "k").find("longer than"), std::string::npos);
  EXPECT_EQ(expand("/" + std::string(4094, '/') + "k"), "/k");
  EXPECT_EQ(expand(std::string(std::string("/ke\0y", 5))).rfind("error: ", 0), 0u);
}

}  // namespace
}  // namespace warden
