// revoke-keys / restore-keys (ssh_keys.h): find every key file sshd reads, decide on parsed
// files (authorized_keys.h), record what an undo needs (ssh_key_record.h), then replace each
// file atomically through OwnedFiles, and write Warden's KRL from the record.
#include "agent/actions/ssh_keys.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/actions/authorized_keys.h"
#include "agent/actions/shadow_file.h"
#include "agent/actions/ssh_key_record.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/status.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

constexpr std::size_t kMaxArgs = 256;
constexpr std::size_t kMaxRevokedFingerprints = 100000;

std::string sha256Hex(std::string_view s) { return crypto::hex(crypto::sha256(s)); }

struct Request {
  std::set<std::string> users;
  std::set<std::string> fingerprints;
  bool dry_run = false;
};

absl::StatusOr<Request> parseRequest(const std::vector<std::string>& args) {
  if (args.size() > kMaxArgs) return absl::InvalidArgumentError("too many arguments");
  Request r;
  for (const std::string& arg : args) {
    const std::size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    if (key == "user" && !value.empty()) {
      r.users.insert(value);
    } else if (key == "fingerprint" && validSshFingerprint(value)) {
      r.fingerprints.insert(value);
    } else if (key == "fingerprint") {
      return absl::InvalidArgumentError(absl::StrFormat(
          "malformed fingerprint '%s' (SHA256:... as ssh-keygen -l prints it)", value));
    } else if (key == "dry_run" && value == "1") {
      r.dry_run = true;
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("unexpected argument '%s'", arg));
    }
  }
  if (r.users.empty() && r.fingerprints.empty()) {
    return absl::InvalidArgumentError("give user=NAME or fingerprint=SHA256:...");
  }
  return r;
}

bool containsLine(std::string_view content, std::string_view line) {
  for (std::size_t at = 0; (at = content.find(line, at)) != std::string_view::npos; ++at) {
    const std::size_t end = at + line.size();
    if ((at == 0 || content[at - 1] == '\n') && (end == content.size() || content[end] == '\n')) {
      return true;
    }
  }
  return false;
}

// One key file sshd reads, as found.
struct FoundFile {
  std::string path;
  const PasswdEntry* user = nullptr;  // the first account that reads it
  std::set<std::string> also;         // other accounts sshd reads it for (a shared home)
  OwnedPath where;
  OwnedFile file;
  AuthorizedKeysFile keys;
  std::string refused;  // why it is not edited ("" when it may be)
};

v1::SshKeyFile* addFile(v1::SshKeyReport& report, const FoundFile& f, const std::string& action) {
  v1::SshKeyFile* out = report.add_files();
  out->set_path(f.path);
  out->set_user(f.user->name);
  out->set_mtime_unix_ms(f.file.mtime_unix_ms);
  out->set_ctime_unix_ms(f.file.ctime_unix_ms);
  out->set_sha256_before(f.refused.empty() || !f.file.content.empty() ? sha256Hex(f.file.content)
                                                                      : "");
  out->set_action(action);
  return out;
}

void addKey(v1::SshKeyReport& report, const std::string& user, const std::string& file,
            const AuthorizedKey& k, const char* action) {
  v1::SshKey* key = report.add_keys();
  key->set_user(user);
  key->set_file(file);
  key->set_line(static_cast<std::uint32_t>(k.line));
  key->set_type(k.type);
  key->set_fingerprint(k.fingerprint);
  key->set_comment(k.comment);
  key->set_options(k.options);
  key->set_action(action);
}

class SshKeys : public SshKeyActions {
 public:
  SshKeys(std::unique_ptr<OwnedFiles> files, StateStore& state, SshKeyPaths paths)
      : files_(std::move(files)), state_(state), paths_(std::move(paths)) {}

