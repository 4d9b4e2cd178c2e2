// authorized_keys, RevokedKeys and sshd_config parsing without privileges: strict key lines
// (options, quotes, types, blobs), byte-exact edits, fingerprints as ssh-keygen prints them,
// sshd_config's first-value-wins, Include and Match rules, and AuthorizedKeysFile expansion.
#include <gtest/gtest.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "agent/actions/authorized_keys.h"
#include "common/crypto/encoding.h"

namespace warden {
namespace {

// SSH wire string (RFC 4251 §5).
std::string sshString(std::string_view bytes) {
  const std::uint32_t n = static_cast<std::uint32_t>(bytes.size());
  std::string out{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                  static_cast<char>(n)};
  return out + std::string(bytes);
}

// A blob that starts as a real key of `type` does; then filler strings, enough for any type's
// key fields (and a certificate's nonce before them).
std::string blobOf(std::string_view type, char fill = 'k', std::size_t n = 32) {
  std::string blob = sshString(type);
  for (int i = 0; i < 5; ++i) blob += sshString(std::string(n, fill));
  return blob;
}

std::string keyLine(std::string_view type, char fill = 'k') {
  return std::string(type) + " " + crypto::base64(blobOf(type, fill));
}

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
  EXPECT_EQ(keys[1].blob, blobOf("ssh-rsa", 'r'));
  EXPECT_EQ(keys[1].comment, "backup key");

  EXPECT_EQ(keys[2].line, 7);
  EXPECT_EQ(keys[2].type, "ecdsa-sha2-nistp256");
  EXPECT_EQ(keys[2].comment, "");

