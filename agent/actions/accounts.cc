// lock-accounts / unlock-accounts: decide on parsed files (shadow_file.h), record what an
// exact unlock needs in the StateStore, then replace /etc/shadow once, atomically.
#include <openssl/crypto.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/actions/account_locks.h"
#include "agent/actions/host_actions.h"
#include "agent/actions/shadow_file.h"
#include "common/crypto/encoding.h"
#include "common/crypto/hash.h"
#include "common/crypto/seal.h"
#include "warden/v1/results.pb.h"

namespace warden {
namespace {

constexpr char kRoot[] = "root";
constexpr std::size_t kRootPasswordLength = 24;
constexpr std::size_t kMaxArgs = 4096;

struct Request {
  std::vector<std::string> users;
  bool all = false;
  std::vector<std::string> except;
  bool rotate_root = false;
  std::string recipient;  // raw X25519 public key
};

ActionOutcome failed(std::string_view what, const absl::Status& status) {
  return failure(absl::StrFormat("%s: %s", what, status.message()));
}

absl::StatusOr<Request> parseRequest(const std::vector<std::string>& args, bool lock) {
  if (args.size() > kMaxArgs) return absl::InvalidArgumentError("too many arguments");
  Request r;
  bool has_recipient = false;
  for (const std::string& arg : args) {
    std::size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrFormat("malformed argument '%s'", arg));
    }
    std::string key = arg.substr(0, eq);
    std::string value = arg.substr(eq + 1);
    if (key == "user" && !value.empty()) {
      r.users.push_back(value);
    } else if (key == "all" && value == "1") {
      r.all = true;
    } else if (lock && key == "except" && !value.empty()) {
      r.except.push_back(value);
    } else if (lock && key == "rotate_root" && value == "1") {
      r.rotate_root = true;
    } else if (lock && key == "recipient") {
      auto raw = crypto::unbase64(value);
      if (!raw.ok() || raw->size() != 32) {
        return absl::InvalidArgumentError("recipient is not a base64 X25519 public key");
      }
      r.recipient = std::move(*raw);
      has_recipient = true;
    } else {
      return absl::InvalidArgumentError(absl::StrFormat("unexpected argument '%s'", arg));
    }
  }
  if (r.all == !r.users.empty()) {
    return absl::InvalidArgumentError("give either user=NAME... or all=1");
  }
  if (!r.except.empty() && !r.all) return absl::InvalidArgumentError("except needs all=1");
  if (r.rotate_root != has_recipient) {
    return absl::InvalidArgumentError("rotate_root=1 and recipient=KEY go together");
  }
  std::sort(r.users.begin(), r.users.end());
  r.users.erase(std::unique(r.users.begin(), r.users.end()), r.users.end());
  return r;
}

std::string digest(const ShadowEntry& e) { return crypto::hex(crypto::sha256(e.line())); }

void addChange(v1::AccountReport& report, const std::string& action, const ShadowEntry& before,
               const ShadowEntry& after) {
  v1::AccountChange* c = report.add_changes();
  c->set_user(before.name());
  c->set_action(action);
  c->set_old_line_sha256(digest(before));
  c->set_new_line_sha256(digest(after));
}

// The files as parsed under the lock.
struct AccountDb {
  std::string shadow_text;
  ShadowFile shadow;
  PasswdFile passwd;
  UidRange uids;
};

class AccountLocker : public AccountActions {
 public:
  AccountLocker(std::unique_ptr<AccountFiles> files, StateStore& state)
      : files_(std::move(files)), state_(state) {}