  ActionOutcome revoke(const std::vector<std::string>& args) override {
    auto request = parseRequest(args);
    if (!request.ok()) return invalidArgument(std::string(request.status().message()));
    auto passwd = files_->readConfig(paths_.etc_dir + "/passwd", kMaxKeyFileBytes);
    if (!passwd.ok()) return failure(std::string(passwd.status().message()));
    auto accounts = PasswdFile::parse(*passwd, paths_.etc_dir + "/passwd");
    if (!accounts.ok()) return failure(std::string(accounts.status().message()));
    for (const std::string& name : request->users) {
      if (!accounts->find(name)) return invalidArgument(absl::StrFormat("unknown user '%s'", name));
    }
    v1::SshKeyReport report;
    report.set_dry_run(request->dry_run);
    auto settings = sshdSettings(report);
    if (!settings.ok()) return failure(std::string(settings.status().message()));
    auto stored = loadRevocation();
    if (!stored.ok()) {
      return failure(
          absl::StrFormat("Failed to read the revocation record: %s", stored.status().message()));
    }
    const std::vector<FoundFile> found = findKeyFiles(*accounts, *settings);

    // The selection. --user takes the account's keys out of its own files only; --fingerprint
    // takes the key out of every file and refuses it everywhere through the KRL.
    const bool krl_dir = files_->isDirectory(revokedDir());
    const bool krl_counts = report.revoked_keys_enforced() && krl_dir;
    auto requested = [&](const FoundFile& f) {
      if (request->users.contains(f.user->name)) return true;
      return std::any_of(f.also.begin(), f.also.end(),
                         [&](const std::string& u) { return request->users.contains(u); });
    };
    std::map<std::size_t, std::vector<const AuthorizedKey*>> selected;  // found index -> keys
    std::set<std::string> user_keys, matched;
    bool refused_relevant = false;
    for (std::size_t i = 0; i < found.size(); ++i) {
      const FoundFile& f = found[i];
      const bool by_user = requested(f);
      // With --fingerprint, a file Warden may not edit still has the key refused by sshd when
      // sshd reads the KRL; otherwise the key may live on there.
      if (!f.refused.empty() && (by_user || !request->fingerprints.empty())) {
        refused_relevant = refused_relevant || by_user || !krl_counts;
        addFile(report, f, "refused");
        report.add_warnings(f.refused);
      }
      for (const AuthorizedKey& k : f.keys.keys()) {
        if (!by_user && !request->fingerprints.contains(k.fingerprint)) continue;
        matched.insert(k.fingerprint);
        if (by_user) user_keys.insert(k.fingerprint);
        if (!f.refused.empty()) {
          addKey(report, f.user->name, f.path, k, "left-in-refused-file");
        } else {
          selected[i].push_back(&k);
        }
      }
    }
    // A key --user removed that other accounts also accept stays theirs: said, not changed.
    for (std::size_t i = 0; i < found.size(); ++i) {
      if (requested(found[i])) continue;
      for (const AuthorizedKey& k : found[i].keys.keys()) {
        if (user_keys.contains(k.fingerprint) && !request->fingerprints.contains(k.fingerprint)) {
          report.add_warnings(absl::StrFormat(
              "%s of the revoked account(s) is also in %s line %d (%s): left there; "
              "--fingerprint %s refuses it everywhere",
              k.fingerprint, found[i].path, k.line, found[i].user->name, k.fingerprint));
        }
      }
    }
    for (const std::string& fp : request->fingerprints) {
      if (!matched.contains(fp)) {
        report.add_warnings(absl::StrFormat(
            krl_dir ? "%s is in no key file Warden read: refused through RevokedKeys only"
                    : "%s is in no key file Warden read",
            fp));
      }
    }
    if (!request->fingerprints.empty() && !krl_dir) {
      report.add_warnings(absl::StrFormat(
          "%s: no such directory (is sshd installed?): no RevokedKeys file was written",
          revokedDir()));
    }

    ActionOutcome out;
    if (request->dry_run) {
      int keys = 0;
      for (const auto& [i, ks] : selected) {
        addFile(report, found[i], "would-edit");
        for (const AuthorizedKey* k : ks) {
          addKey(report, found[i].user->name, found[i].path, *k, "would-revoke");
          ++keys;
        }
      }
      out.ok = !refused_relevant;
      out.message = absl::StrFormat("would revoke %d key(s) in %d file(s)", keys, selected.size());
      if (refused_relevant) {
        out.message +=
            "; would leave key files untouched: " + absl::StrJoin(report.warnings(), "; ");
      }
      out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
      return out;
    }

    std::vector<std::string> failures;
    KeyRevocation next = *stored;
    // The KRL first: it does not depend on any file an account controls, so nothing such a file
    // does can keep the key from being refused. Its record is saved before it, so restore-keys
    // can always take out what the file may hold; a fingerprint the file is then missing is
    // written again by the next --fingerprint.
    if (krl_dir && !request->fingerprints.empty()) {
      std::set<std::string> fps(next.fingerprints.begin(), next.fingerprints.end());
      fps.insert(request->fingerprints.begin(), request->fingerprints.end());
      if (fps.size() > kMaxRevokedFingerprints) {
        return invalidArgument(
            absl::StrFormat("more than %d revoked keys", kMaxRevokedFingerprints));
      }
      next.fingerprints.assign(fps.begin(), fps.end());
      ++next.krl_version;
      if (absl::Status st = saveRevocation(next); !st.ok()) {
        return failure(
            absl::StrFormat("Failed to record the revocation (nothing changed): %s", st.message()));
      }
      if (absl::Status st = writeKrl(next.fingerprints, next.krl_version); !st.ok()) {
        failures.push_back(std::string(st.message()));
      } else {
        for (const std::string& fp : request->fingerprints) report.add_krl_fingerprints(fp);
      }
    }
    // Then each file: its record first (a crash then leaves something restore-keys completes),
    // then the file. A file that fails is named; the others still go.
    int revoked = 0, edited = 0;
    for (const auto& [i, ks] : selected) {
      const FoundFile& f = found[i];
      std::set<int> remove;
      for (const AuthorizedKey* k : ks) remove.insert(k->line);
      const std::string content = f.keys.without(remove);
      const KeyRevocation before = next;
      KeyFileRecord* record = recordFor(next, f.path);
      if (record == nullptr || f.file.content == record->original) {
        if (record == nullptr) {
          next.files.push_back(KeyFileRecord{});
          record = &next.files.back();
        }
        *record = KeyFileRecord{f.path,      f.user->name,   f.user->home, f.file.uid, f.file.gid,
                                f.file.mode, f.file.content, "",           false,      {}};
      } else if (record->written_sha256 != sha256Hex(f.file.content)) {
        record->merge_only = true;  // changed since Warden's last edit
      }
      record->written_sha256 = sha256Hex(content);
      for (const AuthorizedKey* k : ks) record->removed.push_back(f.keys.lineText(k->line));
      absl::Status st = saveRevocation(next);
      if (st.ok()) st = files_->replace(f.where, content, f.file.uid, f.file.gid, f.file.mode);
      const bool done = st.ok() || written(f.where, content);
      if (!done) {
        next = before;
        (void)saveRevocation(next);
        failures.push_back(absl::StrFormat("%s: %s", f.path, st.message()));
      } else {
        ++edited;
        addFile(report, f, "edited")->set_sha256_after(sha256Hex(content));
      }
      for (const AuthorizedKey* k : ks) {
        addKey(report, f.user->name, f.path, *k, done ? "revoked" : "not-revoked");
        revoked += done ? 1 : 0;
      }
    }
    out.ok = failures.empty() && !refused_relevant;
    out.message = absl::StrFormat("revoked %d key(s) in %d file(s)", revoked, edited);
    if (report.krl_fingerprints_size() > 0) {
      out.message += krl_counts
                         ? absl::StrFormat("; %d refused everywhere through RevokedKeys",
                                           report.krl_fingerprints_size())
                         : absl::StrFormat("; %d in %s, which sshd_config does not name",
                                           report.krl_fingerprints_size(), paths_.revoked_keys);
    }
    if (refused_relevant) {
      out.message +=
          "; key files left untouched (see warnings): " + absl::StrJoin(report.warnings(), "; ");
    }
    if (!failures.empty()) {
      out.message +=
          "; failed: " + absl::StrJoin(failures, "; ") + " (restore-keys undoes what was done)";
    }
    out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
    return out;
  }

