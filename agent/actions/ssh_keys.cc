// revoke-keys / restore-keys (ssh_keys.h): find every key file sshd reads, decide on parsed
// files (authorized_keys.h), record the original bytes, then replace each file atomically.
#include "agent/actions/ssh_keys.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/actions/authorized_keys.h"
#include "agent/actions/shadow_file.h"
#include "agent/os/owned_files.h"
#include "common/canonical.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/status.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

constexpr std::size_t kMaxArgs = 256;
constexpr char kRevokedComment[] = "revoked-by-warden";

std::string sha256Hex(std::string_view s) { return crypto::hex(crypto::sha256(s)); }

// What restore-keys needs of one key file.
struct FileRecord {
  std::string path;
  std::string user;
  std::uint64_t uid = 0;
  std::uint64_t gid = 0;
  std::uint64_t mode = 0;
  std::string home;
  std::string original;              // the bytes before Warden's first edit
  std::string written_sha256;        // of what Warden last wrote
  std::vector<std::string> removed;  // the exact lines taken out, in file order
};

struct Revocation {
  std::vector<FileRecord> files;
  std::vector<std::string> added_fingerprints;  // put into RevokedKeys by Warden
};

std::string encodeFile(const FileRecord& f) {
  return canonicalRecord("ssh-key-file", std::uint64_t{1}, f.path, f.user, f.uid, f.gid, f.mode,
                         f.home, f.original, f.written_sha256, f.removed);
}

absl::StatusOr<FileRecord> decodeFile(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "ssh-key-file"));
  std::uint64_t version = 0;
  WARDEN_RETURN_IF_ERROR(r.version(version, 1, "ssh key file record"));
  FileRecord f;
  WARDEN_RETURN_IF_ERROR(r.fields(f.path, f.user, f.uid, f.gid, f.mode, f.home, f.original,
                                  f.written_sha256, f.removed));
  WARDEN_RETURN_IF_ERROR(r.done());
  return f;
}

std::string encodeRevocation(const Revocation& r) {
  std::vector<std::string> files;
  for (const FileRecord& f : r.files) files.push_back(encodeFile(f));
  return canonicalRecord("ssh-key-revocation", std::uint64_t{1}, files, r.added_fingerprints);
}

absl::StatusOr<Revocation> decodeRevocation(std::string_view bytes) {
  WARDEN_ASSIGN_OR_RETURN(CanonicalReader r, CanonicalReader::open(bytes, "ssh-key-revocation"));
  std::uint64_t version = 0;
  WARDEN_RETURN_IF_ERROR(r.version(version, 1, "ssh key revocation record"));
  std::vector<std::string> files;
  Revocation out;
  WARDEN_RETURN_IF_ERROR(r.fields(files, out.added_fingerprints));
  WARDEN_RETURN_IF_ERROR(r.done());
  for (const std::string& f : files) {
    WARDEN_ASSIGN_OR_RETURN(FileRecord file, decodeFile(f));
    out.files.push_back(std::move(file));
  }
  return out;
}

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

// One key file as found, parsed.
struct FoundFile {
  std::string path;
  const PasswdEntry* user = nullptr;
  OwnedPath where;
  OwnedFile file;
  AuthorizedKeysFile keys;
};

class SshKeys : public SshKeyActions {
 public:
  SshKeys(std::unique_ptr<OwnedFiles> files, StateStore& state, SshKeyPaths paths)
      : files_(std::move(files)), state_(state), paths_(std::move(paths)) {}