  EXPECT_EQ(keys[3].line, 8);
  EXPECT_EQ(keys[3].options, "cert-authority");
  EXPECT_EQ(keys[3].type, "ssh-ed25519-cert-v01@openssh.com");
  EXPECT_EQ(keys[3].comment, "ca");
  for (const AuthorizedKey& k : keys) EXPECT_TRUE(validSshFingerprint(k.fingerprint)) << k.line;
}

TEST(AuthorizedKeysFileTest, AcceptsEmptyAndCommentOnlyFiles) {
  for (const char* ok : {"", "\n", "# nothing\n", "# no newline", "\n\n\t \n"}) {
    auto file = AuthorizedKeysFile::parse(ok, "f");
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_TRUE(file->keys().empty());
    EXPECT_EQ(file->without({}), ok);
  }
}

TEST(AuthorizedKeysFileTest, AcceptsEveryKnownType) {
  for (const char* type :
       {"ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "ssh-ed25519", "sk-ecdsa-sha2-nistp256@openssh.com", "sk-ssh-ed25519@openssh.com",
        "ssh-rsa-cert-v01@openssh.com", "ssh-dss-cert-v01@openssh.com",
        "ecdsa-sha2-nistp256-cert-v01@openssh.com", "ecdsa-sha2-nistp384-cert-v01@openssh.com",
        "ecdsa-sha2-nistp521-cert-v01@openssh.com", "ssh-ed25519-cert-v01@openssh.com",
        "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com", "sk-ssh-ed25519-cert-v01@openssh.com"}) {
    EXPECT_TRUE(knownKeyType(type)) << type;
    auto file = AuthorizedKeysFile::parse(keyLine(type) + "\n", "f");
    ASSERT_TRUE(file.ok()) << type << ": " << file.status();
    EXPECT_EQ(file->keys().at(0).type, type);
  }
  for (const char* type : {"", "ssh-ed448", "SSH-RSA", "rsa-sha2-256", "ssh-ed25519 "}) {
    EXPECT_FALSE(knownKeyType(type)) << type;
  }
}

TEST(AuthorizedKeysFileTest, RefusesWhatDoesNotParse) {
  const std::string ed = crypto::base64(blobOf("ssh-ed25519"));
  const std::string padded = crypto::base64(blobOf("ssh-ed25519", 'k', 31));  // ends "=="
  const std::string unpadded = padded.substr(0, padded.find('='));
  const struct {
    std::string content;
    std::string why;
  } cases[] = {
      {"ssh-ed448 " + ed + "\n", "unknown key type 'AAAA"},  // first word taken as options
      {"no-pty ssh-ed448 " + ed + "\n", "unknown key type 'ssh-ed448'"},
      {"command=\"ls " + keyLine("ssh-ed25519") + "\n", "unterminated quote"},
      {"command=\"ls\\\" " + keyLine("ssh-ed25519") + "\n", "unterminated quote"},
      {"no-pty\n", "no key type after the options"},
      {"ssh-ed25519\n", "no key data"},
      {"ssh-ed25519   \n", "no key data"},
      {"ssh-ed25519 " + unpadded + "\n", "not valid base64"},
      {"ssh-ed25519 " + ed.substr(0, 10) + "*" + ed.substr(11) + "\n", "not valid base64"},
      {"ssh-ed25519 " + crypto::base64(blobOf("ssh-rsa")) + "\n", "not a 'ssh-ed25519' key"},
      {"ssh-ed25519 " + crypto::base64(std::string("\0\0\1\0ssh-ed25519", 15)) + "\n", "not a"},
      {"ssh-ed25519 " + crypto::base64("ab") + "\n", "not a 'ssh-ed25519' key"},
      {"ssh-dss-cert-v01@openssh.com " +
           crypto::base64(sshString("ssh-dss-cert-v01@openssh.com") + sshString("nonce") +
                          sshString("p") + sshString("q") + sshString("g")) +
           "\n",
       "certificate without its public key"},
      {keyLine("ssh-ed25519") + "\r\n", "CR byte"},
      {keyLine("ssh-ed25519") + std::string(" a\0b\n", 5), "NUL byte"},
      {keyLine("ssh-ed25519") + " " + std::string(kMaxKeyLineBytes, 'c') + "\n", "longer than"},
  };
  for (const auto& c : cases) {
    auto file = AuthorizedKeysFile::parse(c.content, "/home/eve/.ssh/authorized_keys");
    ASSERT_FALSE(file.ok()) << c.content;
    EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(file.status().message().find("/home/eve/.ssh/authorized_keys line 1: "),
              absl::string_view::npos)
        << file.status();
    EXPECT_NE(file.status().message().find(c.why), absl::string_view::npos)
        << file.status() << " for " << c.why;
  }
  auto huge = AuthorizedKeysFile::parse(std::string(kMaxKeyFileBytes + 1, '#'), "big");
  EXPECT_FALSE(huge.ok());
}

TEST(AuthorizedKeysFileTest, ErrorsQuoteAttackerTextEscapedAndShort) {
  const std::string evil = "\x1b]0;owned\x07" + std::string(200, 'x');
  auto file =
      AuthorizedKeysFile::parse("# ok\n" + keyLine("ssh-ed25519") + "\nopt " + evil + " AAAA\n",
                                "/home/eve/.ssh/authorized_keys");
  ASSERT_FALSE(file.ok());
  const std::string message(file.status().message());
  EXPECT_NE(message.find("line 3: unknown key type '\\x1b]0;owned\\x07"), std::string::npos)
      << message;
  EXPECT_EQ(message.find('\x1b'), std::string::npos);
  EXPECT_EQ(message.find('\x07'), std::string::npos);
  EXPECT_LT(message.size(), 120u);
}

TEST(AuthorizedKeysFileTest, WithoutRemovesOnlyTheGivenLinesByteForByte) {
  const std::string a = keyLine("ssh-ed25519", 'a');
  const std::string b = keyLine("ssh-rsa", 'b');
  const std::string c = keyLine("ecdsa-sha2-nistp384", 'c');
  auto file =
      AuthorizedKeysFile::parse("# head\n" + a + "  one \n\n" + b + "\n" + c + " last", "f");
  ASSERT_TRUE(file.ok()) << file.status();
  const std::string text = file->without({});
  EXPECT_EQ(text, "# head\n" + a + "  one \n\n" + b + "\n" + c + " last");
  EXPECT_EQ(file->without({2}), "# head\n\n" + b + "\n" + c + " last");
  EXPECT_EQ(file->without({4, 5}), "# head\n" + a + "  one \n\n");
  EXPECT_EQ(file->without({5}), "# head\n" + a + "  one \n\n" + b + "\n");
  EXPECT_EQ(file->without({0, -1, 6, 1000}), text);
  EXPECT_EQ(file->without({1, 2, 3, 4, 5}), "");

  auto rest = AuthorizedKeysFile::parse(file->without({2, 5}), "f");
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->keys().size(), 1u);
  EXPECT_EQ(rest->keys()[0].blob, blobOf("ssh-rsa", 'b'));
  EXPECT_EQ(rest->keys()[0].line, 3);
}