  ActionOutcome restore(const std::vector<std::string>& args) override {
    if (!args.empty()) return invalidArgument("restore-keys takes no arguments");
    auto stored = loadRevocation();
    if (!stored.ok()) {
      return failure(
          absl::StrFormat("Failed to read the revocation record: %s", stored.status().message()));
    }
    v1::SshKeyReport report;
    report.set_restore(true);
    report.set_revoked_keys_file(paths_.revoked_keys);
    ActionOutcome out;
    out.ok = true;
    if (stored->empty()) {
      out.message = "no key was revoked by Warden";
      out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
      return out;
    }
    // Every file is tried; the ones that fail stay in the record for the next restore-keys.
    KeyRevocation left;
    left.krl_version = stored->krl_version;
    std::vector<std::string> failures;
    for (const KeyFileRecord& f : stored->files) {
      if (absl::Status st = restoreFile(f, report); !st.ok()) {
        failures.push_back(absl::StrFormat("%s: %s", f.path, st.message()));
        left.files.push_back(f);
      }
    }
    if (!stored->fingerprints.empty()) {
      // The file first, then the record: a crash in between leaves the fingerprints recorded,
      // and the next restore-keys writes the KRL again.
      if (files_->isDirectory(revokedDir())) {
        if (absl::Status st = writeKrl({}, stored->krl_version + 1); !st.ok()) {
          failures.push_back(std::string(st.message()));
          left.fingerprints = stored->fingerprints;
        } else {
          left.krl_version = stored->krl_version + 1;
          for (const std::string& fp : stored->fingerprints) report.add_krl_fingerprints(fp);
        }
      }
    }
    if (absl::Status st = saveRevocation(left); !st.ok()) {
      failures.push_back(absl::StrFormat("the record could not be updated: %s", st.message()));
    }
    out.ok = failures.empty();
    out.message =
        absl::StrFormat("restored %d key(s) in %d file(s)", countKeys(report), report.files_size());
    if (!stored->fingerprints.empty()) {
      out.message += absl::StrFormat("; %d key(s) no longer in RevokedKeys",
                                     stored->fingerprints.size() - left.fingerprints.size());
    }
    if (!failures.empty()) {
      out.message += "; not restored (run restore-keys again): " + absl::StrJoin(failures, "; ");
    }
    out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
    return out;
  }