  ActionOutcome revoke(const std::vector<std::string>& args) override {
    auto request = parseRequest(args);
    if (!request.ok()) return invalidArgument(std::string(request.status().message()));
    auto passwd = readEtc("passwd");
    if (!passwd.ok()) return failure(std::string(passwd.status().message()));
    auto parsed = PasswdFile::parse(passwd->content, paths_.etc_dir + "/passwd");
    if (!parsed.ok()) return failure(std::string(parsed.status().message()));
    for (const std::string& name : request->users) {
      if (!parsed->find(name)) return invalidArgument(absl::StrFormat("unknown user '%s'", name));
    }
    v1::SshKeyReport report;
    auto settings = sshdSettings(report);
    if (!settings.ok()) return failure(std::string(settings.status().message()));

    // Every file sshd would read for the users concerned (every user for a fingerprint).
    std::vector<FoundFile> found;
    std::set<std::string> seen;
    for (const PasswdEntry& user : parsed->entries()) {
      if (request->fingerprints.empty() && !request->users.contains(user.name)) continue;
      for (const std::string& pattern : settings->authorized_keys_files) {
        auto path = expandKeysPath(pattern, user.name, user.home, user.uid);
        if (!path.ok()) continue;  // a home that is not a clean absolute path: sshd fails too
        if (!seen.insert(*path).second) continue;
        FoundFile f;
        f.path = *path;
        f.user = &user;
        f.where = ownedPath(*path, user.home, user.uid);
        auto file = files_->read(f.where, kMaxKeyFileBytes);
        if (absl::IsNotFound(file.status())) continue;
        if (!file.ok()) {
          return failure(absl::StrFormat("Refusing to edit SSH keys: %s", file.status().message()));
        }
        auto keys = AuthorizedKeysFile::parse(file->content, *path);
        if (!keys.ok()) {
          return failure(absl::StrFormat("Refusing to edit SSH keys (nothing changed): %s",
                                         keys.status().message()));
        }
        f.file = std::move(*file);
        f.keys = std::move(*keys);
        found.push_back(std::move(f));
      }
    }

    const bool revoked_dir = files_->isDirectory(revokedDir());
    auto revoked_file = readRevokedKeys();
    if (!revoked_file.ok()) return failure(std::string(revoked_file.status().message()));
    auto revoked = RevokedKeysFile::parse(revoked_file->content, paths_.revoked_keys);
    if (!revoked.ok()) {
      return failure(absl::StrFormat("Refusing to edit SSH keys (nothing changed): %s",
                                     revoked.status().message()));
    }

    // The selection, per file.
    std::map<std::size_t, std::set<int>> lines;  // found index -> lines to remove
    std::vector<AuthorizedKey> selected;
    std::set<std::string> matched_fingerprints;
    for (std::size_t i = 0; i < found.size(); ++i) {
      for (const AuthorizedKey& k : found[i].keys.keys()) {
        const bool by_user = request->users.contains(found[i].user->name);
        const bool by_fp = request->fingerprints.contains(k.fingerprint);
        if (!by_user && !by_fp) continue;
        if (by_fp) matched_fingerprints.insert(k.fingerprint);
        lines[i].insert(k.line);
        selected.push_back(k);
        addKey(report, found[i], k, request->dry_run ? "would-revoke" : "revoked");
      }
    }
    for (const std::string& fp : request->fingerprints) {
      if (!matched_fingerprints.contains(fp) && !revoked->contains(fp)) {
        return invalidArgument(
            absl::StrFormat("no key file sshd reads holds a key with fingerprint %s", fp));
      }
    }

    auto stored = loadRevocation();
    if (!stored.ok())
      return failure(
          absl::StrFormat("Failed to read the revocation record: %s", stored.status().message()));
    Revocation next = *stored;
    struct Write {
      OwnedPath where;
      std::string content;
      const OwnedFile* before;
    };
    std::vector<Write> writes;
    for (const auto& [i, remove] : lines) {
      const FoundFile& f = found[i];
      std::string content = f.keys.without(remove);
      FileRecord* record = recordFor(next, f.path);
      if (record == nullptr) {
        next.files.push_back(FileRecord{f.path,
                                        f.user->name,
                                        f.file.uid,
                                        f.file.gid,
                                        f.file.mode,
                                        f.user->home,
                                        f.file.content,
                                        "",
                                        {}});
        record = &next.files.back();
      }
      record->written_sha256 = sha256Hex(content);
      for (int line : remove) record->removed.push_back(lineText(f.file.content, line));
      v1::SshKeyFile* out = report.add_files();
      out->set_path(f.path);
      out->set_user(f.user->name);
      out->set_mtime_unix_ms(f.file.mtime_unix_ms);
      out->set_ctime_unix_ms(f.file.ctime_unix_ms);
      out->set_sha256_before(sha256Hex(f.file.content));
      out->set_sha256_after(request->dry_run ? "" : sha256Hex(content));
      out->set_action(request->dry_run ? "would-edit" : "edited");
      writes.push_back(Write{f.where, std::move(content), &f.file});
    }
    std::vector<AuthorizedKey> to_add;
    std::set<std::string> adding;
    for (const AuthorizedKey& k : selected) {
      if (revoked->contains(k.fingerprint) || !adding.insert(k.fingerprint).second) continue;
      to_add.push_back(k);
      if (revoked_dir) next.added_fingerprints.push_back(k.fingerprint);
    }

    ActionOutcome out;
    out.ok = true;
    if (request->dry_run) {
      report.set_dry_run(true);
      out.message =
          absl::StrFormat("would revoke %d key(s) in %d file(s)", selected.size(), writes.size());
      out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
      return out;
    }
    if (selected.empty()) {
      out.message = "no key matched: nothing changed";
      out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
      return out;
    }
    // The record first: a crash after it leaves files restore-keys can put back.
    const std::string previous = state_.getOr(kKeyRevocationKey, "");
    if (absl::Status st = state_.set(kKeyRevocationKey, encodeRevocation(next)); !st.ok()) {
      return failure(
          absl::StrFormat("Failed to record the revocation (nothing changed): %s", st.message()));
    }
    std::size_t written = 0;
    absl::Status st;
    for (; written < writes.size() && st.ok(); ++written) {
      const Write& w = writes[written];
      st = files_->replace(w.where, w.content, w.before->uid, w.before->gid, w.before->mode);
    }
    if (st.ok() && !to_add.empty() && !revoked_dir) {
      report.add_warnings(absl::StrFormat(
          "%s: no such directory (is sshd installed?): the keys were removed from the key files "
          "only",
          revokedDir()));
    } else if (st.ok() && !to_add.empty()) {
      st = files_->replace(revokedPath(), revoked->with(to_add, kRevokedComment), revoked_file->uid,
                           revoked_file->gid, revoked_file->mode);
    }
    if (!st.ok()) {
      // Undo what was written, newest first, and the record with it.
      for (std::size_t i = written; i-- > 0;) {
        const Write& w = writes[i];
        (void)files_->replace(w.where, w.before->content, w.before->uid, w.before->gid,
                              w.before->mode);
      }
      (void)state_.set(kKeyRevocationKey, previous);
      return failure(absl::StrFormat("Failed to write the key changes (undone): %s", st.message()));
    }
    out.message =
        absl::StrFormat("revoked %d key(s) in %d file(s)", selected.size(), writes.size());
    if (!report.revoked_keys_enforced()) {
      out.message +=
          absl::StrFormat("; sshd_config does not name %s as RevokedKeys", paths_.revoked_keys);
    }
    out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
    return out;
  }