TEST(AuthorizedKeysFileTest, OneMebibyteParsesAndEditsInLinearTime) {
  std::string content;
  const std::string line = "no-pty,from=\"10.0.0.0/8\" " + keyLine("ssh-ed25519") + " k\n";
  while (content.size() + line.size() <= kMaxKeyFileBytes) content += line;
  const auto start = std::chrono::steady_clock::now();
  auto file = AuthorizedKeysFile::parse(content, "f");
  ASSERT_TRUE(file.ok()) << file.status();
  std::set<int> odd;
  for (const AuthorizedKey& k : file->keys()) {
    if (k.line % 2) odd.insert(k.line);
  }
  const std::string half = file->without(odd);
  auto revoked = RevokedKeysFile::parse(keyLine("ssh-rsa") + "\n", "r");
  ASSERT_TRUE(revoked.ok());
  const std::string more = revoked->with(file->keys(), "x");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(half.size(), file->keys().size() / 2 * line.size());
  EXPECT_EQ(std::count(more.begin(), more.end(), '\n'), 2);  // all keys are the same key
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

// ssh-keygen -l shows a certificate's fingerprint as that of the key it certifies; RevokedKeys
// matches a certificate and its key alike.
TEST(FingerprintTest, CertificateHasItsKeysFingerprint) {
  const std::string pk(32, 'p');
  const std::string plain =
      sshString("sk-ssh-ed25519@openssh.com") + sshString(pk) + sshString("ssh:");
  const std::string cert = sshString("sk-ssh-ed25519-cert-v01@openssh.com") + sshString("nonce") +
                           sshString(pk) + sshString("ssh:") + std::string(8, '\0') +
                           sshString("key id");
  auto file =
      AuthorizedKeysFile::parse("sk-ssh-ed25519-cert-v01@openssh.com " + crypto::base64(cert) +
                                    "\nsk-ssh-ed25519@openssh.com " + crypto::base64(plain) + "\n",
                                "f");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->keys()[0].blob, cert);
  EXPECT_EQ(file->keys()[0].fingerprint, sha256Fingerprint(plain));
  EXPECT_EQ(file->keys()[1].fingerprint, sha256Fingerprint(plain));
}

// Runs a shell command, returning its stdout; "" when it fails.
std::string run(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[512];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  return ::pclose(pipe) == 0 ? out : "";
}

