// AuthorizedKeysFile::parse, RevokedKeysFile::parse, parseSshdConfig and expandKeysPath: the key
// files an account's owner (on a compromised host, the attacker) writes, and sshd's settings
// that say where they are. A file that parses gives itself back byte for byte and, without some
// of its lines, exactly its other keys; every key has a well-formed fingerprint and re-parses
// from its public form; revoking keys makes the revoked file contain them, and un-revoking
// removes them; sshd_config with an Include that reads itself ends (depth limit); an expanded
// keys path is absolute and clean. The input is also cut at its first NUL: a keys-path pattern
// and a home directory, or an sshd_config and the text its Includes read.
#include <set>
#include <string>
#include <vector>

#include "agent/actions/authorized_keys.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace warden;

bool sameKeyIgnoringLine(const AuthorizedKey& a, const AuthorizedKey& b) {
  return a.options == b.options && a.type == b.type && a.blob == b.blob && a.comment == b.comment &&
         a.fingerprint == b.fingerprint;
}

bool cleanAbsolute(const std::string& path) {
  if (path.empty() || path.front() != '/' || path.back() == '/') return false;
  if (path.find("//") != std::string::npos || path.find('\0') != std::string::npos) return false;
  return (path + "/").find("/../") == std::string::npos &&
         (path + "/").find("/./") == std::string::npos;
}

void checkKeysFile(std::string_view text) {
  auto file = AuthorizedKeysFile::parse(text, "fuzz");
  if (!file.ok()) return;
  FUZZ_CHECK(file->without({}) == text);
  const std::vector<AuthorizedKey>& keys = file->keys();
  std::set<int> every_other;
  std::vector<AuthorizedKey> kept;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const AuthorizedKey& k = keys[i];
    FUZZ_CHECK(i == 0 || keys[i - 1].line < k.line);
    FUZZ_CHECK(knownKeyType(k.type) && validSshFingerprint(k.fingerprint));
    // A certificate's fingerprint is its key's, not its blob's.
    const bool cert = k.type.find("-cert-v01@") != std::string::npos;
    FUZZ_CHECK(cert != (k.fingerprint == sha256Fingerprint(k.blob)));
    auto alone = AuthorizedKeysFile::parse(k.publicKey(), "fuzz");
    FUZZ_CHECK(alone.ok() && alone->keys().size() == 1);
    const AuthorizedKey& again = alone->keys()[0];
    FUZZ_CHECK(again.type == k.type && again.blob == k.blob && again.options.empty() &&
               again.comment.empty() && again.fingerprint == k.fingerprint);
    if (i % 2 == 0) {
      every_other.insert(k.line);
    } else {
      kept.push_back(k);
    }
  }
  auto rest = AuthorizedKeysFile::parse(file->without(every_other), "fuzz");
  FUZZ_CHECK(rest.ok() && rest->keys().size() == kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i) {
    FUZZ_CHECK(sameKeyIgnoringLine(rest->keys()[i], kept[i]));
  }
}

void checkRevokedFile(std::string_view text) {
  auto revoked = RevokedKeysFile::parse(text, "fuzz");
  if (!revoked.ok()) return;
  FUZZ_CHECK(revoked->without({}) == text);
  // The file's own keys, and one it does not hold (unless the input happens to).
  std::vector<AuthorizedKey> keys = revoked->keys();
  AuthorizedKey extra;
  extra.type = "ssh-ed25519";
  extra.blob = std::string("\0\0\0\x0bssh-ed25519\0\0\0\x20", 19) + std::string(32, '*');
  extra.fingerprint = sha256Fingerprint(extra.blob);
  keys.push_back(extra);
  std::set<std::string> fingerprints;
  for (const AuthorizedKey& k : keys) {
    FUZZ_CHECK(k.options.empty());
    fingerprints.insert(k.fingerprint);
  }
  for (const AuthorizedKey& k : revoked->keys()) FUZZ_CHECK(revoked->contains(k.fingerprint));
  const std::string added = revoked->with(keys, "revoked by warden\nsecond line");
  FUZZ_CHECK(added.compare(0, text.size(), text) == 0);
  if (added.size() > kMaxKeyFileBytes) return;
  auto with = RevokedKeysFile::parse(added, "fuzz");
  FUZZ_CHECK(with.ok());
  for (const AuthorizedKey& k : keys) FUZZ_CHECK(with->contains(k.fingerprint));
  FUZZ_CHECK(with->with(keys, "again") == added);
  auto without = RevokedKeysFile::parse(with->without(fingerprints), "fuzz");
  FUZZ_CHECK(without.ok() && without->keys().empty());
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
    for (const std::string& pattern : settings->authorized_keys_files) {
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
  checkRevokedFile(text);
  const auto [first, second] = warden::fuzz::splitAtNul(text);
  checkSshdConfig(first, second);
  for (const std::string_view user : {std::string_view("alice"), std::string_view(second)}) {
    auto path = warden::expandKeysPath(first, user, second, 4294967295u);
    if (path.ok()) FUZZ_CHECK(cleanAbsolute(*path));
  }
  return 0;
}