  ActionOutcome restore(const std::vector<std::string>& args) override {
    if (!args.empty()) return invalidArgument("restore-keys takes no arguments");
    auto stored = loadRevocation();
    if (!stored.ok())
      return failure(
          absl::StrFormat("Failed to read the revocation record: %s", stored.status().message()));
    v1::SshKeyReport report;
    report.set_revoked_keys_file(paths_.revoked_keys);
    ActionOutcome out;
    out.ok = true;
    if (stored->files.empty() && stored->added_fingerprints.empty()) {
      out.message = "no key was revoked by Warden";
      out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
      return out;
    }
    for (const FileRecord& f : stored->files) {
      const OwnedPath where = ownedPath(f.path, f.home, static_cast<uid_t>(f.uid));
      auto current = files_->read(where, kMaxKeyFileBytes);
      std::string content;
      std::string action;
      if (current.ok() && sha256Hex(current->content) == f.written_sha256) {
        content = f.original;  // nobody changed it since: byte for byte
        action = "restored";
      } else if (current.ok() || absl::IsNotFound(current.status())) {
        content = current.ok() ? current->content : "";
        if (!content.empty() && content.back() != '\n') content += '\n';
        for (const std::string& line : f.removed) {
          if (!containsLine(content, line)) content += line + "\n";
        }
        action = current.ok() ? "merged" : "created";
      } else {
        return failure(
            absl::StrFormat("Failed to restore %s: %s", f.path, current.status().message()));
      }
      if (absl::Status st = files_->replace(where, content, static_cast<uid_t>(f.uid),
                                            static_cast<gid_t>(f.gid), static_cast<mode_t>(f.mode));
          !st.ok()) {
        return failure(absl::StrFormat("Failed to restore %s: %s", f.path, st.message()));
      }
      v1::SshKeyFile* file = report.add_files();
      file->set_path(f.path);
      file->set_user(f.user);
      file->set_sha256_before(current.ok() ? sha256Hex(current->content) : "");
      file->set_sha256_after(sha256Hex(content));
      file->set_action(action);
      for (const std::string& line : f.removed) {
        auto parsed = AuthorizedKeysFile::parse(line + "\n", f.path);
        if (!parsed.ok() || parsed->keys().empty()) continue;
        AuthorizedKey k = parsed->keys().front();
        v1::SshKey* key = report.add_keys();
        key->set_user(f.user);
        key->set_file(f.path);
        key->set_type(k.type);
        key->set_fingerprint(k.fingerprint);
        key->set_comment(k.comment);
        key->set_options(k.options);
        key->set_action("restored");
      }
    }
    if (!stored->added_fingerprints.empty() && files_->isDirectory(revokedDir())) {
      auto revoked_file = readRevokedKeys();
      if (!revoked_file.ok()) return failure(std::string(revoked_file.status().message()));
      auto revoked = RevokedKeysFile::parse(revoked_file->content, paths_.revoked_keys);
      if (!revoked.ok()) return failure(std::string(revoked.status().message()));
      const std::set<std::string> added(stored->added_fingerprints.begin(),
                                        stored->added_fingerprints.end());
      if (absl::Status st =
              files_->replace(revokedPath(), revoked->without(added), revoked_file->uid,
                              revoked_file->gid, revoked_file->mode);
          !st.ok()) {
        return failure(
            absl::StrFormat("Failed to update %s: %s", paths_.revoked_keys, st.message()));
      }
    }
    // Last: a crash before this runs restore again, which finds the lines already back.
    if (absl::Status st = state_.set(kKeyRevocationKey, ""); !st.ok()) {
      return failure(
          absl::StrFormat("Keys restored, but the record could not be cleared: %s", st.message()));
    }
    out.message = absl::StrFormat("restored %d key(s) in %d file(s)", report.keys_size(),
                                  report.files_size());
    out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
    return out;
  }