// The real peer: keys made by ssh-keygen, fingerprinted by ssh-keygen.
TEST(FingerprintTest, MatchesSshKeygen) {
  if (run("command -v ssh-keygen").empty()) GTEST_SKIP() << "ssh-keygen is not installed";
  std::string dir = (std::filesystem::temp_directory_path() / "warden-keys-XXXXXX").string();
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const std::string ca = dir + "/ca";
  ASSERT_FALSE(run("ssh-keygen -q -t ed25519 -N '' -f " + ca +
                   " </dev/null >/dev/null 2>&1 && "
                   "echo ok")
                   .empty());
  for (const char* spec : {"ed25519", "ecdsa -b 384", "rsa -b 2048"}) {
    const std::string key = dir + "/key";
    for (const char* suffix : {"", ".pub", "-cert.pub"}) std::filesystem::remove(key + suffix);
    ASSERT_FALSE(run("ssh-keygen -q -t " + std::string(spec) + " -N '' -C 'made by test' -f " +
                     key + " </dev/null >/dev/null 2>&1 && ssh-keygen -q -s " + ca +
                     " -I test -n alice " + key + ".pub >/dev/null 2>&1 && echo ok")
                     .empty())
        << spec;
    for (const std::string& pub_file : {key + ".pub", key + "-cert.pub"}) {
      // "256 SHA256:... made by test (ED25519)"
      const std::string listed = run("ssh-keygen -lf " + pub_file);
      const std::size_t from = listed.find(' ') + 1;
      const std::string expected = listed.substr(from, listed.find(' ', from) - from);

      std::ifstream in(pub_file);
      const std::string pub((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      auto file = AuthorizedKeysFile::parse(pub, pub_file);
      ASSERT_TRUE(file.ok()) << file.status();
      ASSERT_EQ(file->keys().size(), 1u);
      EXPECT_EQ(file->keys()[0].fingerprint, expected) << pub_file << " " << spec;
      EXPECT_TRUE(validSshFingerprint(expected)) << expected;
      EXPECT_EQ(file->keys()[0].comment, "made by test");
      EXPECT_EQ(file->keys()[0].publicKey() + " made by test\n", pub);
    }
  }
  std::filesystem::remove_all(dir);
}

// ---- RevokedKeys --------------------------------------------------------------------------

TEST(RevokedKeysFileTest, ContainsWithAndWithout) {
  const std::string a = keyLine("ssh-ed25519", 'a');
  const std::string b = keyLine("ssh-rsa", 'b');
  auto revoked = RevokedKeysFile::parse("# revoked\n" + a + " old laptop", "/etc/ssh/revoked");
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  const std::string fa = sha256Fingerprint(blobOf("ssh-ed25519", 'a'));
  const std::string fb = sha256Fingerprint(blobOf("ssh-rsa", 'b'));
  EXPECT_TRUE(revoked->contains(fa));
  EXPECT_FALSE(revoked->contains(fb));

  auto keys = AuthorizedKeysFile::parse("no-pty " + b + " mallory\n" + a + "\n" + b + "\n", "f");
  ASSERT_TRUE(keys.ok());
  const std::string added = revoked->with(keys->keys(), "warden action a-1\nx");
  // The missing newline first; a once; b once, without its options and comment.
  EXPECT_EQ(added, "# revoked\n" + a + " old laptop\n" + b + " warden action a-1 x\n");
  auto again = RevokedKeysFile::parse(added, "/etc/ssh/revoked");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->contains(fa));
  EXPECT_TRUE(again->contains(fb));
  EXPECT_EQ(again->with(keys->keys(), "again"), added);
  EXPECT_EQ(again->without({fb}), "# revoked\n" + a + " old laptop\n");
  EXPECT_EQ(again->without({fa, fb, "SHA256:other"}), "# revoked\n");
  EXPECT_EQ(again->without({}), added);

  auto empty = RevokedKeysFile::parse("", "r");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->with(keys->keys(), ""), b + "\n" + a + "\n");
}

TEST(RevokedKeysFileTest, RefusesOptions) {
  auto revoked = RevokedKeysFile::parse(keyLine("ssh-rsa") + "\nno-pty " + keyLine("ssh-rsa"),
                                        "/etc/ssh/revoked");
  ASSERT_FALSE(revoked.ok());
  EXPECT_NE(revoked.status().message().find("/etc/ssh/revoked line 2: options"),
            absl::string_view::npos)
      << revoked.status();
  EXPECT_FALSE(RevokedKeysFile::parse("ssh-rsa AAAA!\n", "r").ok());
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
}