 private:
  // Every file sshd may read for any account: AuthorizedKeysFile outside and inside Match
  // blocks. A file Warden cannot read safely, or with lines it cannot parse, is kept with the
  // reason it is refused.
  std::vector<FoundFile> findKeyFiles(const PasswdFile& accounts, const SshdKeySettings& settings) {
    std::vector<std::string> patterns = settings.authorized_keys_files;
    for (const std::string& p : settings.match_authorized_keys_files) {
      if (std::find(patterns.begin(), patterns.end(), p) == patterns.end()) patterns.push_back(p);
    }
    std::vector<FoundFile> found;
    std::map<std::string, std::size_t> seen;  // path -> index in found
    for (const PasswdEntry& user : accounts.entries()) {
      for (const std::string& pattern : patterns) {
        auto path = expandKeysPath(pattern, user.name, user.home, user.uid);
        if (!path.ok()) continue;
        if (auto it = seen.find(*path); it != seen.end()) {
          // Another account sshd reads the same file for (a shared home directory).
          if (it->second != SIZE_MAX) found[it->second].also.insert(user.name);
          continue;
        }
        seen[*path] = SIZE_MAX;
        FoundFile f;
        f.path = *path;
        f.user = &user;
        f.where = keyFilePath(pattern, *path, user);
        auto file = files_->read(f.where, kMaxKeyFileBytes);
        if (absl::IsNotFound(file.status())) continue;
        if (file.ok()) {
          f.file = std::move(*file);
          auto keys = AuthorizedKeysFile::parse(f.file.content, *path);
          if (!keys.ok()) {
            f.refused = std::string(keys.status().message());
          } else {
            f.keys = std::move(*keys);
            if (!f.keys.bad_lines().empty()) {
              f.refused = absl::StrFormat(
                  "%s (%d line(s) that are not keys sshd takes; the file is left as it is)",
                  f.keys.bad_lines().front().why, f.keys.bad_lines().size());
            }
          }
        } else {
          f.refused = absl::StrFormat("%s (left as it is)", file.status().message());
        }
        seen[*path] = found.size();
        found.push_back(std::move(f));
      }
    }
    return found;
  }

