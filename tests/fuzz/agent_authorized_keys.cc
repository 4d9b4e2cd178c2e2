// AuthorizedKeysFile::parse, encodeKrl, parseSshdConfig and expandKeysPath: the key files an
// account's owner (on a compromised host, the attacker) writes, the KRL Warden writes from what
// it found, and sshd's settings that say where the key files are. A file either fails for its
// size or a NUL byte, or parses: it gives itself back byte for byte; every line that is not
// blank or a comment is exactly one key or one bad line; without some of its lines it holds
// exactly its other keys and bad lines; every key has a well-formed fingerprint that is the
// SHA-256 of its canonical plain blob (itself canonical: parsing it again changes nothing) and
// re-parses from its public form. A KRL starts with the header, holds one section of sorted,
// unique 32-byte hashes of exactly the valid fingerprints given (none: no section), its lengths
// add up, and the same set in any order gives the same bytes. sshd_config with an Include that
// reads itself ends (depth limit); an expanded keys path is absolute and clean. The input is
// also cut at its first NUL: a keys-path pattern and a home directory, or an sshd_config and
// the text its Includes read.
#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "agent/actions/authorized_keys.h"
#include "agent/actions/ssh_key_blob.h"
#include "common/crypto/encoding.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace warden;

bool sameKeyIgnoringLine(const AuthorizedKey& a, const AuthorizedKey& b) {
  return a.options == b.options && a.type == b.type && a.blob == b.blob && a.comment == b.comment &&
         a.fingerprint == b.fingerprint;
}

bool cleanAbsolute(const std::string& path) {
  if (path == "/") return true;
  if (path.empty() || path.front() != '/' || path.back() == '/' || path.size() > 4096) {
    return false;
  }
  if (path.find("//") != std::string::npos || path.find('\0') != std::string::npos) return false;
  return (path + "/").find("/../") == std::string::npos &&
         (path + "/").find("/./") == std::string::npos;
}

// Which lines of `text` parse() must account for: not blank, not a comment.
std::set<int> contentLines(std::string_view text) {
  std::set<int> lines;
  int number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    while (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (!line.empty() && line.front() != '#') lines.insert(number);
  }
  return lines;
}

std::uint64_t readUint(std::string_view& in, int bytes) {
  FUZZ_CHECK(in.size() >= static_cast<std::size_t>(bytes));
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  in.remove_prefix(bytes);
  return v;
}

std::string_view readString(std::string_view& in) {
  const std::size_t n = readUint(in, 4);
  FUZZ_CHECK(n <= in.size());
  const std::string_view out = in.substr(0, n);
  in.remove_prefix(n);
  return out;
}

// The KRL of `fingerprints`, checked against PROTOCOL.krl and against itself.
void checkKrl(const std::vector<std::string>& fingerprints, std::string_view comment) {
  const std::string krl = encodeKrl(fingerprints, 7, 1764600000, comment);
  std::vector<std::string> reversed(fingerprints.rbegin(), fingerprints.rend());
  FUZZ_CHECK(encodeKrl(reversed, 7, 1764600000, comment) == krl);
  std::set<std::string> hashes;
  for (const std::string& fingerprint : fingerprints) {
    if (!validSshFingerprint(fingerprint)) continue;
    auto hash = crypto::unbase64(fingerprint.substr(7) + "=");
    FUZZ_CHECK(hash.ok() && hash->size() == 32);
    hashes.insert(*hash);
  }
  std::string_view in = krl;
  FUZZ_CHECK(in.substr(0, 8) == std::string_view("SSHKRL\n\0", 8));
  in.remove_prefix(8);
  FUZZ_CHECK(readUint(in, 4) == 1 && readUint(in, 8) == 7 && readUint(in, 8) == 1764600000 &&
             readUint(in, 8) == 0);
  FUZZ_CHECK(readString(in).empty());
  const std::string_view written = readString(in);
  FUZZ_CHECK(written.size() == comment.size() && written.find('\0') == std::string_view::npos);
  if (hashes.empty()) {
    FUZZ_CHECK(in.empty());
    return;
  }
  FUZZ_CHECK(!in.empty() && in.front() == 5);
  in.remove_prefix(1);
  std::string_view section = readString(in);
  FUZZ_CHECK(in.empty());
  auto expected = hashes.begin();
  std::string_view previous;
  while (!section.empty()) {
    const std::string_view hash = readString(section);
    FUZZ_CHECK(hash.size() == 32 && expected != hashes.end() && hash == *expected++);
    FUZZ_CHECK(previous.empty() || std::memcmp(previous.data(), hash.data(), 32) < 0);
    previous = hash;
  }
  FUZZ_CHECK(expected == hashes.end());
}