  ActionOutcome lock(const std::vector<std::string>& args) override {
    auto request = parseRequest(args, /*lock=*/true);
    if (!request.ok()) return invalidArgument(std::string(request.status().message()));
    auto held = files_->lock();
    if (!held.ok()) return failed("Failed to lock the password files", held.status());
    auto db = load();
    if (!db.ok()) return failed("Refusing to edit accounts", db.status());

    std::vector<std::string> targets;
    if (request->all) {
      for (const std::string& name : request->except) {
        if (!db->passwd.find(name))
          return invalidArgument(absl::StrFormat("unknown user '%s'", name));
      }
      for (const std::string& name : loginAccounts(db->passwd, db->uids)) {
        bool excepted = std::find(request->except.begin(), request->except.end(), name) !=
                        request->except.end();
        if (!excepted && db->shadow.find(name)) targets.push_back(name);
      }
    } else {
      for (const std::string& name : request->users) {
        if (absl::Status st = checkUser(*db, name); !st.ok())
          return invalidArgument(std::string(st.message()));
      }
      targets = request->users;
    }

    ShadowFile edited = db->shadow;
    v1::AccountReport report;
    std::map<std::string, LockRecord> records;  // to store before the file is replaced

    if (request->rotate_root) {
      if (absl::Status st = checkUser(*db, kRoot); !st.ok()) {
        return invalidArgument(std::string(st.message()));
      }
      // Hash and seal before anything changes: a failure leaves the host as it was.
      auto password = randomPassword(kRootPasswordLength);
      if (!password.ok()) return failed("Failed to make a root password", password.status());
      auto hash = files_->hashPassword(*password);
      auto sealed = hash.ok() ? crypto::sealToX25519(request->recipient, *password)
                              : absl::StatusOr<std::string>(hash.status());
      OPENSSL_cleanse(password->data(), password->size());
      if (!hash.ok()) return failed("Failed to hash the root password", hash.status());
      if (!sealed.ok()) return failed("Failed to seal the root password", sealed.status());
      report.set_sealed_root_password(*sealed);

      ShadowEntry current = *edited.find(kRoot);
      auto record = loadRecord(kRoot);
      if (!record.ok()) return failed("Failed to read the lock record of root", record.status());
      ShadowEntry rotated;
      if (*record && current == (*record)->locked) {
        // Locked by Warden: stays locked, and the unlock will restore the new password.
        LockRecord updated = **record;
        setPassword(updated.before, *hash);
        updated.locked = lockedEntry(updated.before);
        rotated = updated.locked;
        records[kRoot] = updated;
      } else {
        rotated = current;
        setPassword(rotated, *hash);
      }
      (void)edited.replace(rotated);
      addChange(report, "rotated", current, rotated);
    }

    std::vector<std::string> locked_names;
    for (const std::string& name : targets) {
      ShadowEntry current = *edited.find(name);
      std::optional<LockRecord> record;
      if (auto it = records.find(name); it != records.end()) {
        record = it->second;
      } else {
        auto stored = loadRecord(name);
        if (!stored.ok()) return failed("Failed to read a lock record", stored.status());
        record = *stored;
      }
      ShadowEntry locked = lockedEntry(current);
      if ((record && current == record->locked) || locked == current) {
        addChange(report, "unchanged", current, current);
        continue;
      }
      records[name] = LockRecord{current, locked};
      (void)edited.replace(locked);
      addChange(report, "locked", current, locked);
      locked_names.push_back(name);
    }

    if (absl::Status st = commit(*db, edited, records, {}); !st.ok()) {
      return failed("Failed to write the account changes", st);
    }
    ActionOutcome out;
    out.ok = true;
    out.message = locked_names.empty()
                      ? "no account needed locking"
                      : absl::StrFormat("locked %d account(s): %s", locked_names.size(),
                                        absl::StrJoin(locked_names, ", "));
    if (request->rotate_root) out.message += "; root password rotated";
    out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
    return out;
  }

  ActionOutcome unlock(const std::vector<std::string>& args) override {
    auto request = parseRequest(args, /*lock=*/false);
    if (!request.ok()) return invalidArgument(std::string(request.status().message()));
    auto held = files_->lock();
    if (!held.ok()) return failed("Failed to lock the password files", held.status());
    auto db = load();
    if (!db.ok()) return failed("Refusing to edit accounts", db.status());

    std::vector<std::string> targets;
    if (request->all) {
      for (const PasswdEntry& e : db->passwd.entries()) {
        if (db->shadow.find(e.name)) targets.push_back(e.name);
      }
    } else {
      for (const std::string& name : request->users) {
        if (absl::Status st = checkUser(*db, name); !st.ok())
          return invalidArgument(std::string(st.message()));
      }
      targets = request->users;
    }

    ShadowFile edited = db->shadow;
    v1::AccountReport report;
    std::vector<std::string> cleared;
    std::vector<std::string> unlocked_names;
    for (const std::string& name : targets) {
      auto record = loadRecord(name);
      if (!record.ok()) return failed("Failed to read a lock record", record.status());
      ShadowEntry current = *edited.find(name);
      if (!*record) {
        if (!request->all) addChange(report, "unchanged", current, current);
        continue;
      }
      ShadowEntry restored = unlockedEntry(current, **record);
      cleared.push_back(name);
      if (restored == current) {
        addChange(report, "unchanged", current, current);
        continue;
      }
      (void)edited.replace(restored);
      addChange(report, "unlocked", current, restored);
      unlocked_names.push_back(name);
    }

    if (absl::Status st = commit(*db, edited, {}, cleared); !st.ok()) {
      return failed("Failed to write the account changes", st);
    }
    ActionOutcome out;
    out.ok = true;
    out.message = unlocked_names.empty()
                      ? "no account was locked by Warden"
                      : absl::StrFormat("unlocked %d account(s): %s", unlocked_names.size(),
                                        absl::StrJoin(unlocked_names, ", "));
    out.details[kResultDetail] = crypto::base64(report.SerializeAsString());
    return out;
  }