 private:
  static FileRecord* recordFor(Revocation& r, const std::string& path) {
    for (FileRecord& f : r.files) {
      if (f.path == path) return &f;
    }
    return nullptr;
  }

  static std::string lineText(std::string_view content, int line) {
    std::size_t begin = 0;
    for (int i = 1; i < line && begin != std::string_view::npos; ++i) {
      begin = content.find('\n', begin);
      if (begin != std::string_view::npos) ++begin;
    }
    if (begin == std::string_view::npos) return "";
    const std::size_t end = content.find('\n', begin);
    return std::string(content.substr(begin, end == std::string_view::npos ? end : end - begin));
  }

  static bool containsLine(std::string_view content, std::string_view line) {
    std::size_t at = 0;
    while ((at = content.find(line, at)) != std::string_view::npos) {
      const bool starts = at == 0 || content[at - 1] == '\n';
      const std::size_t end = at + line.size();
      if (starts && (end == content.size() || content[end] == '\n')) return true;
      ++at;
    }
    return false;
  }

  static void addKey(v1::SshKeyReport& report, const FoundFile& f, const AuthorizedKey& k,
                     const char* action) {
    v1::SshKey* key = report.add_keys();
    key->set_user(f.user->name);
    key->set_file(f.path);
    key->set_line(static_cast<std::uint32_t>(k.line));
    key->set_type(k.type);
    key->set_fingerprint(k.fingerprint);
    key->set_comment(k.comment);
    key->set_options(k.options);
    key->set_action(action);
  }

  // A path under /etc as this agent sees it (etc_dir stands for /etc in tests).
  std::string etcPath(std::string_view path) const {
    if (path.starts_with("/etc/")) return paths_.etc_dir + std::string(path.substr(4));
    return std::string(path);
  }