  // Where the safe walk of a key file starts: the home directory for a pattern relative to it
  // (or starting with %h); for an absolute pattern, the directory its fixed part names (what
  // root wrote in sshd_config, before the first %-token). Below that, nothing is followed.
  static OwnedPath keyFilePath(const std::string& pattern, const std::string& path,
                               const PasswdEntry& user) {
    if (pattern.empty() || pattern[0] != '/' || pattern.starts_with("%h")) {
      return ownedPath(path, user.home, static_cast<uid_t>(user.uid));
    }
    std::string fixed = pattern.substr(0, pattern.find('%'));
    fixed = fixed.substr(0, fixed.rfind('/'));
    return ownedPath(path, fixed.empty() ? "/" : fixed, static_cast<uid_t>(user.uid));
  }

  absl::Status restoreFile(const KeyFileRecord& f, v1::SshKeyReport& report) {
    const OwnedPath where = ownedPath(f.path, f.home, static_cast<uid_t>(f.uid));
    auto current = files_->read(where, kMaxKeyFileBytes);
    if (!current.ok() && !absl::IsNotFound(current.status())) return current.status();
    std::string content;
    std::string action;
    if (!current.ok()) {
      action = "created";  // removed since: only what Warden took out comes back
      for (const std::string& line : f.removed) content += line + "\n";
    } else if (!f.merge_only && sha256Hex(current->content) == f.written_sha256) {
      action = "restored";  // nobody changed it since: byte for byte
      content = f.original;
    } else if (current->content == f.original) {
      action = "unchanged";
      content = f.original;
    } else {
      action = "merged";
      content = current->content;
      for (const std::string& line : f.removed) {
        if (containsLine(content, line)) continue;
        if (!content.empty() && content.back() != '\n') content += '\n';
        content += line + "\n";
      }
    }
    if (action != "unchanged") {
      WARDEN_RETURN_IF_ERROR(files_->replace(where, content, static_cast<uid_t>(f.uid),
                                             static_cast<gid_t>(f.gid),
                                             static_cast<mode_t>(f.mode)));
    }
    v1::SshKeyFile* file = report.add_files();
    file->set_path(f.path);
    file->set_user(f.user);
    file->set_sha256_before(current.ok() ? sha256Hex(current->content) : "");
    file->set_sha256_after(sha256Hex(content));
    file->set_action(action);
    for (const std::string& line : f.removed) {
      if (action == "unchanged") break;
      auto parsed = AuthorizedKeysFile::parse(line + "\n", f.path);
      if (!parsed.ok() || parsed->keys().empty()) continue;
      addKey(report, f.user, f.path, parsed->keys().front(), "restored");
    }
    return absl::OkStatus();
  }

  // True when `where` holds `content` (a replace that failed after its rename).
  bool written(const OwnedPath& where, const std::string& content) {
    auto now = files_->read(where, kMaxKeyFileBytes);
    return now.ok() && now->content == content;
  }

  // Warden's KRL revoking `fingerprints`: root:root 0644, as sshd reads it.
  absl::Status writeKrl(const std::vector<std::string>& fingerprints, std::uint64_t version) {
    const std::string krl =
        encodeKrl(fingerprints, version,
                  static_cast<std::uint64_t>(absl::ToUnixSeconds(absl::Now())), "warden");
    if (absl::Status st = files_->replace(revokedPath(), krl, 0, 0, 0644); !st.ok()) {
      return absl::Status(st.code(), absl::StrFormat("%s: %s", paths_.revoked_keys, st.message()));
    }
    return absl::OkStatus();
  }