 private:
  static void setPassword(ShadowEntry& e, const std::string& hash) {
    e.fields[ShadowEntry::kPassword] = hash;
    e.fields[ShadowEntry::kLastChange] = std::to_string(daysSinceEpoch());
  }

  absl::Status checkUser(const AccountDb& db, const std::string& name) const {
    if (!db.passwd.find(name)) {
      return absl::InvalidArgumentError(absl::StrFormat("unknown user '%s'", name));
    }
    if (!db.shadow.find(name)) {
      return absl::InvalidArgumentError(absl::StrFormat("user '%s' has no entry in %s", name,
                                                        files_->path(AccountFile::kShadow)));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<AccountDb> load() {
    AccountDb db;
    auto passwd_text = files_->read(AccountFile::kPasswd);
    if (!passwd_text.ok()) return passwd_text.status();
    auto passwd = PasswdFile::parse(*passwd_text, files_->path(AccountFile::kPasswd));
    if (!passwd.ok()) return passwd.status();
    db.passwd = std::move(*passwd);
    auto shadow_text = files_->read(AccountFile::kShadow);
    if (!shadow_text.ok()) return shadow_text.status();
    auto shadow = ShadowFile::parse(*shadow_text, files_->path(AccountFile::kShadow));
    if (!shadow.ok()) return shadow.status();
    db.shadow_text = std::move(*shadow_text);
    db.shadow = std::move(*shadow);
    auto defs = files_->read(AccountFile::kLoginDefs);
    if (defs.ok()) {
      db.uids = parseLoginDefs(*defs);
    } else if (!absl::IsNotFound(defs.status())) {
      return defs.status();
    }
    return db;
  }

  // An empty value is a cleared record (StateStore has no delete).
  absl::StatusOr<std::optional<LockRecord>> loadRecord(const std::string& user) {
    auto value = state_.get(accountLockKey(user));
    if (absl::IsNotFound(value.status()) || (value.ok() && value->empty())) {
      return std::optional<LockRecord>();
    }
    if (!value.ok()) return value.status();
    auto record = decodeLockRecord(*value);
    if (!record.ok()) return record.status();
    if (record->before.name() != user) return absl::DataLossError("lock record names another user");
    return std::optional<LockRecord>(std::move(*record));
  }

  // Lock: records first, then the file, so a crash in between leaves records whose "locked"
  // line is not in the file, which unlock treats as a no-op. Unlock: the file first, then the
  // records are cleared, so a crash in between leaves a record whose restore is a no-op.
  absl::Status commit(const AccountDb& db, const ShadowFile& edited,
                      const std::map<std::string, LockRecord>& records,
                      const std::vector<std::string>& cleared) {
    std::map<std::string, std::string> previous;
    for (const auto& [user, record] : records) {
      previous[user] = state_.getOr(accountLockKey(user), "");
      absl::Status st = state_.set(accountLockKey(user), encodeLockRecord(record));
      if (!st.ok()) {
        restoreRecords(previous);
        return st;
      }
    }
    std::string content = edited.serialize();
    if (content != db.shadow_text) {
      absl::Status st = files_->replace(AccountFile::kShadow, content);
      if (!st.ok()) {
        restoreRecords(previous);
        return st;
      }
    }
    for (const std::string& user : cleared) {
      absl::Status st = state_.set(accountLockKey(user), "");
      if (!st.ok()) return st;
    }
    return absl::OkStatus();
  }

  void restoreRecords(const std::map<std::string, std::string>& previous) {
    for (const auto& [user, value] : previous) (void)state_.set(accountLockKey(user), value);
  }

  std::unique_ptr<AccountFiles> files_;
  StateStore& state_;
};

}  // namespace

std::string accountLockKey(const std::string& user) { return "account_lock/" + user; }

std::unique_ptr<AccountActions> makeAccountActions(std::unique_ptr<AccountFiles> files,
                                                   StateStore& state) {
  return std::make_unique<AccountLocker>(std::move(files), state);
}

}  // namespace warden
