#include "common/sqlite.h"

#include <sqlite3.h>

#include "absl/strings/str_format.h"

namespace warden {

Statement::Statement(Statement&& o) noexcept
    : db_(o.db_),
      stmt_(o.stmt_),
      owner_(o.owner_),
      sql_(std::move(o.sql_)),
      bind_error_(std::move(o.bind_error_)) {
  o.stmt_ = nullptr;
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  if (owner_ == nullptr) {
    sqlite3_finalize(stmt_);
    return;
  }
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  owner_->keep(std::move(sql_), stmt_);
}

Statement& Statement::bind(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    bind_error_ = absl::InternalError(absl::StrFormat("sqlite bind: %s", sqlite3_errmsg(db_)));
  }
  return *this;
}

Statement& Statement::bindBlob(int index, std::string_view blob) {
  if (sqlite3_bind_blob(stmt_, index, blob.data(), static_cast<int>(blob.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK) {
    bind_error_ = absl::InternalError(absl::StrFormat("sqlite bind: %s", sqlite3_errmsg(db_)));
  }
  return *this;
}

Statement& Statement::bind(int index, std::int64_t v) {
  if (sqlite3_bind_int64(stmt_, index, v) != SQLITE_OK) {
    bind_error_ = absl::InternalError(absl::StrFormat("sqlite bind: %s", sqlite3_errmsg(db_)));
  }
  return *this;
}

Statement& Statement::bindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

absl::StatusOr<bool> Statement::step() {
  if (!bind_error_.ok()) return bind_error_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return absl::InternalError(absl::StrFormat("sqlite: %s", sqlite3_errmsg(db_)));
}

absl::Status Statement::run() {
  for (int i = 0; i < 1'000'000; ++i) {
    auto more = step();
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
  }
  return absl::InternalError("sqlite: statement returned too many rows");
}

std::string Statement::text(int col) const {
  const void* p = sqlite3_column_blob(stmt_, col);
  const int n = sqlite3_column_bytes(stmt_, col);
  if (p == nullptr || n <= 0) return {};
  return std::string(static_cast<const char*>(p), n);
}

std::int64_t Statement::integer(int col) const { return sqlite3_column_int64(stmt_, col); }

bool Statement::isNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

absl::StatusOr<std::unique_ptr<Database>> Database::open(const std::string& path, Sync sync) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    if (db != nullptr) sqlite3_close(db);
    return absl::UnavailableError(absl::StrFormat("Failed to open %s: %s", path, msg));
  }
  std::unique_ptr<Database> out(new Database(db));
  sqlite3_busy_timeout(db, 5000);
  if (auto s = out->exec(sync == Sync::kFull ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                               "PRAGMA foreign_keys=ON;"
                                             : "PRAGMA journal_mode=WAL; PRAGMA "
                                               "synchronous=NORMAL; PRAGMA foreign_keys=ON;");
      !s.ok()) {
    return s;
  }
  return out;
}

Database::~Database() {
  for (auto& [sql, stmt] : kept_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

void Database::keep(std::string sql, sqlite3_stmt* stmt) {
  {
    std::lock_guard<std::mutex> lock(kept_mu_);
    if (kept_.size() < kMaxKeptStatements && kept_.emplace(std::move(sql), stmt).second) return;
  }
  sqlite3_finalize(stmt);  // one of the same text is kept already, or enough are
}

absl::Status Database::exec(std::string_view sql) {
  char* err = nullptr;
  const std::string s(sql);
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    return absl::InternalError(absl::StrFormat("sqlite: %s", msg));
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> Database::prepare(std::string_view sql) {
  std::string text(sql);
  {
    std::lock_guard<std::mutex> lock(kept_mu_);
    if (auto it = kept_.find(text); it != kept_.end()) {
      sqlite3_stmt* kept = it->second;
      kept_.erase(it);
      return Statement(db_, kept, this, std::move(text));
    }
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return absl::InternalError(
        absl::StrFormat("sqlite prepare '%s': %s", sql, sqlite3_errmsg(db_)));
  }
  return Statement(db_, stmt, this, std::move(text));
}

std::int64_t Database::changes() const { return sqlite3_changes(db_); }

}  // namespace warden