  absl::StatusOr<OwnedFile> readEtc(std::string_view name) {
    return files_->read(ownedPath(paths_.etc_dir + "/" + std::string(name), "", 0),
                        kMaxKeyFileBytes);
  }

  OwnedPath revokedPath() const { return ownedPath(paths_.revoked_keys, "", 0); }
  std::string revokedDir() const {
    const std::size_t slash = paths_.revoked_keys.rfind('/');
    return slash == 0 || slash == std::string::npos ? "/" : paths_.revoked_keys.substr(0, slash);
  }

  // Warden's RevokedKeys file: absent reads as empty, to be made root:root 0644.
  absl::StatusOr<OwnedFile> readRevokedKeys() {
    auto file = files_->read(revokedPath(), kMaxKeyFileBytes);
    if (absl::IsNotFound(file.status())) {
      OwnedFile empty;
      empty.mode = 0644;
      return empty;
    }
    return file;
  }

  absl::StatusOr<SshdKeySettings> sshdSettings(v1::SshKeyReport& report) {
    report.set_revoked_keys_file(paths_.revoked_keys);
    auto config = readEtc("ssh/sshd_config");
    if (absl::IsNotFound(config.status())) {
      report.add_warnings("no sshd_config: sshd's default key files were searched");
      return SshdKeySettings{};
    }
    if (!config.ok()) return config.status();
    auto include = [this](std::string_view pattern) -> absl::StatusOr<std::vector<std::string>> {
      std::string p =
          pattern.starts_with("/") ? std::string(pattern) : "/etc/ssh/" + std::string(pattern);
      p = etcPath(p);
      std::vector<std::string> texts;
      for (const std::string& path : files_->glob(p)) {
        auto f = files_->read(ownedPath(path, "", 0), kMaxKeyFileBytes);
        if (!f.ok()) return f.status();
        texts.push_back(std::move(f->content));
      }
      return texts;
    };
    auto settings = parseSshdConfig(config->content, include);
    if (!settings.ok()) return settings.status();
    if (settings->authorized_keys_command) {
      report.add_warnings(
          "sshd_config sets AuthorizedKeysCommand: keys it supplies are refused only through "
          "RevokedKeys");
    }
    if (settings->match_blocks) {
      report.add_warnings(
          "sshd_config has Match blocks: key files they name for some users were not searched");
    }
    report.set_revoked_keys_enforced(etcPath(settings->revoked_keys) == paths_.revoked_keys &&
                                     !settings->revoked_keys.empty());
    return settings;
  }

  absl::StatusOr<Revocation> loadRevocation() {
    auto value = state_.get(kKeyRevocationKey);
    if (absl::IsNotFound(value.status()) || (value.ok() && value->empty())) return Revocation{};
    if (!value.ok()) return value.status();
    return decodeRevocation(*value);
  }

  std::unique_ptr<OwnedFiles> files_;
  StateStore& state_;
  const SshKeyPaths paths_;
};

}  // namespace

OwnedPath ownedPath(std::string_view path, std::string_view home, uid_t owner) {
  OwnedPath p;
  p.owner = owner;
  std::string h(home);
  while (h.size() > 1 && h.back() == '/') h.pop_back();
  const std::string prefix = h == "/" ? "/" : h + "/";
  if (!h.empty() && h[0] == '/' && path.size() > prefix.size() && path.starts_with(prefix)) {
    p.trusted_dir = h;
    p.relative = std::string(path.substr(prefix.size()));
    return p;
  }
  const std::size_t slash = path.rfind('/');
  p.trusted_dir =
      slash == 0 || slash == std::string_view::npos ? "/" : std::string(path.substr(0, slash));
  p.relative =
      slash == std::string_view::npos ? std::string(path) : std::string(path.substr(slash + 1));
  return p;
}

std::unique_ptr<SshKeyActions> makeSshKeyActions(std::unique_ptr<OwnedFiles> files,
                                                 StateStore& state, SshKeyPaths paths) {
  return std::make_unique<SshKeys>(std::move(files), state, std::move(paths));
}

}  // namespace warden