TEST(SshdConfigTest, FirstValueWinsKeywordsAnyCaseAndEquals) {
  auto s = parseSshdConfig(
      "  authorizedkeysfile  .ssh/authorized_keys \"/etc/ssh/keys/%u with space\" # comment\r\n"
      "AuthorizedKeysFile /ignored\n"
      "REVOKEDKEYS=/etc/ssh/revoked_keys\n"
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

TEST(SshdConfigTest, MatchEndsWhatIsRead) {
  auto s = parseSshdConfig(
      "RevokedKeys /etc/ssh/revoked\n"
      "Match User alice\n"
      "  AuthorizedKeysFile /etc/ssh/alice_keys\n"
      "  Include /never/read\n"
      "Match all\n"
      "AuthorizedKeysCommand /bin/keys\n",
      [](std::string_view) -> absl::StatusOr<std::vector<std::string>> {
        return absl::InternalError("Include after Match was followed");
      });
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->match_blocks);
  EXPECT_EQ(s->revoked_keys, "/etc/ssh/revoked");
  EXPECT_EQ(s->authorized_keys_files.size(), 2u);  // the default
  EXPECT_FALSE(s->authorized_keys_command);
}

TEST(SshdConfigTest, IncludeIsReadInPlace) {
  // Debian's layout: sshd_config.d first, so a drop-in's setting wins over the main file's.
  auto s = parseSshdConfig(
      "Include /etc/ssh/sshd_config.d/*.conf\n"
      "AuthorizedKeysFile .ssh/authorized_keys\n"
      "Include extra.conf\n",
      includesFrom({{"/etc/ssh/sshd_config.d/*.conf",
                     {"# 10-keys.conf\nAuthorizedKeysFile /etc/ssh/keys/%u\n",
                      "# 20-revoked.conf\nInclude \"nested one.conf\"\n"}},
                    {"nested one.conf", {"RevokedKeys /etc/ssh/revoked\n"}},
                    {"extra.conf", {"AuthorizedKeysCommand /bin/k\nMatch Group admins\n"}}}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->authorized_keys_files, std::vector<std::string>{"/etc/ssh/keys/%u"});
  EXPECT_EQ(s->revoked_keys, "/etc/ssh/revoked");
  EXPECT_TRUE(s->authorized_keys_command);
  EXPECT_TRUE(s->match_blocks);
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
  auto s = parseSshdConfig("\nInclude /etc/ssh/d/*\n", [](std::string_view) {
    return absl::StatusOr<std::vector<std::string>>(absl::PermissionDeniedError("no access"));
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.status().message().find("sshd_config line 2: Include '/etc/ssh/d/*': no access"),
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
      {"AuthorizedKeysFile \"\"\n", "empty argument"},
      {"AuthorizedKeysFile .ssh/a none\n", "must appear alone"},
      {"AuthorizedKeysFile none .ssh/a\n", "must appear alone"},
      {"RevokedKeys /a /b\n", "extra arguments"},
      {"RevokedKeys 'a\n", "unterminated quote"},
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

TEST(ExpandKeysPathTest, ExpandsTokensAndAnchorsAtHome) {
  auto expand = [](std::string_view pattern, std::string_view home = "/home/alice") {
    auto path = expandKeysPath(pattern, "alice", home, 1001);
    return path.ok() ? *path : "error: " + std::string(path.status().message());
  };
  EXPECT_EQ(expand(".ssh/authorized_keys"), "/home/alice/.ssh/authorized_keys");
  EXPECT_EQ(expand("%h/.ssh/authorized_keys2"), "/home/alice/.ssh/authorized_keys2");
  EXPECT_EQ(expand("/etc/ssh/keys/%u"), "/etc/ssh/keys/alice");
  EXPECT_EQ(expand("/etc/ssh/keys/%U.%%"), "/etc/ssh/keys/1001.%");
  EXPECT_EQ(expand("keys/%u", "/"), "/keys/alice");
  EXPECT_EQ(expand("keys", "/home/alice/"), "/home/alice/keys");

  for (const char* bad :
       {"/etc/ssh/../shadow", "%h/../bob/.ssh/authorized_keys", "/etc//keys", "/etc/keys/",
        "/etc/./keys", "/k/%n", "/k/%", "~/.ssh/authorized_keys", "%h/", ""}) {
    EXPECT_EQ(expand(bad).rfind("error: ", 0), 0u) << bad << " -> " << expand(bad);
  }
  EXPECT_FALSE(expandKeysPath(".ssh/k", "alice", "relative/home", 1).ok());
  EXPECT_FALSE(expandKeysPath("%h/.ssh/k", "alice", "/", 1).ok());  // "//.ssh/k"
  EXPECT_FALSE(expandKeysPath("/keys/%u", "../root", "/home/x", 1).ok());
  EXPECT_FALSE(expandKeysPath("/keys/%u", "", "/home/x", 1).ok());
  EXPECT_FALSE(expandKeysPath("/%h", std::string(5000, 'a'), std::string(5000, 'a'), 1).ok());
}

}  // namespace
}  // namespace warden