  static int countKeys(const v1::SshKeyReport& r) {
    return static_cast<int>(std::count_if(r.keys().begin(), r.keys().end(), [](const auto& k) {
      return k.action() == "revoked" || k.action() == "would-revoke" || k.action() == "restored";
    }));
  }

  static KeyFileRecord* recordFor(KeyRevocation& r, const std::string& path) {
    for (KeyFileRecord& f : r.files) {
      if (f.path == path) return &f;
    }
    return nullptr;
  }

  // A path under /etc as this agent sees it (etc_dir stands for /etc in tests).
  std::string etcPath(std::string_view path) const {
    if (path.starts_with("/etc/")) return paths_.etc_dir + std::string(path.substr(4));
    return std::string(path);
  }

  OwnedPath revokedPath() const { return ownedPath(paths_.revoked_keys, "", 0); }
  std::string revokedDir() const {
    const std::size_t slash = paths_.revoked_keys.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : paths_.revoked_keys.substr(0, slash);
  }

  absl::StatusOr<SshdKeySettings> sshdSettings(v1::SshKeyReport& report) {
    report.set_revoked_keys_file(paths_.revoked_keys);
    auto config = files_->readConfig(paths_.etc_dir + "/ssh/sshd_config", kMaxKeyFileBytes);
    if (absl::IsNotFound(config.status())) {
      report.add_warnings("no sshd_config: sshd's default key files were searched");
      return SshdKeySettings{};
    }
    if (!config.ok()) return config.status();
    auto include = [this](std::string_view pattern) -> absl::StatusOr<std::vector<std::string>> {
      const std::string p = etcPath(pattern.starts_with("/") ? std::string(pattern)
                                                             : "/etc/ssh/" + std::string(pattern));
      std::vector<std::string> texts;
      for (const std::string& path : files_->glob(p)) {
        auto f = files_->readConfig(path, kMaxKeyFileBytes);
        if (!f.ok()) return f.status();
        texts.push_back(std::move(*f));
      }
      return texts;
    };
    auto settings = parseSshdConfig(*config, include);
    if (!settings.ok()) return settings.status();
    if (settings->authorized_keys_command || settings->match_authorized_keys_command) {
      report.add_warnings(
          "sshd_config sets AuthorizedKeysCommand: keys it supplies are refused only through "
          "RevokedKeys (--fingerprint)");
    }
    auto ours = [&](const std::string& f) {
      return !f.empty() && etcPath(f) == paths_.revoked_keys;
    };
    const bool named = ours(settings->revoked_keys);
    // A Match block's RevokedKeys replaces it for the users the block matches.
    const bool everywhere = named && std::all_of(settings->match_revoked_keys.begin(),
                                                 settings->match_revoked_keys.end(), ours);
    report.set_revoked_keys_enforced(everywhere);
    if (!named && !settings->revoked_keys.empty()) {
      report.add_warnings(absl::StrFormat("sshd_config names RevokedKeys %s, not Warden's %s",
                                          settings->revoked_keys, paths_.revoked_keys));
    }
    if (named && !everywhere) {
      report.add_warnings(absl::StrFormat(
          "a Match block in sshd_config sets another RevokedKeys than %s for some users",
          paths_.revoked_keys));
    }
    return settings;
  }

  absl::StatusOr<KeyRevocation> loadRevocation() {
    auto value = state_.get(kKeyRevocationKey);
    if (absl::IsNotFound(value.status()) || (value.ok() && value->empty())) {
      return KeyRevocation{};
    }
    if (!value.ok()) return value.status();
    return decodeKeyRevocation(*value);
  }

  absl::Status saveRevocation(const KeyRevocation& r) {
    return state_.set(kKeyRevocationKey, r.empty() ? "" : encodeKeyRevocation(r));
  }

  std::unique_ptr<OwnedFiles> files_;
  StateStore& state_;
  const SshKeyPaths paths_;
};

}  // namespace

std::unique_ptr<SshKeyActions> makeSshKeyActions(std::unique_ptr<OwnedFiles> files,
                                                 StateStore& state, SshKeyPaths paths) {
  return std::make_unique<SshKeys>(std::move(files), state, std::move(paths));
}

}  // namespace warden