void checkKeysFile(std::string_view text) {
  auto file = AuthorizedKeysFile::parse(text, "fuzz");
  const bool refusable = text.size() > kMaxKeyFileBytes || text.find('\0') != std::string::npos;
  FUZZ_CHECK(file.ok() != refusable);
  if (!file.ok()) return;
  FUZZ_CHECK(file->without({}) == text);
  const std::vector<AuthorizedKey>& keys = file->keys();
  const std::vector<BadKeyLine>& bad = file->bad_lines();
  std::set<int> accounted;
  for (const BadKeyLine& b : bad) {
    FUZZ_CHECK(accounted.insert(b.line).second);
    const std::string prefix = "fuzz line " + std::to_string(b.line) + ": ";
    FUZZ_CHECK(b.why.rfind(prefix, 0) == 0 && b.why.size() < 400);
    for (char c : b.why) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
  }
  std::set<int> every_other;
  std::vector<AuthorizedKey> kept;
  std::vector<std::string> fingerprints;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const AuthorizedKey& k = keys[i];
    FUZZ_CHECK(i == 0 || keys[i - 1].line < k.line);
    FUZZ_CHECK(accounted.insert(k.line).second);
    FUZZ_CHECK(knownKeyType(k.type) && validSshFingerprint(k.fingerprint));
    fingerprints.push_back(k.fingerprint);
    // The fingerprint is of the canonical plain key, which is canonical itself.
    auto parsed = parseSshKeyBlob(k.type, k.blob);
    FUZZ_CHECK(parsed.ok() && sha256Fingerprint(parsed->plain_blob) == k.fingerprint);
    FUZZ_CHECK(parsed->certificate == (k.type.find("-cert-v01@") != std::string::npos));
    const std::string plain_type(
        parsed->plain_blob.substr(4, static_cast<unsigned char>(parsed->plain_blob[3])));
    auto again_plain = parseSshKeyBlob(plain_type, parsed->plain_blob);
    FUZZ_CHECK(again_plain.ok() && !again_plain->certificate &&
               again_plain->plain_blob == parsed->plain_blob);
    auto alone = AuthorizedKeysFile::parse(k.publicKey(), "fuzz");
    FUZZ_CHECK(alone.ok() && alone->keys().size() == 1 && alone->bad_lines().empty());
    const AuthorizedKey& again = alone->keys()[0];
    FUZZ_CHECK(again.type == k.type && again.blob == k.blob && again.options.empty() &&
               again.comment.empty() && again.fingerprint == k.fingerprint);
    if (i % 2 == 0) {
      every_other.insert(k.line);
    } else {
      kept.push_back(k);
    }
  }
  FUZZ_CHECK(accounted == contentLines(text));
  auto rest = AuthorizedKeysFile::parse(file->without(every_other), "fuzz");
  FUZZ_CHECK(rest.ok() && rest->keys().size() == kept.size() &&
             rest->bad_lines().size() == bad.size());
  for (std::size_t i = 0; i < kept.size(); ++i) {
    FUZZ_CHECK(sameKeyIgnoringLine(rest->keys()[i], kept[i]));
  }
  fingerprints.push_back("SHA256:ZkAslGjFiUHdGf/WUL8rQvkib4PTvQatUV0OUQSncCA");
  checkKrl(fingerprints, text.substr(0, 64));
}

void checkSshdConfig(std::string_view text, const std::string& included) {
  const std::string self(text);
  const SshdIncludeReader readers[] = {
      [&](std::string_view) -> absl::StatusOr<std::vector<std::string>> {
        return std::vector<std::string>{self};
      },
      [&](std::string_view) -> absl::StatusOr<std::vector<std::string>> {
        return std::vector<std::string>{included, self};
      },
      [](std::string_view) -> absl::StatusOr<std::vector<std::string>> {
        return std::vector<std::string>{};
      },
  };
  for (const SshdIncludeReader& reader : readers) {
    auto settings = parseSshdConfig(text, reader);
    if (!settings.ok()) continue;
    const auto& match_files = settings->match_authorized_keys_files;
    FUZZ_CHECK(settings->match_blocks ||
               (match_files.empty() && !settings->match_authorized_keys_command));
    FUZZ_CHECK(std::set<std::string>(match_files.begin(), match_files.end()).size() ==
               match_files.size());
    std::vector<std::string> patterns = settings->authorized_keys_files;
    patterns.insert(patterns.end(), match_files.begin(), match_files.end());
    for (const std::string& pattern : patterns) {
      FUZZ_CHECK(!pattern.empty());
      auto path = expandKeysPath(pattern, "alice", "/home/alice", 1000);
      if (path.ok()) FUZZ_CHECK(cleanAbsolute(*path));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = warden::fuzz::asText(data, size);
  checkKeysFile(text);
  // Lines as fingerprints: mostly invalid, sometimes repeated or valid.
  std::vector<std::string> lines;
  for (std::string_view rest = text; !rest.empty() && lines.size() < 4096;) {
    const std::size_t newline = std::min(rest.find('\n'), rest.size());
    lines.emplace_back(rest.substr(0, newline));
    rest.remove_prefix(std::min(rest.size(), newline + 1));
  }
  checkKrl(lines, "");
  const auto [first, second] = warden::fuzz::splitAtNul(text);
  checkSshdConfig(first, second);
  for (const std::string_view user : {std::string_view("alice"), std::string_view(second)}) {
    auto path = warden::expandKeysPath(first, user, second, 4294967295u);
    if (path.ok()) FUZZ_CHECK(cleanAbsolute(*path));
  }
  return 0;
}
